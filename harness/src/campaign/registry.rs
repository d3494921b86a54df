//! The registry: the names a workload's `target:` header, `--target` and
//! `BROWNOUT_TARGET` can use, and the one place a workload's target name
//! becomes a run of its engine (STYLE: dispatch once, generic below).
//!
//! The built-in target (the embedded filesystem core) is always there;
//! [`register`] adds a user's, [`crate::cli::main`] registers what it is
//! given. Lookups never iterate a hash map: registration order is listing
//! order.

use crate::run::check::OracleOptions;
use crate::run::execute::{ExecOptions, Execution};
use crate::run::pipeline::{Outcome, RunError};
use crate::run::target::Target;
use crate::workload::{check_target, FuzzConfig, ParseError, Workload};
use std::sync::{OnceLock, RwLock};

fn registry() -> &'static RwLock<Vec<&'static dyn Target>> {
    static REGISTRY: OnceLock<RwLock<Vec<&'static dyn Target>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(crate::targets::built_in()))
}

/// Makes `target` known by name to workload files, `--target` and
/// `brownout targets`. A second target of the same name replaces the first.
pub fn register(target: &'static dyn Target) {
    let mut all = registry().write().unwrap_or_else(|e| e.into_inner());
    let name = target.info().name;
    match all.iter_mut().find(|t| t.info().name == name) {
        Some(slot) => *slot = target,
        None => all.push(target),
    }
}

/// Targets this binary was built without, with what builds them in.
fn unavailable_list() -> &'static RwLock<Vec<(&'static str, &'static str)>> {
    static UNAVAILABLE: OnceLock<RwLock<Vec<(&'static str, &'static str)>>> = OnceLock::new();
    UNAVAILABLE.get_or_init(|| RwLock::new(Vec::new()))
}

/// Records that target `name` exists but is not in this build, and `how`
/// to build it in (a cargo feature, say): an error naming it then says
/// so instead of only "unknown".
pub fn register_unavailable(name: &'static str, how: &'static str) {
    let mut all = unavailable_list()
        .write()
        .unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|(n, _)| *n == name) {
        all.push((name, how));
    }
}

/// The targets not in this build, with how to build each in, in
/// registration order.
pub fn unavailable() -> Vec<(&'static str, &'static str)> {
    unavailable_list()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// The target called `name`.
pub fn lookup(name: &str) -> Option<&'static dyn Target> {
    let all = registry().read().unwrap_or_else(|e| e.into_inner());
    all.iter().copied().find(|t| t.info().name == name)
}

/// Every registered target, in registration order (built-in first).
pub fn all() -> Vec<&'static dyn Target> {
    registry().read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The names of every registered target, for error messages, and those
/// not in this build with how to build them in.
pub fn names() -> String {
    let mut s = all()
        .iter()
        .map(|t| t.info().name)
        .collect::<Vec<_>>()
        .join(", ");
    for (name, how) in unavailable() {
        s.push_str(&format!("; `{name}` is not in this build: {how}"));
    }
    s
}

/// The target a workload names, or the error a user should see.
pub fn of(workload: &Workload) -> Result<&'static dyn Target, RunError> {
    let target = lookup(&workload.header.target).ok_or_else(|| RunError::UnknownTarget {
        name: workload.header.target.clone(),
        known: names(),
    })?;
    target.available().map_err(|why| RunError::Unavailable {
        name: workload.header.target.clone(),
        why,
    })?;
    Ok(target)
}

/// Parses a workload text and checks it against the target it names:
/// the target exists, its bug switches exist, every operation is in its
/// vocabulary and within its bounds. Errors name the line.
pub fn parse_workload(text: &str) -> Result<Workload, ParseError> {
    let (workload, lines) = Workload::parse_with_lines(text)?;
    check_target(
        &workload,
        &lines,
        |name| lookup(name).map(|t| t.info()),
        names,
    )?;
    Ok(workload)
}

/// Runs `workload` on the target it names and checks its crash states.
pub fn run_workload(
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Outcome, RunError> {
    of(workload)?.run(workload, eo, oo)
}

/// Runs `workload` on the target it names, without checking crash states
/// (timelines, log export, tests of the executor).
pub fn execute_workload(workload: &Workload, eo: &ExecOptions) -> Result<Execution, RunError> {
    Ok(of(workload)?.execute(workload, eo))
}

/// The workload of execution `index` of a campaign seeded with `seed`, in
/// the vocabulary of `config`'s target.
pub fn generate(seed: u64, index: u64, config: &FuzzConfig) -> Workload {
    let target = lookup(&config.target);
    crate::workload::generate(seed, index, config, target.map(|t| t.info()))
}
