//! The corpus: a directory of readable workload files. Clean cases (no
//! `expect:`) must stay clean; each reproducer must still trigger its
//! `expect:` rule under its own bug switches.

use crate::campaign::registry::run_workload;
use crate::finding::Signature;
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
/// options (for a target's own corpus test): how many cases behaved as
/// they say, or the first that could not be checked or did not, named by
/// its file.
pub fn check_dir(dir: &Path) -> Result<usize, String> {
    let (eo, oo) = (ExecOptions::default(), OracleOptions::default());
    let cases = list(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for path in &cases {
        let fail = |e: String| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let w =
            crate::campaign::registry::parse_workload(&text).map_err(|e| fail(e.to_string()))?;
        let verdict = check_case(&w, &eo, &oo).map_err(|e| fail(e.to_string()))?;
        if !verdict.ok {
            return Err(fail(verdict.detail));
        }
    }
    Ok(cases.len())
}

/// The buckets the reproducers of `dir` stand for: the signature of each
/// case with an `expect:` rule that still finds something (run with
/// `eo` and `oo`). Clean cases stand for none.
pub fn known_signatures(
    dir: &Path,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<std::collections::BTreeSet<Signature>, String> {
    let mut known = std::collections::BTreeSet::new();
    for path in &list(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let fail = |e: String| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let w =
            crate::campaign::registry::parse_workload(&text).map_err(|e| fail(e.to_string()))?;
        if w.header.expect.is_none() {
            continue;
        }
        let outcome = run_workload(&w, eo, oo).map_err(|e| fail(e.to_string()))?;
        if let Some(f) = outcome.finding {
            known.insert(Signature::of(&w.header.target, &f));
        }
    }
    Ok(known)
}
