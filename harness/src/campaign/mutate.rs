//! Seeded, structure-aware mutation of corpus workloads, for
//! `brownout fuzz --corpus DIR`: the built-in loop has no coverage
//! feedback, so known-interesting workloads (the curated corpus, earlier
//! reproducers) are its best starting points. A mutation keeps the workload
//! valid: it deletes, duplicates, moves or inserts operations, nudges an
//! operation's range or flags, rewrites the completion schedule, or splices
//! two seeds. Deterministic: the same seeds, seed and index give the same
//! workload.

use crate::campaign::registry::generate;
use crate::workload::BLOCK_SIZE;
use crate::workload::{FuzzConfig, Op, Workload, MAX_OPS, MAX_SCHEDULE};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BLOCK: u64 = BLOCK_SIZE as u64;
/// Offsets a mutation moves within (as the generator's window).
const WINDOW: u64 = 8 * BLOCK;

/// Mutations stacked on one seed, at most.
const MAX_STACK: u32 = 4;

/// A seed workload as the campaign runs it: the campaign's bug switches,
/// barrier contract and crash mode replace the file's own, and `expect:`
/// is dropped (a seed is an input, not a regression check).
pub fn as_seed(mut w: Workload, cfg: &FuzzConfig) -> Workload {
    w.header.bugs = cfg.bugs.clone();
    w.header.barrier = cfg.barrier;
    w.header.mode = cfg.mode;
    w.header.mix = false;
    w.header.expect = None;
    w
}

/// The workload of execution `index` of a campaign with `seeds`: the seeds
/// themselves first, then alternately a fresh generated workload and a
/// mutation of a seed.
pub fn input(seed: u64, index: u64, cfg: &FuzzConfig, seeds: &[Workload]) -> Workload {
    let n = seeds.len() as u64;
    if n == 0 {
        return generate(seed, index, cfg);
    }
    if index < n {
        return seeds[index as usize].clone();
    }
    if index.is_multiple_of(2) {
        return generate(seed, index, cfg);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03));
    let base = &seeds[rng.gen_range(0..seeds.len())];
    let other = &seeds[rng.gen_range(0..seeds.len())];
    let mut w = base.clone();
    let stack = rng.gen_range(1..=MAX_STACK);
    let target = crate::campaign::registry::lookup(&cfg.target);
    for k in 0..stack {
        let mut next = w.clone();
        mutate_once(&mut next, other, &mut rng, seed, index, k, cfg);
        // A mutation that breaks a limit (its own or the target's) is
        // dropped, not repaired.
        if next.validate().is_ok() && target.is_none_or(|t| next.validate_for(t.info()).is_ok()) {
            w = next;
        }
    }
    w
}

