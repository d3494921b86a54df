//! One workload, end to end: execute it (rules 6–8 at run time), then check
//! every crash state of its log (rules 1–5). This is what `brownout run`,
//! the fuzz loop, the corpus check and the cargo-fuzz targets all call.

use crate::executor::{execute, ExecOptions, Execution};
use crate::finding::Finding;
use crate::oracle::{check_crash_states, OracleOptions};
use crate::workload::Workload;

/// What running one workload found.
pub struct Outcome {
    pub finding: Option<Finding>,
    pub states_enumerated: u64,
    pub states_checked: u64,
    pub log_entries: usize,
    pub execution: Execution,
}

/// Errors that are the harness's, not the filesystem's.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("crash-state enumeration failed: {0}")]
    Replay(#[from] replay::ReplayError),
}

/// Runs `workload` and checks its crash states. A run-time finding stops
/// the run; crash states are checked only when the run was clean.
pub fn run_workload(
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Outcome, RunError> {
    let execution = execute(workload, eo);
    let log_entries = execution.log.len();
    if execution.finding.is_some() {
        return Ok(Outcome {
            finding: execution.finding.clone(),
            states_enumerated: 0,
            states_checked: 0,
            log_entries,
            execution,
        });
    }
    let check = check_crash_states(workload, &execution, eo, oo)?;
    Ok(Outcome {
        finding: check.finding,
        states_enumerated: check.states_enumerated,
        states_checked: check.states_checked,
        log_entries,
        execution,
    })
}
