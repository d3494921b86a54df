//! Robustness and API edges: mount on random bytes, bit-flipped and
//! truncated images never panics and never loops; misaligned direct I/O is
//! EINVAL; truncate waits for in-flight AIO; mkfs over the supported device
//! sizes; mount stays fast; the step budget bounds mount.

use crate::common::*;
use fs_under_test::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mounts `img`; if that succeeds, reads every file and does a few
/// operations. Only errors are allowed, never a panic.
fn poke(img: Vec<u8>) -> bool {
    let Ok(mut fs) = Filesystem::mount(MemDevice::from_image(img), MountOptions::default()) else {
        return false;
    };
    for ino in 0..fs.inode_count() {
        if fs.exists(ino) {
            let size = fs.size(ino).unwrap();
            let _ = fs.read(ino, 0, size);
            let _ = fs.write(ino, 0, b"poke", true);
            let _ = fs.dio_write(ino, 4096, &[1; 4096], true, true);
            let _ = fs.truncate(ino, 10);
        }
    }
    let _ = fs.syncfs();
    let _ = fs.unmount();
    true
}

/// A valid image with a journal that still holds transactions.
fn busy_image() -> Vec<u8> {
    let mount = MountOptions::default();
    let mut s = Script::new(&MkfsOptions::default(), &mount, None);
    crate_workload(&mut s);
    let dev = s.fs.crash();
    let mut img = dev.base.clone();
    for e in &dev.log {
        if let Entry::Write { sector, data, .. } = e {
            let at = *sector as usize * SECTOR_SIZE;
            img[at..at + data.len()].copy_from_slice(data);
        }
    }
    img
}

fn crate_workload(s: &mut Script) {
    for ino in 0..3 {
        s.create(ino);
        s.write(ino, 0, 6000, false).unwrap();
        s.fsync(ino, false).unwrap();
        s.dio(ino, 8192, 8192, true, false).unwrap();
    }
    s.truncate(1, 100).unwrap();
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..200 {
        let mut img = vec![0u8; 256 * 1024];
        rng.fill(&mut img[..]);
        assert!(!poke(img), "random bytes mounted");
    }
}

#[test]
fn bit_flips_never_panic() {
    let base = busy_image();
    assert!(poke(base.clone()), "the unflipped image must mount");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // Flip bits in the metadata and journal area, where they matter.
    let meta_end = 64 * BLOCK_SIZE;
    for _ in 0..400 {
        let mut img = base.clone();
        for _ in 0..rng.gen_range(1..8) {
            let at = rng.gen_range(0..meta_end);
            img[at] ^= 1 << rng.gen_range(0..8);
        }
        poke(img);
    }
}

#[test]
fn garbage_blocks_in_journal_and_tables_never_panic() {
    let base = busy_image();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for block in 0..32usize {
        let mut img = base.clone();
        rng.fill(&mut img[block * BLOCK_SIZE..(block + 1) * BLOCK_SIZE]);
        poke(img);
        let mut img = base.clone();
        img[block * BLOCK_SIZE..(block + 1) * BLOCK_SIZE].fill(0xff);
        poke(img);
    }
}

#[test]
fn truncated_devices_never_panic() {
    let base = busy_image();
    for len in [0, 512, 4096, 3 * 4096, 40 * 4096, 200 * 4096] {
        poke(base[..len].to_vec());
    }
}

#[test]
fn tiny_step_budget_is_an_error() {
    let base = busy_image();
    let opts = MountOptions {
        step_budget: 3,
        ..Default::default()
    };
    match Filesystem::mount(MemDevice::from_image(base), opts) {
        Err(FsError::StepBudget { .. }) => {}
        other => panic!("expected StepBudget, got {:?}", other.err()),
    }
}

#[test]
fn misaligned_dio_is_einval() {
    let mut dev = MemDevice::new(DEV_BYTES);
    mkfs(&mut dev, &MkfsOptions::default()).unwrap();
    let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    fs.create(0).unwrap();
    for (off, len) in [(1u64, 4096usize), (4096, 100), (512, 4096), (0, 4095)] {
        match fs.dio_write(0, off, &vec![1; len], false, false) {
            Err(FsError::Invalid(_)) => {}
            other => panic!("({off}, {len}): expected EINVAL, got {other:?}"),
        }
    }
    assert!(matches!(
        fs.write(7, 0, b"x", false),
        Err(FsError::NotFound(7))
    ));
    assert!(matches!(fs.create(99), Err(FsError::NotFound(99))));
    assert!(matches!(
        fs.write(0, MAX_FILE_SIZE - 1, b"xy", false),
        Err(FsError::FileTooBig { .. })
    ));
    // Nothing was left locked or counted by the failures.
    fs.write(0, 0, b"ok", true).unwrap();
    fs.dio_wait(0).unwrap();
    fs.unmount().unwrap();
}

