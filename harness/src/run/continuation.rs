//! Crash and continue: a recovered filesystem must keep working. Some
//! bugs live in what recovery rebuilds (the journal's head and sequence,
//! what it queues for checkpoint, a repaired allocator, a log cut at its
//! torn tail) and show only when the target is used after the crash:
//! further operations, a second crash, a clean unmount and mount.
//!
//! For a few crash states of an execution (the last state of the
//! workload's crash mode; in the default mix also the last state that
//! lost the volatile cache; then the states at which remounts or reopens
//! began: a power cut instead of the clean unmount), the image is
//! recovered, what it holds is read (that check already passed: it is
//! durable and owed from now on), the operations the crash cut off run on
//! it with a clean remount appended, and every crash state of that
//! continuation is checked against the model carried over: the recovered
//! state as the durable base, the continuation's operations on top. A
//! finding's state reads `p15+p7`: state `p7` of the continuation after
//! state `p15`; `brownout run FILE --state p15+p7` replays it. One the
//! continuation's own run or recovery met reads `p15+`, and `--state p15+`
//! runs that continuation again. `brownout show FILE --state p15+p7`
//! prints the continuation's timeline ([`resume_named`]).

// A finding ends the check: the cold path, not worth boxing for.
#![allow(clippy::result_large_err)]

use crate::device::disk::Disk;
use crate::engine::fs::FsEngine;
use crate::finding::{Finding, Rule};
use crate::model::fs::BaseFile;
use crate::run::check::{check_states_over, enum_options, FsStateCheck, OracleOptions};
use crate::run::execute::{run_ops, ExecOptions, Execution, START_MARK};
use crate::workload::{Barrier, CrashMode, Op, Workload};
use replay::check::DistinctStates;
use replay::crash_states::EnumeratedState;

/// Crash states continued per execution by default: the last state, the
/// last lost-cache state of the default mix, and one remount. What they
/// cost (README, "Reach"): a sixth of prefix throughput on workloads of 24
/// operations, three quarters of an execution's work on those of 256.
pub const CONTINUE_STATES_DEFAULT: usize = 3;

/// What the continuations of one execution found.
#[derive(Default)]
pub struct Continued {
    /// Crash states of the continuations checked.
    pub states_checked: u64,
    pub finding: Option<Finding>,
}

/// Whether `oo.only_state` names a state of a continuation
/// (`OUTER+INNER`).
pub fn names_continuation(oo: &OracleOptions) -> bool {
    oo.only_state.as_deref().is_some_and(|s| s.contains('+'))
}

impl Continued {
    /// The check of `--state OUTER+INNER`: that one state.
    pub fn into_check(self) -> crate::run::check::CrashCheck {
        crate::run::check::CrashCheck {
            states_enumerated: 1,
            states_checked: 1,
            recovery_states: 0,
            sampled_states: 0,
            continued_states: 1,
            finding: self.finding,
        }
    }
}

/// Continues `exec` after up to `oo.continue_states` of its crash states
/// (or, with `--state OUTER+INNER`, checks that one state).
pub fn check_continuations<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    exec: &Execution,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Continued, replay::ReplayError> {
    let mut out = Continued::default();
    if exec.finding.is_some() {
        return Ok(out);
    }
    let (points, inner) = continuation_points(workload, exec, oo, |op| matches!(op, Op::Remount))?;
    let inner = inner_options(inner);
    for (state, next) in points {
        let r = continue_after(engine, workload, eo, &inner, &state, next)?;
        out.states_checked += r.states_checked;
        if r.finding.is_some() {
            out.finding = r.finding;
            break;
        }
    }
    Ok(out)
}

