//! One workload, end to end: execute it (rules 6–8 at run time), then check
//! every crash state of its log (rules 1–5). This is what `brownout run`,
//! the fuzz loop, the corpus check and the cargo-fuzz targets all call.
//!
//! A panic inside the filesystem under test is caught ([`crate::guard`])
//! and becomes a finding that carries the panic's message and location:
//! rule 1 when it happens while mounting (recovery on a crash state, or a
//! remount), rule 8 when an operation panics (like any other unexpected
//! failure of an operation).

use crate::engine::fs::FsEngine;
use crate::finding::{Finding, Rule};
use crate::guard::{self, PanicReport};
use crate::run::check::{check_crash_states, CrashCheck, OracleOptions};
use crate::run::continuation::{names_continuation, Continued};
use crate::run::execute::{execute, ExecOptions, Execution};
use crate::workload::op_finding;
use crate::workload::{Op, Workload};

/// What running one workload found.
pub struct Outcome {
    pub finding: Option<Finding>,
    pub states_enumerated: u64,
    pub states_checked: u64,
    /// Crash states inside recoveries checked besides (nested crashes).
    pub recovery_states: u64,
    /// Of `states_checked`, those of the sampled passes of other modes.
    pub sampled_states: u64,
    /// Of `states_checked`, those of continuations after a crash.
    pub continued_states: u64,
    pub log_entries: usize,
    /// Size of the recorded log in the native encoding (entry headers,
    /// labels and write data): what one execution holds in memory besides
    /// the target's own device.
    pub log_bytes: u64,
    pub execution: Execution,
}

impl Outcome {
    /// The outcome of an execution whose crash states were checked (or
    /// not: `check` is `None` after a run-time finding).
    pub fn of(execution: Execution, check: Option<CrashCheck>) -> Self {
        let (finding, states_enumerated, states_checked, recovery_states, sampled_states) =
            match &check {
                Some(c) => (
                    c.finding.clone(),
                    c.states_enumerated,
                    c.states_checked,
                    c.recovery_states,
                    c.sampled_states,
                ),
                None => (execution.finding.clone(), 0, 0, 0, 0),
            };
        let continued_states = check.map_or(0, |c| c.continued_states);
        Outcome {
            finding,
            states_enumerated,
            states_checked,
            recovery_states,
            sampled_states,
            continued_states,
            log_entries: execution.log.len(),
            log_bytes: execution.log.native_len(),
            execution,
        }
    }
}

/// Errors that are the harness's, not the target's.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Enumerating, rebuilding or saving a crash state failed. The
    /// message carries the whole chain (a file's path and the OS error):
    /// callers print this error with `{}` as well as `{:#}`.
    #[error("crash states: {}", with_sources(.0))]
    Replay(replay::ReplayError),
    /// A panic outside the target (in the harness itself).
    #[error("internal error: the harness {0}")]
    Panic(PanicReport),
    /// The workload names a target nobody registered.
    #[error("unknown target `{name}` (known: {known})")]
    UnknownTarget { name: String, known: String },
    /// The target cannot run on this machine.
    #[error("target `{name}` cannot run here: {why}")]
    Unavailable { name: String, why: String },
}

/// `e` and its sources, joined as anyhow's `{:#}` joins them.
fn with_sources(e: &replay::ReplayError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl From<replay::ReplayError> for RunError {
    fn from(e: replay::ReplayError) -> Self {
        RunError::Replay(e)
    }
}

/// The finding for a panic of the target while it ran `workload`: rule 1
/// while formatting, mounting or reopening, rule 8 in any other operation.
pub fn panic_finding(workload: &Workload, report: &PanicReport) -> Finding {
    let op = report
        .op
        .and_then(|i| workload.ops.get(i).map(|op| (i, op)));
    let mut f = match op {
        Some((i, op)) => {
            let rule = if matches!(op, Op::Remount | Op::Reopen) {
                Rule::Recovery
            } else {
                Rule::ReadYourWrites
            };
            op_finding(
                rule,
                workload,
                i,
                format!("the target panicked in operation #{i} `{op}`"),
            )
        }
        None => Finding::new(
            Rule::Recovery,
            "the target panicked while formatting or mounting",
        ),
    };
    f.panic = Some(report.text());
    f
}

/// Runs `f`, a call into the engine, under the panic guard: a panic of
/// the engine becomes its finding here, while the caller still owns the
/// engine's state (unwinding further would drop it mid-unwind, and a
/// second panic in its drop, likely once its state is broken, aborts the
/// process instead of reporting the first). A panic of brownout's own
/// code goes on as an internal error.
#[allow(clippy::result_large_err)]
pub fn guarded_call<R>(workload: &Workload, f: impl FnOnce() -> R) -> Result<R, Finding> {
    match guard::catch(f) {
        Ok(r) => Ok(r),
        Err(report) if report.in_harness() => panic!("{}", report.text()),
        Err(report) => Err(panic_finding(workload, &report)),
    }
}

/// Runs an execution under the panic guard: a panic of the target is a
/// finding, one of brownout's own an internal error.
pub fn guarded_execution(
    workload: &Workload,
    device_bytes: u64,
    run: impl FnOnce() -> Execution,
) -> Result<Execution, RunError> {
    match guard::catch(run) {
        Ok(execution) => Ok(execution),
        Err(report) if report.in_harness() => Err(RunError::Panic(report)),
        Err(report) => Ok(Execution::empty(
            device_bytes,
            Some(panic_finding(workload, &report)),
        )),
    }
}

/// `campaign::registry::run_workload` for an `fs` engine. A run-time finding stops the run;
/// crash states are checked only when the run was clean.
pub fn run_fs<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Outcome, RunError> {
    let device_bytes = engine.info().limits.device_bytes;
    let execution = guarded_execution(workload, device_bytes, || execute(engine, workload, eo))?;
    if execution.finding.is_some() {
        return Ok(Outcome::of(execution, None));
    }
    check_execution(
        execution,
        oo,
        |execution| check_crash_states(engine, workload, execution, eo, oo),
        |execution| {
            crate::run::continuation::check_continuations(engine, workload, execution, eo, oo)
        },
    )
}

/// The crash check of a clean execution, the same for every vocabulary:
/// with `--state OUTER+INNER`, that one state of one continuation;
/// otherwise every crash state of the log (`states`), then, unless that
/// found something, crash and continue (`continuations`). The oracle
/// catches the target's panics per crash state; one that still gets here
/// is the harness's own.
pub fn check_execution(
    execution: Execution,
    oo: &OracleOptions,
    states: impl FnOnce(&Execution) -> Result<CrashCheck, replay::ReplayError>,
    continuations: impl Fn(&Execution) -> Result<Continued, replay::ReplayError>,
) -> Result<Outcome, RunError> {
    if names_continuation(oo) {
        let continued = guard::catch(|| continuations(&execution)).map_err(RunError::Panic)??;
        return Ok(Outcome::of(execution, Some(continued.into_check())));
    }
    let mut check = guard::catch(|| states(&execution)).map_err(RunError::Panic)??;
    if check.finding.is_none() && oo.only_state.is_none() && oo.continue_states > 0 {
        let continued = guard::catch(|| continuations(&execution)).map_err(RunError::Panic)??;
        check.states_checked += continued.states_checked;
        check.continued_states = continued.states_checked;
        check.finding = continued.finding;
    }
    Ok(Outcome::of(execution, Some(check)))
}
