//! Mount after a crash at every point of scripted workloads recovers a
//! consistent filesystem that keeps every acknowledged stable write, with
//! all bug switches off (several completion orders).

use crate::common::*;
use fs_under_test::*;

/// A mixed workload: buffered, O_DSYNC, DIO (sync and AIO), fsync,
/// fdatasync, truncate down and up, the barrier, syncfs, and enough
/// commits to wrap the journal several times.
pub fn mixed(s: &mut Script) -> Result<(), FsError> {
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
    s.fs.writeback(Some(2), Some(1))?;
    s.write(0, 7000, 100, false)?;
    s.fsync(0, true)?;
    s.dio(3, 0, 4096, false, true)?;
    s.poll()?;
    s.truncate(2, 100)?;
    s.write(3, 0, 4096, false)?;
    s.truncate(2, 7000)?;
    s.syncfs()?;
    for i in 0..10u64 {
        let ino = (i % 4) as u32;
        s.write(ino, 10000 + i * 1000, 700, i % 3 == 0)?;
        if i % 2 == 0 {
            s.fsync(ino, i % 4 == 0)?;
        }
        if i % 3 == 1 {
            s.dio(ino, 16384, 4096, true, i % 2 == 1)?;
        }
    }
    s.dio_wait(1)?;
    s.dio_wait(2)?;
    s.dio_wait(3)?;
    s.dio_wait(0)?;
    s.fsync(1, false)?;
    Ok(())
}

fn run(seed: Option<u64>, barrier: Barrier) {
    let mount = MountOptions {
        barrier,
        ..Default::default()
    };
    let mut s = Script::new(&MkfsOptions::default(), &mount, seed);
    mixed(&mut s).unwrap();
    let bad = s.check(&mount);
    assert!(
        bad.is_empty(),
        "{} violations, first: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

#[test]
fn mixed_workload_in_order() {
    run(None, Barrier::Stable);
}

#[test]
fn mixed_workload_reordered() {
    for seed in 1..=3 {
        run(Some(seed), Barrier::Stable);
    }
}

#[test]
fn mixed_workload_barrier_complete() {
    run(Some(7), Barrier::Complete);
}