fn mutate_once(
    w: &mut Workload,
    other: &Workload,
    rng: &mut ChaCha8Rng,
    seed: u64,
    index: u64,
    k: u32,
    cfg: &FuzzConfig,
) {
    let files = w.header.files.max(1);
    let len = w.ops.len();
    match rng.gen_range(0..8) {
        // Delete one operation (never a create: later operations need it).
        0 if len > 0 => {
            let i = rng.gen_range(0..len);
            if !matches!(w.ops[i], Op::Create { .. }) {
                w.ops.remove(i);
            }
        }
        // Duplicate an operation right after itself.
        1 if len > 0 && len < MAX_OPS => {
            let i = rng.gen_range(0..len);
            let op = w.ops[i].clone();
            w.ops.insert(i + 1, op);
        }
        // Move an operation elsewhere.
        2 if len > 1 => {
            let i = rng.gen_range(0..len);
            let op = w.ops.remove(i);
            let j = rng.gen_range(0..w.ops.len() + 1);
            w.ops.insert(j, op);
        }
        // Insert an operation drawn by the generator.
        3 if len < MAX_OPS => {
            let donor = generate(seed ^ 0x5eed, index * 8 + u64::from(k), cfg);
            let picks: Vec<&Op> = donor
                .ops
                .iter()
                .filter(|op| !matches!(op, Op::Create { .. }))
                .collect();
            if !picks.is_empty() {
                let mut op = picks[rng.gen_range(0..picks.len())].clone();
                retarget(&mut op, rng.gen_range(0..files));
                let j = rng.gen_range(0..len + 1);
                w.ops.insert(j, op);
            }
        }
        // Nudge one operation's numbers or flags.
        4 | 5 if len > 0 => {
            let i = rng.gen_range(0..len);
            let keys = w.header.keys;
            let file_max = crate::campaign::registry::lookup(&cfg.target)
                .map_or(WINDOW, |t| t.info().limits.file_size_max.max(WINDOW));
            nudge(&mut w.ops[i], rng, files, keys, file_max);
        }
        // Rewrite the completion schedule.
        6 => {
            let s = &mut w.header.schedule;
            if !s.is_empty() && rng.gen_bool(0.5) {
                let i = rng.gen_range(0..s.len());
                s[i] = rng.gen_range(0..8);
            } else if s.len() < MAX_SCHEDULE {
                s.push(rng.gen_range(0..8));
            }
        }
        // Splice: this seed's head, the other's tail.
        _ => {
            if len == 0 || other.ops.is_empty() {
                return;
            }
            let cut = rng.gen_range(0..len + 1);
            let from = rng.gen_range(0..other.ops.len());
            w.ops.truncate(cut);
            for op in &other.ops[from..] {
                if w.ops.len() >= MAX_OPS {
                    break;
                }
                let mut op = op.clone();
                if op.file().is_some_and(|f| f >= files) {
                    retarget(&mut op, rng.gen_range(0..files));
                }
                w.ops.push(op);
            }
        }
    }
}

/// Points a file operation at `to`.
fn retarget(op: &mut Op, to: u32) {
    if let Some(file) = op.file_mut() {
        *file = to;
    }
    // A rename onto itself is invalid (and dropped by the caller).
}

/// Moves a range or truncate of `op` anywhere in the file (the
/// generator's wide draw); false if `op` has none to move.
fn nudge_wide(op: &mut Op, rng: &mut ChaCha8Rng, file_max: u64) -> bool {
    let bytes: [u8; 32] = rng.gen();
    let mut u = arbitrary::Unstructured::new(&bytes);
    match op {
        Op::Write { offset, len, .. }
        | Op::Read { offset, len, .. }
        | Op::Fallocate { offset, len, .. }
        | Op::PunchHole { offset, len, .. } => {
            if let Ok((o, l)) = crate::workload::wide_range(&mut u, false, file_max) {
                (*offset, *len) = (o, l);
            }
            true
        }
        Op::DioWrite {
            offset,
            len,
            misaligned: false,
            ..
        } => {
            if let Ok((o, l)) = crate::workload::wide_range(&mut u, true, file_max) {
                (*offset, *len) = (o, l);
            }
            true
        }
        Op::Truncate { size, .. } => {
            if let Ok(s) = crate::workload::wide_size(&mut u, file_max) {
                *size = s;
            }
            true
        }
        _ => false,
    }
}