/// The crash states to continue from, each with the index of the first
/// operation the crash cut off, and the oracle options of the
/// continuations. At most `oo.continue_states` states, chosen (seeded)
/// among the candidates of the workload's mode at the positions
/// `targets` prefers: where remounts (`is_remount`) began, operation
/// starts spread over the workload, the end. With `--state OUTER+INNER`:
/// state `OUTER` alone, and options that check state `INNER` of its
/// continuation alone.
pub fn continuation_points(
    workload: &Workload,
    exec: &Execution,
    oo: &OracleOptions,
    is_remount: impl Fn(&Op) -> bool,
) -> Result<(Vec<(EnumeratedState, usize)>, OracleOptions), replay::ReplayError> {
    let only = oo.only_state.as_deref().and_then(|s| s.split_once('+'));
    let inner = OracleOptions {
        // `OUTER+` (a finding of the continuation's run, before any of
        // its crash states): the continuation with all its states.
        only_state: only
            .map(|(_, inner)| inner.to_string())
            .filter(|inner| !inner.is_empty()),
        continue_states: 0,
        ..oo.clone()
    };
    if oo.continue_states == 0 && only.is_none() {
        return Ok((Vec::new(), inner));
    }
    // The seed of the campaign that found a reproducer, which it names.
    let seed = workload.header.seed.unwrap_or(oo.seed);
    let picked: Vec<EnumeratedState> = match only {
        Some((outer, _)) => {
            // The candidates the campaign picked `outer` from: a lost-cache
            // state of the default mix names its mode in its id.
            let rank = |m: CrashMode| CrashMode::ALL.iter().position(|&x| x == m);
            let own = candidate_mode(workload, oo);
            let mode = match crate::run::check::mode_of_state(outer) {
                Some(m) if rank(m) > rank(own) => m,
                _ => own,
            };
            let s = DistinctStates::new(&exec.log, &candidates(workload, oo, mode))?
                .find(|s| s.state.id.to_string() == outer)
                .ok_or_else(|| replay::ReplayError::NoSuchState {
                    id: outer.to_string(),
                    reason: "not a state continuations start from".to_string(),
                })?;
            vec![s]
        }
        None => {
            let mode = candidate_mode(workload, oo);
            let mut targets = targets(workload, exec, oo.continue_states, &is_remount);
            // As many again inside operations, anywhere in the log: a power
            // cut does not wait for an operation to end, and what recovery
            // then leaves for the next operations (a half-finished page
            // switch, a torn commit repaired) is where crash-and-continue
            // bugs live.
            let preferred = targets.len();
            targets.extend(inside_targets(exec, seed, oo.continue_states));
            // Streamed: per target, the states at the last position at or
            // before it (a full mode has many per position).
            let mut at: Vec<Vec<EnumeratedState>> = vec![Vec::new(); targets.len()];
            for s in DistinctStates::new(&exec.log, &candidates(workload, oo, mode))? {
                for (k, &t) in targets.iter().enumerate() {
                    if s.state.position > t {
                        continue;
                    }
                    if at[k]
                        .first()
                        .is_some_and(|f| f.state.position < s.state.position)
                    {
                        at[k].clear();
                    }
                    at[k].push(s.clone());
                }
            }
            let mut picked: Vec<EnumeratedState> = Vec::new();
            let mut preferred_picked = 0;
            for (k, states) in at.into_iter().enumerate() {
                // Each kind of target fills at most its own share.
                let inside = k >= preferred;
                let share = match inside {
                    true => picked.len() - preferred_picked,
                    false => picked.len(),
                };
                if share >= oo.continue_states {
                    match inside {
                        true => break,
                        false => continue,
                    }
                }
                let Some(s) = choose(states, execution_seed(exec, seed), k) else {
                    continue;
                };
                if !picked.iter().any(|p| p.state.id == s.state.id) {
                    picked.push(s);
                    preferred_picked += usize::from(!inside);
                }
            }
            picked
        }
    };
    let points = picked
        .into_iter()
        .map(|s| {
            // The operations the crash cut off: those not started at it.
            let next = exec
                .times
                .iter()
                .position(|t| t.start >= s.state.position)
                .unwrap_or(exec.times.len());
            (s, next)
        })
        .collect();
    Ok((points, inner))
}

/// The options a continuation is checked with: prefix states plus the
/// default mix's sampled passes (its workload's mode is prefix).
pub fn inner_options(inner: OracleOptions) -> OracleOptions {
    OracleOptions {
        passes: crate::run::check::DEFAULT_PASSES.to_vec(),
        ..inner
    }
}

