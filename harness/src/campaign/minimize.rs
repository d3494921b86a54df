//! Structure-aware shrinking of a failing workload.
//!
//! The minimiser keeps a workload only if it still produces the same kind of
//! finding (same rule, same file). It works on the workload's structure,
//! not its bytes, so the result is a short text a person can read:
//!
//! 1. delta debugging over operations (chunks, then single operations);
//! 2. the schedule: drop picks, lower them;
//! 3. each operation's numbers and flags: lengths, offsets and sizes
//!    towards small block-aligned values, `dsync`/`aio` off, `writeback`
//!    narrowed, files renumbered downwards;
//! 4. the crash state: a simpler mode (`torn` → `reorder` → `prefix`), the
//!    file count down to what is used;
//!
//! repeated until nothing changes. Deterministic: same input, same output.

use crate::campaign::registry::run_workload;
use crate::finding::{Finding, Signature};
use crate::run::check::OracleOptions;
use crate::run::execute::ExecOptions;
use crate::run::pipeline::RunError;
use crate::workload::BLOCK_SIZE;
use crate::workload::{CrashMode, Op, Workload};

const BLOCK: u64 = BLOCK_SIZE as u64;

/// The result of a minimisation.
pub struct Minimized {
    pub workload: Workload,
    pub finding: Finding,
    /// How many candidate workloads were run.
    pub runs: usize,
}

/// Errors of the minimiser itself.
#[derive(Debug, thiserror::Error)]
pub enum MinimizeError {
    #[error("the workload produces no finding: nothing to minimise")]
    NoFinding,
    #[error(transparent)]
    Run(#[from] RunError),
}

struct Shrinker<'a> {
    target: Finding,
    /// Keep the finding's bucket ([`Signature`]) rather than only its
    /// rule and file.
    keep_signature: bool,
    eo: &'a ExecOptions,
    oo: &'a OracleOptions,
    runs: usize,
    /// Upper bound on candidate runs.
    budget: usize,
}