/// Changes one number or flag of `op`, keeping direct I/O aligned (or
/// misaligned, as it was).
fn nudge(op: &mut Op, rng: &mut ChaCha8Rng, files: u32, keys: u32, file_max: u64) {
    // One nudge in eight leaves the window, like the generator's wide
    // draws: anywhere up to the target's file-size limit.
    if rng.gen_ratio(1, 8) && nudge_wide(op, rng, file_max) {
        return;
    }
    match op {
        Op::Write {
            offset, len, dsync, ..
        } => match rng.gen_range(0..3) {
            0 => *offset = rng.gen_range(0..WINDOW),
            1 => *len = rng.gen_range(1..=2 * BLOCK),
            _ => *dsync = !*dsync,
        },
        Op::DioWrite {
            offset,
            len,
            dsync,
            aio,
            misaligned,
            ..
        } => match rng.gen_range(0..4) {
            0 if !*misaligned => *offset = rng.gen_range(0..WINDOW / BLOCK) * BLOCK,
            1 if !*misaligned => *len = rng.gen_range(1..=3) * BLOCK,
            2 => *dsync = !*dsync,
            _ => *aio = !*aio,
        },
        Op::Read { offset, len, .. } | Op::PunchHole { offset, len, .. } => {
            *offset = rng.gen_range(0..WINDOW);
            *len = rng.gen_range(1..=2 * BLOCK);
        }
        Op::Fallocate {
            offset,
            len,
            keep_size,
            ..
        } => match rng.gen_range(0..3) {
            0 => *offset = rng.gen_range(0..WINDOW),
            1 => *len = rng.gen_range(1..=2 * BLOCK),
            _ => *keep_size = !*keep_size,
        },
        Op::Truncate { size, .. } => {
            *size = if rng.gen_bool(0.5) {
                rng.gen_range(0..=WINDOW / BLOCK) * BLOCK
            } else {
                rng.gen_range(0..=WINDOW)
            }
        }
        Op::Fsync { file } => *op = Op::Fdatasync { file: *file },
        Op::Fdatasync { file } => *op = Op::Fsync { file: *file },
        Op::Complete { pick } => *pick = rng.gen_range(0..8),
        Op::Writeback { pages, .. } => *pages = rng.gen_bool(0.5).then(|| rng.gen_range(1..=4)),
        Op::Create { file } | Op::DioWait { file } | Op::Close { file } | Op::Unlink { file } => {
            *file = rng.gen_range(0..files)
        }
        Op::Rename { from, to } => std::mem::swap(from, to),
        Op::Mkdir { dir } => *dir = (*dir + 1) % crate::workload::files::DIRS,
        Op::Put { key, len } => match rng.gen_range(0..2) {
            0 => *key = rng.gen_range(0..keys),
            _ => *len = rng.gen_range(1..=(*len * 2).clamp(1, 4096)),
        },
        Op::Remove { key } | Op::Get { key } => *key = rng.gen_range(0..keys),
        Op::Commit { durable } => *durable = !*durable,
        Op::Syncfs
        | Op::DirFsync
        | Op::Remount
        | Op::Abort
        | Op::Reopen
        | Op::CheckIntegrity
        | Op::Compact
        | Op::Unwind => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds() -> Vec<Workload> {
        let cfg = FuzzConfig {
            max_ops: 24,
            ..FuzzConfig::default()
        };
        (0..5).map(|i| generate(99, i, &cfg)).collect()
    }

    #[test]
    fn seeds_run_first_then_mutations_stay_valid() {
        let cfg = FuzzConfig {
            max_ops: 24,
            ..FuzzConfig::default()
        };
        let seeds = seeds();
        for (i, s) in seeds.iter().enumerate() {
            assert_eq!(&input(1, i as u64, &cfg, &seeds), s);
        }
        let mut changed = 0;
        for i in seeds.len() as u64..2000 {
            let w = input(1, i, &cfg, &seeds);
            w.validate().expect("mutations keep workloads valid");
            assert_eq!(Workload::parse(&w.to_text()).unwrap(), w);
            if !seeds.contains(&w) {
                changed += 1;
            }
        }
        assert!(changed > 1500, "mutations change workloads ({changed})");
    }

    #[test]
    fn mutation_is_deterministic() {
        let cfg = FuzzConfig {
            max_ops: 24,
            ..FuzzConfig::default()
        };
        let seeds = seeds();
        for i in 0..200 {
            assert_eq!(input(7, i, &cfg, &seeds), input(7, i, &cfg, &seeds));
        }
    }

    #[test]
    fn as_seed_takes_the_campaign_configuration() {
        let cfg = FuzzConfig {
            target: crate::workload::DEFAULT_TARGET.to_string(),
            bugs: crate::workload::Bugs::one("dsync-no-flush"),
            barrier: crate::workload::Barrier::Complete,
            mode: crate::workload::CrashMode::Torn,
            max_ops: 24,
        };
        let mut w = seeds().remove(0);
        w.header.expect = Some(crate::finding::Rule::AckedData);
        let s = as_seed(w, &cfg);
        assert_eq!(s.header.bugs, cfg.bugs);
        assert_eq!(s.header.barrier, cfg.barrier);
        assert_eq!(s.header.mode, cfg.mode);
        assert_eq!(s.header.expect, None);
    }
}
