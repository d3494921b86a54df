//! Per bug variant: the mechanism is observable. Crash-observable variants
//! are found by the small crash check of `common` on a workload shaped for
//! them; the deadlock variants are reported by the lock tracker; the
//! runtime ones are checked at the point they go wrong.

mod common;

use common::*;
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
    assert!(
        violations(None, None, workload).is_empty(),
        "{bug}: the correct filesystem fails this workload"
    );
    let found = (0..4).any(|seed| {
        !violations(
            Some(bug),
            if seed == 0 { None } else { Some(seed) },
            workload,
        )
        .is_empty()
    });
    assert!(found, "{bug}: not observable");
}

#[test]
fn survey() {
    for &bug in Bug::ALL {
        let mount = mount_with(bug);
        let mut s = Script::new(&MkfsOptions::default(), &mount, Some(1));
        let r = common_mixed(&mut s);
        let n = if r.is_ok() {
            s.check(&MountOptions::default()).len()
        } else {
            0
        };
        eprintln!(
            "{bug}: run {:?}, {n} violations",
            r.err().map(|e| e.to_string())
        );
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