impl Shrinker<'_> {
    /// Whether `w` (valid) still gives the same kind of finding; if so,
    /// that finding.
    fn test(&mut self, w: &Workload) -> Option<Finding> {
        if self.runs >= self.budget || w.validate().is_err() {
            return None;
        }
        // Within the target's vocabulary and bounds too (a store that
        // commits each change alone must keep a commit after each).
        let target = crate::campaign::registry::lookup(&w.header.target);
        if target.is_some_and(|t| w.validate_for(t.info()).is_err()) {
            return None;
        }
        self.runs += 1;
        let outcome = run_workload(w, self.eo, self.oo).ok()?;
        outcome.finding.filter(|f| self.keeps(w, f))
    }

    /// Whether `f` (found running `w`) is the finding being kept.
    fn keeps(&self, w: &Workload, f: &Finding) -> bool {
        if self.keep_signature {
            let target = &w.header.target;
            Signature::of(target, f) == Signature::of(target, &self.target)
        } else {
            f.same_kind(&self.target)
        }
    }

    /// Tries `candidate`; on success replaces `best`.
    fn accept(&mut self, best: &mut Workload, candidate: Workload) -> bool {
        if candidate == *best {
            return false;
        }
        if self.test(&candidate).is_some() {
            *best = candidate;
            true
        } else {
            false
        }
    }

    /// ddmin over the operation list.
    fn drop_ops(&mut self, best: &mut Workload) -> bool {
        let mut changed = false;
        let mut chunk = best.ops.len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < best.ops.len() {
                let end = (start + chunk).min(best.ops.len());
                let mut c = best.clone();
                c.ops.drain(start..end);
                if self.accept(best, c) {
                    changed = true;
                } else {
                    start = end;
                }
            }
            if chunk == 1 {
                return changed;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    fn shrink_schedule(&mut self, best: &mut Workload) -> bool {
        let mut changed = false;
        let mut c = best.clone();
        c.header.schedule.clear();
        if self.accept(best, c) {
            return true;
        }
        let mut i = 0;
        while i < best.header.schedule.len() {
            let mut c = best.clone();
            c.header.schedule.remove(i);
            if self.accept(best, c) {
                changed = true;
                continue;
            }
            if best.header.schedule[i] > 0 {
                for lower in 0..best.header.schedule[i] {
                    let mut c = best.clone();
                    c.header.schedule[i] = lower;
                    if self.accept(best, c) {
                        changed = true;
                        break;
                    }
                }
            }
            i += 1;
        }
        changed
    }

    /// Simpler variants of operation `i`, simplest first.
    fn simpler_ops(op: &Op) -> Vec<Op> {
        let mut out = Vec::new();
        let lens = |len: u64| -> Vec<u64> {
            let mut v = vec![BLOCK, len / 2 / BLOCK * BLOCK, len.div_ceil(2), 1];
            v.retain(|&l| l >= 1 && l < len);
            v
        };
        let offsets = |off: u64| -> Vec<u64> {
            let mut v = vec![0, off / 2 / BLOCK * BLOCK, off / BLOCK * BLOCK];
            v.retain(|&o| o < off);
            v
        };
        match *op {
            Op::Write {
                file,
                offset,
                len,
                dsync,
            } => {
                if dsync {
                    out.push(Op::Write {
                        file,
                        offset,
                        len,
                        dsync: false,
                    });
                }
                for l in lens(len) {
                    out.push(Op::Write {
                        file,
                        offset,
                        len: l,
                        dsync,
                    });
                }
                for o in offsets(offset) {
                    out.push(Op::Write {
                        file,
                        offset: o,
                        len,
                        dsync,
                    });
                }
            }
            Op::DioWrite {
                file,
                offset,
                len,
                dsync,
                aio,
                misaligned,
            } => {
                let mk = |offset, len, dsync, aio| Op::DioWrite {
                    file,
                    offset,
                    len,
                    dsync,
                    aio,
                    misaligned,
                };
                if aio {
                    out.push(mk(offset, len, dsync, false));
                }
                if dsync {
                    out.push(mk(offset, len, false, aio));
                }
                if !misaligned {
                    for l in lens(len).into_iter().filter(|l| l % BLOCK == 0) {
                        out.push(mk(offset, l, dsync, aio));
                    }
                    for o in offsets(offset).into_iter().filter(|o| o % BLOCK == 0) {
                        out.push(mk(o, len, dsync, aio));
                    }
                }
            }
            Op::Read { file, offset, len } => {
                for l in lens(len) {
                    out.push(Op::Read {
                        file,
                        offset,
                        len: l,
                    });
                }
                for o in offsets(offset) {
                    out.push(Op::Read {
                        file,
                        offset: o,
                        len,
                    });
                }
            }
            Op::Fallocate {
                file,
                offset,
                len,
                keep_size,
            } => {
                let mk = |offset, len, keep_size| Op::Fallocate {
                    file,
                    offset,
                    len,
                    keep_size,
                };
                if keep_size {
                    out.push(mk(offset, len, false));
                }
                out.extend(lens(len).into_iter().map(|l| mk(offset, l, keep_size)));
                out.extend(offsets(offset).into_iter().map(|o| mk(o, len, keep_size)));
            }
            Op::PunchHole { file, offset, len } => {
                let mk = |offset, len| Op::PunchHole { file, offset, len };
                out.extend(lens(len).into_iter().map(|l| mk(offset, l)));
                out.extend(offsets(offset).into_iter().map(|o| mk(o, len)));
            }
            Op::Truncate { file, size } => {
                for s in [0, size / 2 / BLOCK * BLOCK, size / BLOCK * BLOCK] {
                    if s < size {
                        out.push(Op::Truncate { file, size: s });
                    }
                }
            }
            Op::Writeback { file, pages } => {
                if pages.is_some() {
                    out.push(Op::Writeback { file, pages: None });
                }
                if file.is_some() {
                    out.push(Op::Writeback { file: None, pages });
                }
            }
            Op::Fdatasync { file } => out.push(Op::Fsync { file }),
            Op::Complete { pick } if pick > 0 => out.push(Op::Complete { pick: 0 }),
            _ => {}
        }
        out
    }

    fn shrink_ops(&mut self, best: &mut Workload) -> bool {
        let mut changed = false;
        for i in 0..best.ops.len() {
            loop {
                let mut improved = false;
                for simpler in Self::simpler_ops(&best.ops[i]) {
                    let mut c = best.clone();
                    c.ops[i] = simpler;
                    if self.accept(best, c) {
                        improved = true;
                        changed = true;
                        break;
                    }
                }
                if !improved {
                    break;
                }
            }
        }
        changed
    }

    /// Renumbers files downwards and drops unused ones, and tries simpler
    /// crash modes.
    fn shrink_header(&mut self, best: &mut Workload) -> bool {
        let mut changed = false;
        let used: Vec<u32> = {
            let mut v: Vec<u32> = best.ops.iter().flat_map(Op::files).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        // Map the used files onto f0, f1, ... in order.
        if used.iter().enumerate().any(|(i, &f)| i as u32 != f)
            || best.header.files as usize > used.len()
        {
            let mut c = best.clone();
            let map = |f: u32| used.iter().position(|&u| u == f).unwrap_or(0) as u32;
            for op in c.ops.iter_mut() {
                renumber(op, map);
            }
            c.header.files = (used.len() as u32).max(1);
            changed |= self.accept(best, c);
        }
        let simpler_modes: &[CrashMode] = match best.header.mode {
            CrashMode::Torn => &[CrashMode::Prefix, CrashMode::Reorder],
            CrashMode::Reorder => &[CrashMode::Prefix],
            CrashMode::Prefix => &[],
        };
        for &mode in simpler_modes {
            let mut c = best.clone();
            c.header.mode = mode;
            if self.accept(best, c) {
                changed = true;
                break;
            }
        }
        if best.header.mix {
            let mut c = best.clone();
            c.header.mix = false;
            changed |= self.accept(best, c);
        }
        changed
    }
}

fn renumber(op: &mut Op, map: impl Fn(u32) -> u32) {
    op.map_files(map);
}

/// Shrinks `workload`, which must produce a finding, to a smaller one with
/// the same kind of finding. `budget` bounds the number of candidate runs.
pub fn minimize(
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
    budget: usize,
) -> Result<Minimized, MinimizeError> {
    shrink(workload, eo, oo, budget, false)
}

/// [`minimize`] keeping the finding's bucket: the same [`Signature`]
/// (rule, operation kind, crash-state class, panic location), not only the
/// same rule and file, so a bucket's reproducer stays in its bucket.
pub fn minimize_in_bucket(
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
    budget: usize,
) -> Result<Minimized, MinimizeError> {
    shrink(workload, eo, oo, budget, true)
}

fn shrink(
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
    budget: usize,
    keep_signature: bool,
) -> Result<Minimized, MinimizeError> {
    // Candidates are judged as `brownout run FILE` replays them: the
    // header alone (`mode:`, `mode: mix`) says which passes run, not the
    // campaign's sampled passes, under which dropping `mix` or lowering
    // the mode would always look harmless.
    let oo = &OracleOptions {
        passes: Vec::new(),
        ..oo.clone()
    };
    let target = run_workload(workload, eo, oo)?
        .finding
        .ok_or(MinimizeError::NoFinding)?;
    let mut s = Shrinker {
        target,
        keep_signature,
        eo,
        oo,
        runs: 1,
        budget,
    };
    let mut best = workload.clone();
    best.header.expect = None;
    loop {
        let mut changed = s.drop_ops(&mut best);
        changed |= s.shrink_header(&mut best);
        changed |= s.shrink_schedule(&mut best);
        changed |= s.shrink_ops(&mut best);
        if !changed || s.runs >= s.budget {
            break;
        }
    }
    let finding = run_workload(&best, eo, oo)?
        .finding
        .filter(|f| s.keeps(&best, f))
        .expect("the minimiser only keeps workloads that reproduce");
    best.header.expect = Some(finding.rule);
    Ok(Minimized {
        workload: best,
        finding,
        runs: s.runs,
    })
}
