//! `brownout export-seeds DIR [--corpus corpus/]`: writes the readable
//! corpus as libFuzzer inputs, so `cargo fuzz run` starts from known
//! interesting workloads (`fuzz/corpus/<target>` is libFuzzer's working
//! directory; `corpus/` stays the curated one).
//!
//! For the `workload` target each `NAME.workload` becomes `DIR/NAME`: the
//! bytes from which the target's generator builds that workload
//! (`crate::workload::bytes::encode`). A workload the generator cannot
//! produce exactly (more than three files, offsets outside its window, …)
//! is written as its nearest generator output, and the command says what
//! changed. The bytes carry no bug switches, barrier or crash mode: a
//! reproducer of bug X triggers under `BROWNOUT_BUGS=X` only.
//!
//! For `log-parse`, each workload is executed and its block log written in
//! both formats; for `mount-image`, a valid image in raw and in patch mode.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::campaign::fuzz_targets::config_from_env;
use crate::targets::embedded::fuzz::base_image;
use crate::workload::bytes::encode_lossy;
use anyhow::{Context, Result};

/// The fuzz target to write seeds for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SeedTarget {
    Workload,
    LogParse,
    MountImage,
}

#[derive(clap::Args, Debug)]
pub struct ExportSeedsArgs {
    /// Output directory (created if missing), e.g. fuzz/corpus/workload.
    pub dir: PathBuf,
    /// The readable corpus to export.
    #[arg(long, default_value = "corpus")]
    pub corpus: PathBuf,
    /// The fuzz target the seeds are for.
    #[arg(long, value_enum, default_value = "workload")]
    pub target: SeedTarget,
    /// Operation bound of the target (default: BROWNOUT_MAX_OPS, else 24);
    /// seeds must be written for the bound the fuzzer runs with.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub max_ops: Option<u64>,
    /// Skip workloads the generator cannot produce exactly instead of
    /// writing their nearest generator output.
    #[arg(long)]
    pub exact: bool,
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

pub fn run(a: &ExportSeedsArgs) -> Result<ExitCode> {
    let max_ops = match a.max_ops {
        Some(n) => n as usize,
        None => config_from_env().context("in the environment")?.max_ops,
    };
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create {}", a.dir.display()))?;
    if a.target == SeedTarget::MountImage {
        let mut raw = vec![0u8];
        raw.extend_from_slice(base_image());
        write(&a.dir, "base-image-raw", &raw)?;
        write(&a.dir, "base-image-patch", &[1])?;
        eprintln!("2 seeds written to {}", a.dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let cases = crate::cli::corpus_files(&a.corpus)?;
    let (mut written, mut approx, mut skipped) = (0, 0, 0);
    for path in &cases {
        let w = crate::cli::load_workload(path)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match a.target {
            SeedTarget::Workload => {
                let (bytes, changes) = encode_lossy(&w, max_ops);
                if !changes.is_empty() && a.exact {
                    skipped += 1;
                    eprintln!("skip {}: {}", path.display(), changes[0]);
                    continue;
                }
                let out = write(&a.dir, &name, &bytes)?;
                written += 1;
                let bugs = if w.header.bugs.is_empty() {
                    String::new()
                } else {
                    format!(" [BROWNOUT_BUGS={}]", w.header.bugs)
                };
                if changes.is_empty() {
                    eprintln!(
                        "{} -> {} ({} bytes, exact){bugs}",
                        path.display(),
                        out.display(),
                        bytes.len()
                    );
                } else {
                    approx += 1;
                    eprintln!(
                        "{} -> {} ({} bytes, nearest generator output, {} change(s); first: {}){bugs}",
                        path.display(),
                        out.display(),
                        bytes.len(),
                        changes.len(),
                        changes[0]
                    );
                }
            }
            SeedTarget::LogParse => {
                let target = crate::campaign::registry::of(&w)?;
                let exec =
                    target.execute(&w, &crate::campaign::fuzz_targets::target_exec_options());
                let mut native = vec![0u8];
                native.extend_from_slice(&exec.log.to_native_bytes());
                write(&a.dir, &format!("{name}.native"), &native)?;
                written += 1;
                if let Ok(dm) = exec.log.to_dm_log_writes_bytes() {
                    let mut seed = vec![0u8];
                    seed.extend_from_slice(&dm);
                    write(&a.dir, &format!("{name}.dm-log-writes"), &seed)?;
                    written += 1;
                }
            }
            // Written above, before the corpus is read.
            SeedTarget::MountImage => {}
        }
    }
    eprintln!(
        "{written} seeds written to {} ({approx} approximated, {skipped} skipped; max ops {max_ops})",
        a.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
