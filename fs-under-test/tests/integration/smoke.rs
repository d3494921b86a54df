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
