//! Crash and continue: a recovered filesystem must keep working. Some
//! bugs live in what recovery rebuilds (the journal's head and sequence,
//! what it queues for checkpoint, a repaired allocator) and show only when
//! the filesystem is used after the crash: further operations, a second
//! crash, a clean unmount and mount.
//!
//! For a few crash states of an execution (the last one, and the state
//! each `remount` started at: a power cut instead of the clean unmount),
//! the image is recovered, what the files hold is read (that check already
//! passed: it is durable and owed from now on), the operations the crash
//! cut off run on it with a clean `remount` appended, and every crash
//! state of that continuation is checked against the model carried over:
//! the recovered state as the durable base, the continuation's own
//! operations on top. A finding's state reads `p15+p7`: state `p7` of the
//! continuation after state `p15`.

// A finding ends the check: the cold path, not worth boxing for.
#![allow(clippy::result_large_err)]

use crate::device::disk::Disk;
use crate::engine::fs::FsEngine;
use crate::finding::{Finding, Rule};
use crate::model::fs::BaseFile;
use crate::run::check::{check_states_over, enum_options, FsStateCheck, OracleOptions};
use crate::run::execute::{run_ops, ExecOptions, Execution, START_MARK};
use crate::workload::{Barrier, Op, Workload};
use replay::check::DistinctStates;
use replay::crash_states::EnumeratedState;

/// Crash states continued per execution by default: measured (README,
/// "Crash and continue") to cost about a third more per execution in
/// prefix mode while reaching every bug that needs a second crash after a
/// replay in the tests.
pub const CONTINUE_STATES_DEFAULT: usize = 2;

/// What the continuations of one execution found.
#[derive(Default)]
pub struct Continued {
    /// Crash states of the continuations checked.
    pub states_checked: u64,
    pub finding: Option<Finding>,
}

/// Continues `exec` after up to `oo.continue_states` of its crash states.
pub fn check_continuations<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    exec: &Execution,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Continued, replay::ReplayError> {
    let mut out = Continued::default();
    if oo.continue_states == 0 || exec.finding.is_some() {
        return Ok(out);
    }
    // Continuation points are prefix states: the media as written.
    let mut options = enum_options(workload, oo);
    options.mode = replay::crash_states::Mode::Prefix;
    let states: Vec<EnumeratedState> = DistinctStates::new(&exec.log, &options)?.collect();
    for state in pick(&states, workload, exec, oo.continue_states) {
        let r = continue_after(engine, workload, exec, eo, oo, state)?;
        out.states_checked += r.states_checked;
        if r.finding.is_some() {
            out.finding = r.finding;
            break;
        }
    }
    Ok(out)
}

/// Checks one state of one continuation (`--state OUTER+INNER`): the
/// continuation after prefix state `outer`, at its state `inner` (which
/// may itself be nested: `p10/p3`).
pub fn check_continuation_state<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    exec: &Execution,
    eo: &ExecOptions,
    oo: &OracleOptions,
    outer: &str,
    inner: &str,
) -> Result<Continued, replay::ReplayError> {
    let mut options = enum_options(workload, oo);
    options.mode = replay::crash_states::Mode::Prefix;
    let state = DistinctStates::new(&exec.log, &options)?
        .find(|s| s.state.id.to_string() == outer)
        .ok_or_else(|| replay::ReplayError::NoSuchState {
            id: outer.to_string(),
            reason: "continuations start from prefix states of this workload's log".to_string(),
        })?;
    let oo = OracleOptions {
        only_state: Some(inner.to_string()),
        ..oo.clone()
    };
    continue_after(engine, workload, exec, eo, &oo, &state)
}

/// The states to continue from: the last one, then the states at which
/// the workload's remounts started, latest first, `n` at most.
fn pick<'s>(
    states: &'s [EnumeratedState],
    workload: &Workload,
    exec: &Execution,
    n: usize,
) -> Vec<&'s EnumeratedState> {
    let mut picked: Vec<&EnumeratedState> = states.last().into_iter().collect();
    for (op, t) in workload.ops.iter().zip(&exec.times).rev() {
        if picked.len() >= n {
            break;
        }
        if !matches!(op, Op::Remount) {
            continue;
        }
        // The last state at or before the remount's start.
        if let Some(s) = states.iter().rev().find(|s| s.state.position <= t.start) {
            if !picked.iter().any(|p| p.state.id == s.state.id) {
                picked.push(s);
            }
        }
    }
    picked.truncate(n);
    picked
}

