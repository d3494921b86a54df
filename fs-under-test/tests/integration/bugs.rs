//! Per bug variant: the mechanism is observable. Crash-observable variants
//! are found by the small crash check of `common` on a workload shaped for
//! them; the deadlock variants are reported by the lock tracker; the
//! runtime ones are checked at the point they go wrong.

use crate::common::*;
use fs_under_test::*;

fn mount_with(bug: Bug) -> MountOptions {
    MountOptions {
        bugs: BugSet::NONE.with(bug),
        ..Default::default()
    }
}

/// Runs `workload` with `bug` on (and off) and returns the crash violations.
fn violations(
    bug: Option<Bug>,
    seed: Option<u64>,
    workload: impl Fn(&mut Script) -> Result<(), FsError>,
) -> Vec<String> {
    let mount = bug.map(mount_with).unwrap_or_default();
    let mut s = Script::new(&MkfsOptions::default(), &mount, seed);
    workload(&mut s).unwrap();
    s.check(&MountOptions::default())
}

fn assert_found(bug: Bug, workload: impl Fn(&mut Script) -> Result<(), FsError> + Copy) {
    for seed in [None, Some(1), Some(2)] {
        let v = violations(None, seed, workload);
        assert!(
            v.is_empty(),
            "{bug}: the correct filesystem fails this workload: {:?}",
            &v[..v.len().min(3)]
        );
    }
    let found = (0..8).any(|seed| {
        !violations(
            Some(bug),
            if seed == 0 { None } else { Some(seed) },
            workload,
        )
        .is_empty()
    });
    assert!(found, "{bug}: not observable");
}

fn mixed_bug(bug: Bug) {
    assert_found(bug, common_mixed);
}

#[test]
fn size_after_sync() {
    mixed_bug(Bug::SizeAfterSync);
    // The shape: an O_DSYNC DIO append.
    assert_found(Bug::SizeAfterSync, |s| {
        s.create(0);
        s.dio(0, 0, 8192, true, false)?;
        Ok(())
    });
}

#[test]
fn fsync_no_flush() {
    mixed_bug(Bug::FsyncNoFlush);
}

#[test]
fn fdatasync_skips_size() {
    assert_found(Bug::FdatasyncSkipsSize, |s| {
        s.create(0);
        s.write(0, 0, 100, false)?;
        s.fsync(0, false)?;
        s.write(0, 100, 100, false)?;
        s.fsync(0, true)?;
        Ok(())
    });
}

#[test]
fn commit_before_data() {
    mixed_bug(Bug::CommitBeforeData);
}

#[test]
fn commit_no_preflush() {
    mixed_bug(Bug::CommitNoPreflush);
}

#[test]
fn checkpoint_no_flush() {
    mixed_bug(Bug::CheckpointNoFlush);
}

#[test]
fn dsync_no_flush() {
    mixed_bug(Bug::DsyncNoFlush);
    // Mechanism: no flush, FUA or preflush between the data write and the
    // acknowledgement of an O_DSYNC overwrite.
    let mount = mount_with(Bug::DsyncNoFlush);
    let mut s = Script::new(&MkfsOptions::default(), &mount, None);
    s.create(0);
    s.write(0, 0, 4096, false).unwrap();
    s.fsync(0, false).unwrap();
    let start = s.pos();
    s.write(0, 0, 4096, true).unwrap();
    let dev = s.fs.crash();
    let syncs = dev.log[start..]
        .iter()
        .filter(|e| match e {
            Entry::Flush { .. } => true,
            Entry::Write { fua, preflush, .. } => *fua || *preflush,
        })
        .count();
    assert_eq!(syncs, 0);
}

#[test]
fn dio_end_before_sync() {
    mixed_bug(Bug::DioEndBeforeSync);
    // Mechanism: dio_wait returns while the O_DSYNC sync is still queued.
    for (bugs, expect_done) in [
        (BugSet::NONE, true),
        (BugSet::NONE.with(Bug::DioEndBeforeSync), false),
    ] {
        let mount = MountOptions {
            bugs,
            ..Default::default()
        };
        let mut s = Script::new(&MkfsOptions::default(), &mount, None);
        s.create(0);
        let h = s.fs.dio_write(0, 0, &[0x11; 8192], true, true).unwrap();
        s.fs.dio_wait(0).unwrap();
        assert_eq!(s.fs.dio_done(h), expect_done);
    }
}

#[test]
fn fua_on_unwritten() {
    assert_found(Bug::FuaOnUnwritten, |s| {
        s.create(0);
        s.write(0, 12288, 4096, false)?;
        s.fsync(0, false)?;
        s.dio(0, 0, 4096, true, false)?;
        Ok(())
    });
}