#[test]
fn truncate_waits_for_in_flight_aio() {
    let mut dev = MemDevice::new(DEV_BYTES);
    mkfs(&mut dev, &MkfsOptions::default()).unwrap();
    for barrier in [Barrier::Stable, Barrier::Complete] {
        let mut fs = Filesystem::mount(
            dev.clone(),
            MountOptions {
                barrier,
                ..Default::default()
            },
        )
        .unwrap();
        fs.create(0).unwrap();
        let h = fs.dio_write(0, 0, &[5; 16384], true, true).unwrap();
        assert!(fs.device().in_flight() > 0);
        fs.truncate(0, 4096).unwrap();
        // inode_dio_wait ran the completion: I/O finished, size updated
        // before the truncate applied.
        assert!(fs.dio_done(h) || barrier == Barrier::Complete);
        assert_eq!(fs.size(0).unwrap(), 4096);
        assert_eq!(fs.read(0, 0, 4096).unwrap(), vec![5; 4096]);
        fs.dio_wait(0).unwrap();
        let _ = fs.poll().unwrap();
        assert!(fs.dio_done(h));
    }
}

#[test]
fn mkfs_supported_sizes() {
    for bytes in [1usize << 20, 2 << 20, 4 << 20, 64 << 20, 256 << 20] {
        let mut dev = MemDevice::new(bytes);
        mkfs(&mut dev, &MkfsOptions::default()).unwrap();
        let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
        fs.create(0).unwrap();
        fs.write(0, 0, &[1; 9000], true).unwrap();
        let dev = fs.unmount().unwrap();
        let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
        assert_eq!(fs.read(0, 0, 9000).unwrap(), vec![1; 9000]);
    }
    let mut small = MemDevice::new(64 * 1024);
    assert!(matches!(
        mkfs(&mut small, &MkfsOptions::default()),
        Err(FsError::Invalid(_))
    ));
    let mut dev = MemDevice::new(DEV_BYTES);
    let opts = MkfsOptions {
        journal_blocks: 2,
        ..Default::default()
    };
    assert!(matches!(mkfs(&mut dev, &opts), Err(FsError::Invalid(_))));
    let opts = MkfsOptions {
        inodes: 100,
        journal_blocks: 64,
        ..Default::default()
    };
    mkfs(&mut dev, &opts).unwrap();
    let fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    assert_eq!(fs.inode_count(), 100);
}

#[test]
fn mount_and_read_all_is_fast() {
    let img = busy_image();
    let rounds = 200;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let mut fs =
            Filesystem::mount(MemDevice::from_image(img.clone()), MountOptions::default()).unwrap();
        for ino in 0..fs.inode_count() {
            if fs.exists(ino) {
                let size = fs.size(ino).unwrap();
                fs.read(ino, 0, size).unwrap();
            }
        }
    }
    let per = start.elapsed() / rounds;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(MemDevice::from_image(img.clone()));
    }
    let clone = start.elapsed() / rounds;
    eprintln!("mount + read-all: {per:?}, of which the image clone {clone:?}");
    assert!(per < std::time::Duration::from_millis(5));
}

#[test]
fn barrier_names_round_trip() {
    for b in [Barrier::Complete, Barrier::Stable] {
        assert_eq!(b.to_string().parse::<Barrier>().unwrap(), b);
    }
    assert!("sometimes".parse::<Barrier>().is_err());
    assert_eq!(Barrier::default(), Barrier::Stable);
}

/// Mount checks the allocation bitmap against the block maps, bit for
/// bit, and names the first block where they disagree.
#[test]
fn a_bitmap_that_disagrees_with_the_block_maps_is_corrupt() {
    let mut dev = MemDevice::new(DEV_BYTES);
    mkfs(&mut dev, &MkfsOptions::default()).unwrap();
    let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    fs.create(0).unwrap();
    fs.write(0, 0, &[7; 3 * BLOCK_SIZE], true).unwrap();
    let geo = fs.geometry();
    let clean = fs.unmount().unwrap().image().to_vec();
    let bitmap_at = geo.bitmap_start as usize * BLOCK_SIZE;
    let is_set = |i: u64| clean[bitmap_at + (i / 8) as usize] & (1 << (i % 8)) != 0;
    let flipped = |i: u64| {
        let mut img = clean.clone();
        img[bitmap_at + (i / 8) as usize] ^= 1 << (i % 8);
        Filesystem::mount(MemDevice::from_image(img), MountOptions::default())
            .err()
            .map(|e| match e {
                FsError::Corrupt { what, block } => (what, block),
                other => panic!("block {i}: {other}"),
            })
    };
    let used = (0..geo.data_blocks)
        .filter(|&i| is_set(i))
        .collect::<Vec<_>>();
    assert_eq!(used.len(), 3, "the file's three blocks");
    let free = (0..geo.data_blocks).find(|&i| !is_set(i)).unwrap();
    for i in [used[0], used[2]] {
        assert_eq!(
            flipped(i),
            Some((
                format!("bitmap says data block {i} is free but it is referenced"),
                Some(geo.bitmap_start)
            ))
        );
    }
    assert_eq!(
        flipped(free),
        Some((
            format!("bitmap says data block {free} is used but it is unreferenced"),
            Some(geo.bitmap_start)
        ))
    );
    let past = geo.data_blocks;
    assert!(past < geo.bitmap_blocks * BLOCK_SIZE as u64 * 8);
    assert_eq!(
        flipped(past),
        Some((
            "bitmap bits set past the data area".to_string(),
            Some(geo.bitmap_block(past))
        ))
    );
}