fn continue_after<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    exec: &Execution,
    eo: &ExecOptions,
    oo: &OracleOptions,
    state: &EnumeratedState,
) -> Result<Continued, replay::ReplayError> {
    let outer = state.state.id.to_string();
    let h = &workload.header;
    let config = engine.configure(h, eo.step_budget);
    let disk = Disk::continuing(
        state.image.clone(),
        h.schedule.clone(),
        h.barrier == Barrier::Stable,
    );
    let found = |mut f: Finding, next: usize, inner: Option<String>| Continued {
        states_checked: 0,
        finding: Some({
            f.message = format!(
                "{} (after recovering state {outer} and continuing from operation #{next})",
                f.message
            );
            f.state = Some(match inner {
                Some(inner) => format!("{outer}+{inner}"),
                None => outer.clone(),
            });
            f
        }),
    };
    // The operations the crash cut off: those not started at the crash.
    let position = state.state.position;
    let next = exec
        .times
        .iter()
        .position(|t| t.start >= position)
        .unwrap_or(exec.times.len());
    let mut fs = match crate::guard::catch(|| engine.mount(&config, disk)) {
        Ok(Ok(fs)) => fs,
        // The crash-state check mounted this image already: a failure
        // now is the target's (say, nondeterministic recovery).
        Ok(Err(e)) => {
            let f = Finding::new(Rule::Recovery, format!("mount (recovery) failed: {e}"));
            return Ok(found(f, next, None));
        }
        Err(p) if p.in_harness() => std::panic::resume_unwind(Box::new(p.text())),
        Err(p) => {
            let mut f = Finding::new(Rule::Recovery, "the target panicked while recovering");
            f.panic = Some(p.text());
            return Ok(found(f, next, None));
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
                let f = Finding::new(
                    Rule::Recovery,
                    format!("f{file} unreadable after recovery: {e}"),
                );
                return Ok(found(f, next, None));
            }
        }
    }
    engine.disk_mut(&mut fs).mark(START_MARK);
    let mut rest = Workload {
        header: h.clone(),
        ops: workload.ops[next.min(workload.ops.len())..].to_vec(),
    };
    rest.ops.push(Op::Remount);
    let renumber = |mut f: Finding| {
        // Operation numbers of the original workload (the appended
        // remount keeps its own).
        if let Some(op) = f.op.filter(|&op| op + 1 < rest.ops.len()) {
            f.op = Some(op + next);
        }
        f
    };
    let run = crate::guard::catch(|| run_ops(engine, &config, fs, &rest, base, eo));
    let cont = match run {
        Ok(cont) => cont,
        Err(p) if p.in_harness() => std::panic::resume_unwind(Box::new(p.text())),
        Err(p) => {
            let f = crate::run::pipeline::panic_finding(&rest, &p);
            return Ok(found(renumber(f), next, None));
        }
    };
    if let Some(f) = cont.finding.clone() {
        return Ok(found(renumber(f), next, None));
    }
    let model = cont.model(&rest);
    let checker = FsStateCheck {
        engine,
        config: &config,
        workload: &rest,
        model: &model,
        step_budget: eo.step_budget,
    };
    // The continuation's own mode and passes (or the one state asked
    // for); no deeper continuation.
    let inner = OracleOptions {
        continue_states: 0,
        ..oo.clone()
    };
    let check = check_states_over(&cont.log, Some(&state.image), &rest, &inner, &checker)?;
    let mut out = Continued {
        states_checked: check.states_checked,
        finding: None,
    };
    if let Some(f) = check.finding {
        let inner_id = f.state.clone();
        out.finding = found(renumber(f), next, inner_id).finding;
    }
    Ok(out)
}