#[test]
fn fua_on_extending() {
    assert_found(Bug::FuaOnExtending, |s| {
        s.create(0);
        s.write(0, 0, 1000, false)?;
        s.fsync(0, false)?;
        s.dio(0, 0, 4096, true, false)?;
        Ok(())
    });
}

#[test]
fn convert_before_io() {
    assert_found(Bug::ConvertBeforeIo, |s| {
        s.create(0);
        s.create(1);
        s.write(1, 0, 16384, false)?;
        s.fsync(1, false)?;
        s.truncate(1, 0)?;
        s.truncate(0, 16384)?;
        s.fsync(0, false)?;
        s.dio(0, 0, 16384, false, true)?;
        s.syncfs()?;
        Ok(())
    });
}

#[test]
fn truncate_no_dio_wait() {
    assert_found(Bug::TruncateNoDioWait, |s| {
        s.create(0);
        s.create(1);
        s.dio(0, 0, 131072, false, true)?;
        s.truncate(0, 0)?;
        s.write(1, 0, 131072, false)?;
        s.fsync(1, false)?;
        Ok(())
    });
}

#[test]
fn truncate_tail_not_zeroed() {
    assert_found(Bug::TruncateTailNotZeroed, |s| {
        s.create(0);
        s.write(0, 0, 4096, false)?;
        s.fsync(0, false)?;
        s.truncate(0, 100)?;
        s.truncate(0, 4096)?;
        s.fsync(0, false)?;
        Ok(())
    });
}

/// Both deadlock variants are reported by the lock tracker; the correct
/// filesystem runs the same workloads without error.
#[test]
fn deadlock_variants_are_reported() {
    let sync_dio = |fs: &mut Filesystem<MemDevice>| -> Result<(), FsError> {
        fs.create(0)?;
        fs.dio_write(0, 0, &[0x11; 4096], true, false)?;
        Ok(())
    };
    let aio_truncate = |fs: &mut Filesystem<MemDevice>| -> Result<(), FsError> {
        fs.create(0)?;
        fs.dio_write(0, 0, &[0x11; 8192], true, true)?;
        fs.truncate(0, 4096)?;
        Ok(())
    };
    type Workload = fn(&mut Filesystem<MemDevice>) -> Result<(), FsError>;
    let cases: [(Bug, Workload, DeadlockKind); 2] = [
        (
            Bug::SyncDioCompleteUnderIlock,
            sync_dio,
            DeadlockKind::Recursion,
        ),
        (Bug::DsyncFsyncTakesIlock, aio_truncate, DeadlockKind::Cycle),
    ];
    for (bug, workload, kind) in cases {
        for barrier in [Barrier::Stable, Barrier::Complete] {
            let mut dev = MemDevice::new(DEV_BYTES);
            mkfs(&mut dev, &MkfsOptions::default()).unwrap();
            let mut fs = Filesystem::mount(
                dev.clone(),
                MountOptions {
                    barrier,
                    ..Default::default()
                },
            )
            .unwrap();
            workload(&mut fs).unwrap();
            fs.unmount().unwrap();
            let mount = MountOptions {
                barrier,
                bugs: BugSet::NONE.with(bug),
                ..Default::default()
            };
            let mut fs = Filesystem::mount(dev, mount).unwrap();
            match workload(&mut fs) {
                Err(FsError::Deadlock(r)) if r.kind == kind => {
                    assert!(r.requester_location.contains(".rs:"));
                    assert!(r.holder_location.is_some());
                }
                // With barrier=complete the AIO sync runs after
                // inode_dio_end: no cycle, only the lock order remains.
                Ok(()) if barrier == Barrier::Complete && kind == DeadlockKind::Cycle => {}
                other => panic!("{bug} ({barrier}): expected {kind:?}, got {other:?}"),
            }
        }
    }
}

fn common_mixed(s: &mut Script) -> Result<(), FsError> {
    for ino in 0..4 {
        s.create(ino);
    }
    s.write(0, 0, 5000, false)?;
    s.fsync(0, false)?;
    s.write(1, 100, 300, true)?;
    s.dio(0, 8192, 8192, true, false)?;
    s.dio(1, 4096, 8192, true, true)?;
    s.write(0, 20000, 100, false)?;
    s.dio_wait(1)?;
    s.truncate(0, 6000)?;
    s.write(2, 0, 9000, false)?;
    s.write(0, 7000, 100, false)?;
    s.fsync(0, true)?;
    s.syncfs()?;
    for i in 0..10u64 {
        let ino = (i % 4) as u32;
        s.write(ino, 10000 + i * 1000, 700, i % 3 == 0)?;
        if i % 2 == 0 {
            s.fsync(ino, i % 4 == 0)?;
        }
    }
    Ok(())
}