#[test]
fn torn_journal_superblock_falls_back_to_the_other_slot() {
    let mut dev = MemDevice::new(DEV_BYTES);
    mkfs(&mut dev, &MkfsOptions::default()).unwrap();
    let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
    fs.create(0).unwrap();
    for i in 0..12u64 {
        fs.write(0, i * 5000, &[i as u8 + 1; 3000], true).unwrap();
    }
    let dev = fs.unmount().unwrap();
    for slot in [1usize, 2] {
        let mut img = dev.image().to_vec();
        // Tear the slot: its second half never made it.
        img[slot * BLOCK_SIZE + 16..(slot + 1) * BLOCK_SIZE].fill(0xa5);
        let mut fs =
            Filesystem::mount(MemDevice::from_image(img), MountOptions::default()).unwrap();
        for i in 0..12u64 {
            assert_eq!(fs.read(0, i * 5000, 3000).unwrap(), vec![i as u8 + 1; 3000]);
        }
    }
}

#[test]
#[ignore = "timing breakdown, run by hand"]
fn mount_breakdown() {
    let img = busy_image();
    let rounds = 500u32;
    let devs: Vec<MemDevice> = (0..rounds)
        .map(|_| MemDevice::from_image(img.clone()))
        .collect();
    let start = std::time::Instant::now();
    let mut fss = Vec::new();
    for d in devs {
        fss.push(Filesystem::mount(d, MountOptions::default()).unwrap());
    }
    let mount = start.elapsed() / rounds;
    let start = std::time::Instant::now();
    for fs in &mut fss {
        for ino in 0..fs.inode_count() {
            if fs.exists(ino) {
                let size = fs.size(ino).unwrap();
                fs.read(ino, 0, size).unwrap();
            }
        }
    }
    let read = start.elapsed() / rounds;
    let h = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(blake3::hash(&img[..12288]));
    }
    eprintln!(
        "mount {mount:?} read-all {read:?} blake3(12K) {:?}",
        h.elapsed() / rounds
    );
}

/// Mounts `img`: either a clear error (corrupt image, step budget), or a
/// filesystem whose every file can be sized and read, and which takes a
/// few more operations and a clean unmount without panicking.
fn mount_consistent_or_error(img: Vec<u8>) -> Result<(), FsError> {
    let mut fs = Filesystem::mount(MemDevice::from_image(img), MountOptions::default())?;
    for ino in 0..fs.inode_count() {
        if fs.exists(ino) {
            let size = fs
                .size(ino)
                .unwrap_or_else(|e| panic!("mounted, but inode {ino} has no size: {e}"));
            fs.read(ino, 0, size)
                .unwrap_or_else(|e| panic!("mounted, but inode {ino} is unreadable: {e}"));
        }
    }
    let _ = fs.write(0, 0, b"poke", true);
    let _ = fs.truncate(0, 10);
    let _ = fs.unmount();
    Ok(())
}

/// Every byte of every metadata block (superblock, both journal
/// superblocks, the bitmap, the inode table, and the journal's blocks) of
/// a small image with a live journal, flipped in turn: a consistent mount
/// or a clear error.
#[test]
fn every_metadata_byte_flipped() {
    let base = busy_image();
    let geo = {
        let fs = Filesystem::mount(MemDevice::from_image(base.clone()), MountOptions::default())
            .unwrap();
        fs.geometry()
    };
    let mut blocks = vec![layout::SB_BLOCK, layout::JSB_SLOTS[0], layout::JSB_SLOTS[1]];
    blocks.extend(geo.bitmap_start..geo.bitmap_start + geo.bitmap_blocks);
    blocks.extend(geo.itable_start..geo.itable_start + geo.itable_blocks);
    // And the journal itself: descriptors, logged blocks, commit records.
    blocks.extend(layout::JOURNAL_START..layout::JOURNAL_START + geo.journal_blocks);
    let (mut mounted, mut rejected) = (0u64, 0u64);
    for &block in &blocks {
        let start = block as usize * BLOCK_SIZE;
        for at in start..start + BLOCK_SIZE {
            let mut img = base.clone();
            img[at] ^= 0xff;
            match mount_consistent_or_error(img) {
                Ok(()) => mounted += 1,
                Err(e @ (FsError::Corrupt { .. } | FsError::StepBudget { .. })) => {
                    assert!(!e.to_string().is_empty());
                    rejected += 1;
                }
                Err(e) => panic!("byte {at} (block {block}): unexpected error kind: {e}"),
            }
        }
    }
    eprintln!(
        "metadata byte flips over blocks {blocks:?}: {} cases, {mounted} mounted consistently, {rejected} rejected",
        mounted + rejected
    );
}