/// `f`, found in the continuation after state `outer` (from operation
/// `next`), at its state `inner`.
pub fn label(mut f: Finding, outer: &str, next: usize, inner: Option<String>) -> Finding {
    f.message = format!(
        "{} (after recovering state {outer} and continuing from operation #{next})",
        f.message
    );
    // No inner state: the continuation's run or its recovery found it,
    // and `--state OUTER+` runs that continuation again.
    f.state = Some(format!("{outer}+{}", inner.unwrap_or_default()));
    f
}

/// The mode continuations start from: the workload's, or, in the default
/// mix (prefix plus sampled passes), the lost-cache states: the most
/// damaged images, which recovery has the most to repair on.
fn candidate_mode(workload: &Workload, oo: &OracleOptions) -> CrashMode {
    match workload.header.mode {
        CrashMode::Prefix
            if oo
                .passes_for(&workload.header)
                .iter()
                .any(|p| p.mode != CrashMode::Prefix) =>
        {
            CrashMode::Reorder
        }
        mode => mode,
    }
}

/// The states continuations may start from, in `mode`: those of the
/// workload's own mode (torn: two tears of each subset), or, in the
/// default mix, the lost-cache state at every position, so that picking
/// costs little beside the check itself. Ids are the full mode's.
fn candidates(workload: &Workload, oo: &OracleOptions, mode: CrashMode) -> replay::EnumOptions {
    let mut options = enum_options(workload, oo);
    options.mode = crate::run::check::replay_mode(mode);
    if mode != workload.header.mode {
        options.max_subsets = Some(1);
    }
    if mode == CrashMode::Torn {
        options.max_tears = Some(2);
    }
    options
}

/// Log positions to crash at between operations, in order of preference
/// (the positions inside operations are [`inside_targets`]): where each remount
/// began (latest first: a power cut instead of the clean unmount), then
/// the starts of operations spread over the workload (so that a
/// continuation has operations left to run), then the end.
fn targets(
    workload: &Workload,
    exec: &Execution,
    n: usize,
    is_remount: &impl Fn(&Op) -> bool,
) -> Vec<usize> {
    let mut t: Vec<usize> = workload
        .ops
        .iter()
        .zip(&exec.times)
        .filter(|(op, _)| is_remount(op))
        .map(|(_, t)| t.start)
        .rev()
        .collect();
    let len = exec.times.len();
    t.extend(
        (1..=n)
            .map(|j| len * j / (n + 1))
            .filter_map(|i| exec.times.get(i).map(|t| t.start)),
    );
    t.push(usize::MAX);
    t
}

