//! Random operation sequences (seeded ChaCha loops) against an in-memory
//! model: every read returns what the model says (read your writes), a
//! clean unmount/mount keeps everything, the correct filesystem never
//! reports a deadlock, and a crash at every point of each run recovers a
//! consistent filesystem that keeps what it acknowledged.

use crate::common::*;
use fs_under_test::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FILES: u32 = 4;
/// Offsets stay in the first 128 KiB so that operations overlap; the
/// file-size limit itself is exercised by `robust.rs`.
const SPAN: u64 = 128 << 10;

fn check_reads(s: &mut Script) {
    for ino in 0..FILES {
        if !s.fs.exists(ino) || s.aio_busy(ino) {
            continue;
        }
        let want = s.model[ino as usize].clone();
        assert_eq!(s.fs.size(ino).unwrap(), want.len() as u64, "size of {ino}");
        let got = s.fs.read(ino, 0, MAX_FILE_SIZE).unwrap();
        assert!(got == want, "content of {ino} differs from the model");
    }
}

fn random_op(s: &mut Script, rng: &mut ChaCha8Rng) {
    let ino = rng.gen_range(0..FILES);
    if !s.fs.exists(ino) {
        s.create(ino);
        return;
    }
    let bs = BLOCK_SIZE as u64;
    let op = rng.gen_range(0..13);
    if std::env::var_os("MODEL_TRACE").is_some() {
        eprintln!("pos {} op {op} ino {ino}", s.pos());
    }
    match op {
        0..=2 => {
            let off = rng.gen_range(0..SPAN - 1);
            let len = rng.gen_range(1..=(SPAN - off).min(9000)) as usize;
            s.write(ino, off, len, rng.gen_bool(0.3)).unwrap();
        }
        3..=4 => {
            let first = rng.gen_range(0..32u64);
            let n = rng.gen_range(1..=(32 - first).min(4));
            s.dio(
                ino,
                first * bs,
                (n * bs) as usize,
                rng.gen_bool(0.5),
                rng.gen_bool(0.5),
            )
            .unwrap();
        }
        5 => s.fsync(ino, rng.gen_bool(0.5)).unwrap(),
        6 => {
            let size = rng.gen_range(0..=SPAN);
            s.truncate(ino, size).unwrap();
        }
        7 => s.dio_wait(ino).unwrap(),
        8 => {
            s.fs.writeback(Some(ino), Some(rng.gen_range(1..4)))
                .unwrap()
        }
        9 => s.syncfs().unwrap(),
        10..=11 => s.poll().unwrap(),
        _ => {
            let off = rng.gen_range(0..SPAN);
            let len = rng.gen_range(0..10000);
            let got = s.fs.read(ino, off, len).unwrap();
            if !s.aio_busy(ino) {
                let m = &s.model[ino as usize];
                let end = (off + len).min(m.len() as u64);
                let want = if off < end {
                    &m[off as usize..end as usize]
                } else {
                    &[][..]
                };
                assert_eq!(got, want);
            }
        }
    }
}

#[test]
fn read_your_writes_and_remount() {
    for seed in 0..24u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let barrier = if seed % 3 == 2 {
            Barrier::Complete
        } else {
            Barrier::Stable
        };
        let mount = MountOptions {
            barrier,
            ..Default::default()
        };
        let order = (seed % 2 == 1).then_some(seed);
        let mut s = Script::new(&MkfsOptions::default(), &mount, order);
        for _ in 0..120 {
            random_op(&mut s, &mut rng);
            check_reads(&mut s);
        }
        // Clean unmount and mount keep everything.
        for ino in 0..FILES {
            if s.fs.exists(ino) {
                s.fs.dio_wait(ino).unwrap();
            }
        }
        let model = s.model.clone();
        let exists: Vec<bool> = (0..FILES).map(|i| s.fs.exists(i)).collect();
        let dev = s.fs.unmount().unwrap();
        let mut fs = Filesystem::mount(dev, mount.clone()).unwrap();
        for ino in 0..FILES {
            assert_eq!(fs.exists(ino), exists[ino as usize]);
            if exists[ino as usize] {
                assert_eq!(
                    fs.read(ino, 0, MAX_FILE_SIZE).unwrap(),
                    model[ino as usize],
                    "seed {seed} ino {ino} after remount"
                );
            }
        }
    }
}

#[test]
fn random_workloads_survive_every_crash_point() {
    let seeds: Vec<u64> = match std::env::var("MODEL_SEED") {
        Ok(v) => vec![v.parse().unwrap()],
        Err(_) => (100..124).collect(),
    };
    for seed in seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let barrier = if seed % 3 == 2 {
            Barrier::Complete
        } else {
            Barrier::Stable
        };
        let mount = MountOptions {
            barrier,
            ..Default::default()
        };
        let mut s = Script::new(&MkfsOptions::default(), &mount, Some(seed));
        for _ in 0..40 {
            random_op(&mut s, &mut rng);
        }
        if std::env::var_os("MODEL_TRACE").is_some() {
            for (p, e) in &s.fs.device().events {
                if *p < 14
                    && !matches!(e, FsEvent::Returned { op, .. } if op == "read" || op == "poll")
                {
                    eprintln!("event at {p}: {e:?}");
                }
            }
            for (i, e) in s.fs.device().log.iter().enumerate().take(14) {
                match e {
                    Entry::Write { sector, data, fua, preflush, submitted_at } => eprintln!("log {i}: write block {} x{} fua {fua} preflush {preflush} sub {submitted_at}", sector / 8, data.len() / 4096),
                    Entry::Flush { submitted_at } => eprintln!("log {i}: flush sub {submitted_at}"),
                }
            }
        }
        let bad = s.check(&mount);
        assert!(
            bad.is_empty(),
            "seed {seed}: {} violations, first {:?}",
            bad.len(),
            &bad[..bad.len().min(3)]
        );
    }
}
