//! Smoke test: mkfs, mount, every operation once, clean unmount, remount.

use fs_under_test::*;

#[test]
fn basic_round_trip() {
    let mut dev = MemDevice::new(2 << 20);
    mkfs(&mut dev, &MkfsOptions::default()).unwrap();
    let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    fs.create(0).unwrap();
    fs.create(1).unwrap();
    fs.write(0, 100, b"hello", false).unwrap();
    fs.write(1, 5000, &[7u8; 300], true).unwrap();
    let h = fs.dio_write(0, 8192, &[9u8; 8192], true, true).unwrap();
    assert!(!fs.dio_done(h));
    fs.dio_wait(0).unwrap();
    assert!(fs.dio_done(h));
    fs.dio_write(1, 0, &[3u8; 4096], true, false).unwrap();
    fs.fsync(0).unwrap();
    fs.truncate(0, 8200).unwrap();
    assert_eq!(fs.read(0, 100, 5).unwrap(), b"hello");
    assert_eq!(fs.size(0).unwrap(), 8200);
    let dev = fs.unmount().unwrap();
    let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    assert_eq!(fs.size(0).unwrap(), 8200);
    assert_eq!(fs.read(0, 100, 5).unwrap(), b"hello");
    assert_eq!(fs.read(0, 8192, 8).unwrap(), vec![9u8; 8]);
    assert_eq!(fs.read(1, 0, 4096).unwrap(), vec![3u8; 4096]);
    assert_eq!(fs.read(1, 5000, 300).unwrap(), vec![7u8; 300]);
    assert_eq!(fs.size(1).unwrap(), 5300);
}

/// `data_ranges` names every block that may hold data, in the page cache
/// or on disk; whatever it leaves out reads as zeroes.
#[test]
fn data_ranges_leave_out_only_holes() {
    let mut dev = MemDevice::new(2 << 20);
    mkfs(&mut dev, &MkfsOptions::default()).unwrap();
    let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    fs.create(0).unwrap();
    fs.write(0, 100, b"hello", false).unwrap();
    fs.write(0, 40_000, &[7u8; 300], false).unwrap();
    fs.fsync(0).unwrap();
    fs.write(0, 20_000, &[5u8; 10], false).unwrap(); // in the page cache only
    fs.truncate(0, 40_100).unwrap();
    let size = fs.size(0).unwrap();
    let ranges = fs.data_ranges(0).unwrap();
    assert_eq!(ranges, vec![(0, 4096), (16_384, 20_480), (36_864, 40_100)]);
    let all = fs.read(0, 0, size).unwrap();
    let mut at = 0;
    for (start, end) in ranges.iter().copied().chain([(size, size)]) {
        assert!(all[at as usize..start as usize].iter().all(|&b| b == 0));
        at = end;
    }
    // After a remount, from the block map alone.
    let dev = fs.unmount().unwrap();
    let fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    assert_eq!(fs.data_ranges(0).unwrap(), ranges);
}

/// A full device refuses the write that needs one block more than it has,
/// with `NoSpace`, and serves again once a truncate has freed blocks.
#[test]
fn space_runs_out_at_the_last_free_block() {
    let mut dev = MemDevice::new(259 * 4096);
    mkfs(&mut dev, &MkfsOptions::default()).unwrap();
    let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    let data_blocks = fs.geometry().data_blocks;
    // Not a whole number of bitmap bytes: the count's tail is exercised.
    assert_ne!(data_blocks % 8, 0, "{data_blocks} data blocks");
    fs.create(0).unwrap();
    fs.create(1).unwrap();
    let block = [5u8; 4096];
    let mut placed = 0u64;
    loop {
        match fs.dio_write(0, placed * 4096, &block, false, false) {
            Ok(_) => placed += 1,
            Err(FsError::NoSpace) => break,
            Err(e) => panic!("block {placed}: {e}"),
        }
        assert!(
            placed <= data_blocks,
            "more blocks placed than the device has"
        );
    }
    assert_eq!(placed, data_blocks, "every data block, then NoSpace");
    assert!(matches!(
        fs.write(1, 0, &block, false),
        Err(FsError::NoSpace)
    ));
    fs.dio_wait(0).unwrap();
    fs.truncate(0, 4096).unwrap();
    fs.fsync(0).unwrap();
    fs.write(1, 0, &block, false).unwrap();
    fs.fsync(1).unwrap();
}