/// `n` log positions inside the workload, seeded by the campaign seed and
/// the log's length (so each execution gets its own), after its start.
fn inside_targets(exec: &Execution, seed: u64, n: usize) -> Vec<usize> {
    let len = exec.log.len() as u64;
    let start = exec.times.first().map_or(0, |t| t.start) as u64;
    if len <= start + 1 {
        return Vec::new();
    }
    (0..n as u64)
        .map(|k| {
            let h = (seed ^ len.rotate_left(17) ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .wrapping_mul(0xD1B5_4A32_D192_ED03)
                .rotate_left(31);
            (start + 1 + h % (len - start - 1)) as usize
        })
        .collect()
}

/// The campaign seed mixed with what identifies an execution (its log's
/// length), for the choices made per execution: with the campaign seed
/// alone, every execution of a campaign would take the same one of the
/// states at a target (say, always the prefix state and never the
/// lost-cache one), whatever the workload.
fn execution_seed(exec: &Execution, seed: u64) -> u64 {
    seed ^ (exec.log.len() as u64).wrapping_mul(0xA24B_AED4_963E_E407)
}

/// One of the states at a crash position, chosen by `seed` (see
/// [`execution_seed`]) and the target's rank (deterministic: the states
/// come in enumeration order).
fn choose(mut states: Vec<EnumeratedState>, seed: u64, k: usize) -> Option<EnumeratedState> {
    if states.is_empty() {
        return None;
    }
    let h = (seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xD1B5_4A32_D192_ED03)
        .rotate_left(29);
    let i = (h % states.len() as u64) as usize;
    Some(states.swap_remove(i))
}

/// A continuation's run, for `brownout show --state OUTER+`: the
/// operations it ran (from operation `first_op` of the workload on, then
/// the appended clean remount or reopen) and its execution, whose log
/// begins with the recovery of the crash state.
pub struct Resumed {
    pub workload: Workload,
    pub first_op: usize,
    pub exec: Execution,
}

/// The continuation `oo.only_state` names (`OUTER+…`) of `exec`, run
/// again: `None` where it did not run (its recovery failed or panicked:
/// `brownout run --state OUTER+` reports that).
pub fn resume_named<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    exec: &Execution,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Option<Resumed>, replay::ReplayError> {
    let config = engine.configure(&workload.header, eo.step_budget);
    resume_named_with(workload, exec, oo, Op::Remount, |state, next| {
        resume(engine, &config, workload, eo, state, next)
            .ok()
            .map(|(_, cont)| cont)
    })
}

/// Each vocabulary's `resume_named`: finds the continuation point
/// `oo.only_state` names among `exec`'s and runs it with `run` (given the
/// crash state and the first operation the crash cut off), which runs
/// [`continued`] with `appended` (the vocabulary's clean remount or
/// reopen, whose starts are preferred points too).
pub fn resume_named_with(
    workload: &Workload,
    exec: &Execution,
    oo: &OracleOptions,
    appended: Op,
    run: impl FnOnce(&EnumeratedState, usize) -> Option<Execution>,
) -> Result<Option<Resumed>, replay::ReplayError> {
    let (points, _) = continuation_points(workload, exec, oo, |op| *op == appended)?;
    let Some((state, next)) = points.into_iter().next() else {
        return Ok(None);
    };
    Ok(run(&state, next).map(|exec| Resumed {
        workload: continued(workload, next, appended),
        first_op: next,
        exec,
    }))
}

/// What a continuation from operation `next` runs, as a workload of its
/// own: `workload`'s operations from there on, then `appended` (the
/// vocabulary's clean remount or reopen), checked in the default mix
/// whatever the outer mode: its cost stays a small multiple of a prefix
/// check (see [`inner_options`]).
pub fn continued(workload: &Workload, next: usize, appended: Op) -> Workload {
    let mut header = workload.header.clone();
    header.mode = CrashMode::Prefix;
    let mut ops = workload.ops[next.min(workload.ops.len())..].to_vec();
    ops.push(appended);
    Workload { header, ops }
}

/// Recovers crash state `state` and runs the operations from `next` on,
/// then a clean remount: the continuation's operations (as a workload of
/// their own, in the default mix) and its execution. A finding of the
/// recovery or of a panic comes back as the error; one of the run is in
/// the execution. Operation numbers in findings are the workload's.
fn resume<E: FsEngine>(
    engine: &E,
    config: &E::Config,
    workload: &Workload,
    eo: &ExecOptions,
    state: &EnumeratedState,
    next: usize,
) -> Result<(Workload, Execution), Finding> {
    let h = &workload.header;
    let disk = Disk::continuing(
        state.image.clone(),
        h.schedule.clone(),
        h.barrier == Barrier::Stable,
    );
    let mut fs = match crate::guard::catch(|| engine.mount(config, disk)) {
        Ok(Ok(fs)) => fs,
        // The crash-state check mounted this image already: a failure
        // now is the target's (say, nondeterministic recovery).
        Ok(Err(e)) => {
            return Err(Finding::new(
                Rule::Recovery,
                format!("mount (recovery) failed: {e}"),
            ))
        }
        Err(p) if p.in_harness() => std::panic::resume_unwind(Box::new(p.text())),
        Err(p) => {
            let mut f = Finding::new(Rule::Recovery, "the target panicked while recovering");
            f.panic = Some(p.text());
            return Err(f);
        }
    };
    let mut base = Vec::with_capacity(h.files as usize);
    for file in 0..h.files {
        let read = engine.size(&mut fs, file).and_then(|size| match size {
            Some(size) => engine.read(&mut fs, file, 0, size).map(Some),
            None => Ok(None),
        });
        match read {
            Ok(data) => base.push(BaseFile {
                exists: data.is_some(),
                data: data.unwrap_or_default(),
            }),
            Err(e) => {
                return Err(Finding::new(
                    Rule::Recovery,
                    format!("f{file} unreadable after recovery: {e}"),
                ))
            }
        }
    }
    engine.disk_mut(&mut fs).mark(START_MARK);
    let rest = continued(workload, next, Op::Remount);
    // The operations before the crash: the continuation's writes carry
    // the whole workload's write ids, and its findings name them.
    let earlier = crate::model::fs::Earlier {
        op_offset: next,
        ops: workload.ops[..next.min(workload.ops.len())].to_vec(),
    };
    let run = crate::guard::catch(|| run_ops(engine, config, fs, &rest, (base, Some(earlier)), eo));
    let mut cont = match run {
        Ok(cont) => cont,
        Err(p) if p.in_harness() => std::panic::resume_unwind(Box::new(p.text())),
        Err(p) => {
            let f = crate::run::pipeline::panic_finding(&rest, &p);
            return Err(renumber(f, next, &rest));
        }
    };
    cont.finding = cont.finding.take().map(|f| renumber(f, next, &rest));
    Ok((rest, cont))
}

/// `f`, found in continuation `rest` (from operation `next`), with the
/// operation numbers of the original workload (the appended remount keeps
/// its own).
fn renumber(mut f: Finding, next: usize, rest: &Workload) -> Finding {
    if let Some(op) = f.op.filter(|&op| op + 1 < rest.ops.len()) {
        f.op = Some(op + next);
    }
    f
}

fn continue_after<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    eo: &ExecOptions,
    inner: &OracleOptions,
    state: &EnumeratedState,
    next: usize,
) -> Result<Continued, replay::ReplayError> {
    let outer = state.state.id.to_string();
    let config = engine.configure(&workload.header, eo.step_budget);
    let found = |f: Finding, inner: Option<String>| Continued {
        states_checked: 0,
        finding: Some(label(f, &outer, next, inner)),
    };
    let (rest, cont) = match resume(engine, &config, workload, eo, state, next) {
        Ok(run) => run,
        Err(f) => return Ok(found(f, None)),
    };
    if let Some(f) = cont.finding.clone() {
        return Ok(found(f, None));
    }
    let model = cont.model(&rest, engine.info().contract.promises());
    let checker = FsStateCheck::new(engine, &config, &rest, &model, eo.step_budget);
    let check = check_states_over(&cont.log, Some(&state.image), &rest, inner, &checker)?;
    let mut out = Continued {
        states_checked: check.states_checked,
        finding: None,
    };
    if let Some(f) = check.finding {
        let inner_id = f.state.clone();
        out.finding = found(renumber(f, next, &rest), inner_id).finding;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use replay::log::LogBuilder;

    /// The positions inside operations lie after the workload's start and
    /// inside the log, and depend only on the seed and the log.
    #[test]
    fn inside_targets_are_seeded_positions_in_the_workload() {
        let mut log = LogBuilder::new(1 << 20);
        for i in 0..100 {
            let id = log.submit_write(i, &[1u8; 512], Default::default());
            log.complete(id);
        }
        let times = vec![crate::model::fs::OpTimes {
            start: 10,
            end: 20,
            ok: true,
            dio_end: crate::model::fs::NEVER,
            dio_ack: crate::model::fs::NEVER,
        }];
        let exec = Execution {
            log: log.finish(),
            times,
            events: Vec::new(),
            owners: Default::default(),
            finding: None,
            base: Vec::new(),
            earlier: None,
        };
        let a = inside_targets(&exec, 1, 3);
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|&p| p > 10 && p < exec.log.len()), "{a:?}");
        assert_eq!(a, inside_targets(&exec, 1, 3));
        assert_ne!(a, inside_targets(&exec, 2, 3));
    }
}
