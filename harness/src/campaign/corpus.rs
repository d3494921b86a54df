//! The corpus: a directory of readable workload files. Clean cases (no
//! `expect:`) must stay clean; each reproducer must still trigger its
//! `expect:` rule under its own bug switches.

use crate::campaign::registry::run_workload;
use crate::run::check::OracleOptions;
use crate::run::execute::ExecOptions;
use crate::run::pipeline::RunError;
use crate::workload::Workload;
use std::path::{Path, PathBuf};

/// The `*.workload` files of `dir`, sorted by name.
pub fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "workload"))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether one corpus case behaves as it says.
pub struct Verdict {
    pub ok: bool,
    pub detail: String,
}

pub fn check_case(w: &Workload, eo: &ExecOptions, oo: &OracleOptions) -> Result<Verdict, RunError> {
    let outcome = run_workload(w, eo, oo)?;
    Ok(match (w.header.expect, &outcome.finding) {
        (None, None) => Verdict {
            ok: true,
            detail: format!("clean ({} crash states)", outcome.states_checked),
        },
        (None, Some(f)) => Verdict {
            ok: false,
            detail: format!("expected clean, found {}: {}", f.rule, f.message),
        },
        (Some(rule), Some(f)) if f.rule == rule => Verdict {
            ok: true,
            detail: format!("reproduces {rule}"),
        },
        (Some(rule), Some(f)) => Verdict {
            ok: false,
            detail: format!("expected {rule}, found {}: {}", f.rule, f.message),
        },
        (Some(rule), None) => Verdict {
            ok: false,
            detail: format!("expected {rule}, found nothing"),
        },
    })
}

/// Checks every case of `dir` as `brownout corpus DIR` does, with default
/// options: each file with its verdict, or why it could not be checked
/// (unreadable, malformed, a failed run). For a target's own corpus test.
pub fn check_dir(dir: &Path) -> std::io::Result<Vec<(PathBuf, Result<Verdict, String>)>> {
    let (eo, oo) = (ExecOptions::default(), OracleOptions::default());
    Ok(list(dir)?
        .into_iter()
        .map(|path| {
            let verdict = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    crate::campaign::registry::parse_workload(&text).map_err(|e| e.to_string())
                })
                .and_then(|w| check_case(&w, &eo, &oo).map_err(|e| e.to_string()));
            (path, verdict)
        })
        .collect())
}
