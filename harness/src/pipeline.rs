//! One workload, end to end: execute it (rules 6–8 at run time), then check
//! every crash state of its log (rules 1–5). This is what `brownout run`,
//! the fuzz loop, the corpus check and the cargo-fuzz targets all call.
//!
//! A panic inside the filesystem under test is caught ([`crate::guard`])
//! and becomes a finding that carries the panic's message and location:
//! rule 1 when it happens while mounting (recovery on a crash state, or a
//! remount), rule 8 when an operation panics (like any other unexpected
//! failure of an operation).

use crate::executor::{execute, ExecOptions, Execution};
use crate::finding::Finding;
use crate::guard::{self, PanicReport};
use crate::oracle::{check_crash_states, OracleOptions};
use crate::rule::Rule;
use crate::workload::{Op, Workload};
use std::collections::BTreeMap;

/// What running one workload found.
pub struct Outcome {
    pub finding: Option<Finding>,
    pub states_enumerated: u64,
    pub states_checked: u64,
    pub log_entries: usize,
    /// Size of the recorded log in the native encoding (entry headers,
    /// labels and write data): what one execution holds in memory besides
    /// the filesystem's own device, which is `ExecOptions::device_bytes`.
    pub log_bytes: u64,
    pub execution: Execution,
}

/// Errors that are the harness's, not the filesystem's.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("crash-state enumeration failed: {0}")]
    Replay(replay::ReplayError),
    /// A panic outside the filesystem under test (in the harness itself).
    #[error("internal error: the harness {0}")]
    Panic(PanicReport),
}

impl From<replay::ReplayError> for RunError {
    fn from(e: replay::ReplayError) -> Self {
        RunError::Replay(e)
    }
}

/// The finding for a panic of the filesystem while it ran `workload`.
pub fn panic_finding(workload: &Workload, report: &PanicReport) -> Finding {
    let op = report
        .op
        .and_then(|i| workload.ops.get(i).map(|op| (i, op)));
    let mut f = match op {
        Some((i, op)) => {
            let rule = if matches!(op, Op::Remount) {
                Rule::Recovery
            } else {
                Rule::ReadYourWrites
            };
            crate::executor::op_finding(
                rule,
                workload,
                i,
                format!("the filesystem panicked in operation #{i} `{op}`"),
            )
        }
        None => Finding::new(
            Rule::Recovery,
            "the filesystem panicked while formatting or mounting",
        ),
    };
    f.panic = Some(panic_text(report));
    f
}

/// `message (at file:line:col)`.
pub fn panic_text(report: &PanicReport) -> String {
    match &report.location {
        Some(loc) => format!("{} (at {loc})", report.message),
        None => report.message.clone(),
    }
}

/// Runs `workload` and checks its crash states. A run-time finding stops
/// the run; crash states are checked only when the run was clean.
pub fn run_workload(
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Outcome, RunError> {
    let execution = match guard::catch(|| execute(workload, eo)) {
        Ok(execution) => execution,
        Err(report) if report.in_harness() => return Err(RunError::Panic(report)),
        Err(report) => {
            return Ok(Outcome {
                finding: Some(panic_finding(workload, &report)),
                states_enumerated: 0,
                states_checked: 0,
                log_entries: 0,
                log_bytes: 0,
                execution: Execution {
                    log: replay::LogBuilder::new(eo.device_bytes).finish(),
                    times: Vec::new(),
                    events: Vec::new(),
                    owners: BTreeMap::new(),
                    finding: None,
                },
            })
        }
    };
    let log_entries = execution.log.len();
    let log_bytes = execution.log.native_len();
    if execution.finding.is_some() {
        return Ok(Outcome {
            finding: execution.finding.clone(),
            states_enumerated: 0,
            states_checked: 0,
            log_entries,
            log_bytes,
            execution,
        });
    }
    // The oracle catches panics of the filesystem per crash state; one
    // that still gets here is the harness's own.
    let check = guard::catch(|| check_crash_states(workload, &execution, eo, oo))
        .map_err(RunError::Panic)??;
    Ok(Outcome {
        finding: check.finding,
        states_enumerated: check.states_enumerated,
        states_checked: check.states_checked,
        log_entries,
        log_bytes,
        execution,
    })
}
