//! Reproducers on disk: a finding's workload written as a readable text
//! file, atomically (temporary file, fsync, rename, fsync of the directory)
//! and under a name derived from its content, so that two fuzzers sharing
//! an output directory never overwrite each other's files.

use crate::finding::Finding;
use crate::workload::Workload;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The text of a reproducer: the workload with `expect:` set to the
/// finding's rule, and the finding as a comment.
pub fn reproducer_text(workload: &Workload, finding: &Finding) -> String {
    let mut w = workload.clone();
    w.header.expect = Some(finding.rule);
    let mut text = String::new();
    for line in finding.to_string().lines() {
        if line.trim_start().starts_with("reproduce:") {
            continue;
        }
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&w.to_text());
    text
}

/// Writes `text` durably into `dir` under a content-derived name with the
/// given prefix; returns the path. If that file already exists (the same
/// reproducer), it is left as it is.
pub fn write_atomically(dir: &Path, prefix: &str, text: &str) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let hash = blake3::hash(text.as_bytes()).to_hex();
    let path = dir.join(format!("{prefix}-{}.workload", &hash[..12]));
    if path.exists() {
        return Ok(path);
    }
    // Unique per process and per call: two workers (or two processes)
    // saving the same reproducer at once each write their own temporary
    // file, and the renames put identical content in place.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{prefix}-{}.{}.{}.tmp",
        &hash[..12],
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    File::open(dir)?.sync_all()?;
    Ok(path)
}

/// Saves a finding's reproducer in `dir`; returns its path.
pub fn save(dir: &Path, workload: &Workload, finding: &Finding) -> std::io::Result<PathBuf> {
    let prefix = format!("rule{}-{}", finding.rule.number(), finding.rule.name());
    write_atomically(dir, &prefix, &reproducer_text(workload, finding))
}
