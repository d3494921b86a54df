//! `brownout import-crash FILE [-o OUT]`: turns an input that `cargo fuzz`
//! saved (a `crash-*` artifact, or any file of `fuzz/corpus/workload`)
//! into the readable workload the `workload` target ran on it, so the
//! finding reproduces with `brownout run` and shrinks with `brownout
//! minimize`.
//!
//! The bytes alone do not say which bug switches, barrier contract, crash
//! mode and operation bound the target ran under: like the target, this
//! command takes them from `BROWNOUT_BUGS`, `BROWNOUT_BARRIER`,
//! `BROWNOUT_MODE` and `BROWNOUT_MAX_OPS`; flags override them.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::campaign::corpus::known_signatures;
use crate::campaign::fuzz_targets::{
    check_workload_input, config_from_lookup, parse_bugs, ENV_BARRIER, ENV_BUGS, ENV_MAX_OPS,
    ENV_MODE,
};
use crate::campaign::reproducer::reproducer_text;
use crate::finding::Signature;
use crate::run::check::OracleOptions;
use crate::run::execute::ExecOptions;
use crate::workload::FuzzConfig;
use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct ImportCrashArgs {
    /// The libFuzzer input (e.g. fuzz/artifacts/workload/crash-…).
    pub file: PathBuf,
    /// Where to write the workload (default: print it).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Bug switch the target ran with (repeatable; default: BROWNOUT_BUGS).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Barrier contract (default: BROWNOUT_BARRIER, else stable).
    #[arg(long, value_enum)]
    pub barrier: Option<crate::cli::BarrierArg>,
    /// Crash mode (default: BROWNOUT_MODE, else prefix).
    #[arg(long, value_enum)]
    pub mode: Option<crate::cli::ModeArg>,
    /// Operation bound the target ran with (default: BROWNOUT_MAX_OPS,
    /// else 24); the bytes decode differently under another bound.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub max_ops: Option<u64>,
    /// Only decode; do not run the workload to add its finding.
    #[arg(long)]
    pub no_run: bool,
    /// Reproducers of known bugs: the finding's bucket (signature) is
    /// reported as known when one of them finds the same signature, new
    /// otherwise (what a CI job needs to tell them apart).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Print one JSON object (operations, rule, signature, known) besides
    /// writing the workload.
    #[arg(long)]
    pub json: bool,
}

/// The configuration: environment first, flags over it. A variable that a
/// flag overrides is not read at all, so a bad value there does not matter.
fn config(a: &ImportCrashArgs) -> Result<FuzzConfig> {
    let overridden = |var: &str| match var {
        ENV_BUGS => !a.bugs.is_empty(),
        ENV_BARRIER => a.barrier.is_some(),
        ENV_MODE => a.mode.is_some(),
        ENV_MAX_OPS => a.max_ops.is_some(),
        _ => false,
    };
    let mut cfg = config_from_lookup(|var| {
        if overridden(var) {
            None
        } else {
            std::env::var_os(var)
        }
    })
    .context("in the environment")?;
    if !a.bugs.is_empty() {
        cfg.bugs = parse_bugs(&cfg.target, &a.bugs.join(","))
            .map_err(|e| anyhow::anyhow!("--bug: {e}"))?;
    }
    if let Some(b) = a.barrier {
        cfg.barrier = b.into();
    }
    if let Some(m) = a.mode {
        cfg.mode = m.into();
    }
    if let Some(n) = a.max_ops {
        cfg.max_ops = n as usize;
    }
    Ok(cfg)
}

pub fn run(a: &ImportCrashArgs) -> Result<ExitCode> {
    let cfg = config(a)?;
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let mut text = format!(
        "# imported by brownout import-crash from {} ({} bytes, max ops {})\n",
        a.file.display(),
        bytes.len(),
        cfg.max_ops
    );
    let summary;
    let mut found: Option<(usize, crate::finding::Finding)> = None;
    if a.no_run {
        let w = crate::campaign::fuzz_targets::decode_for(&bytes, &cfg);
        summary = format!("{} operations (not run)", w.ops.len());
        text.push_str(&w.to_text());
    } else {
        let (w, finding) = check_workload_input(&bytes, &cfg)
            .with_context(|| format!("running the workload of {}", a.file.display()))?;
        match finding {
            Some(f) => {
                let signature = Signature::of(&cfg.target, &f);
                summary = format!(
                    "{} operations; reproduces {}; bucket `{signature}`",
                    w.ops.len(),
                    f.rule
                );
                text.push_str(&format!("# bucket: {signature}\n"));
                text.push_str(&reproducer_text(&w, &f));
                found = Some((w.ops.len(), f));
            }
            None => {
                summary = format!(
                    "{} operations; no finding under bugs `{}`, barrier {}, mode {} \
                     (are BROWNOUT_BUGS/--bug and the rest as the fuzzer ran?)",
                    w.ops.len(),
                    if cfg.bugs.is_empty() {
                        "none".to_string()
                    } else {
                        cfg.bugs.to_string()
                    },
                    cfg.barrier,
                    cfg.mode
                );
                text.push_str(&w.to_text());
            }
        }
    }
    let known = match (&a.corpus, &found) {
        (Some(dir), Some((_, f))) => {
            let signatures =
                known_signatures(dir, &ExecOptions::default(), &OracleOptions::default())
                    .map_err(anyhow::Error::msg)
                    .context("--corpus")?;
            Some(signatures.contains(&Signature::of(&cfg.target, f)))
        }
        _ => None,
    };
    let verdict = match known {
        Some(true) => " (known: a --corpus reproducer has it)",
        Some(false) => " (new: no --corpus reproducer has it)",
        None => "",
    };
    match &a.output {
        Some(out) => {
            std::fs::write(out, &text)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "{} -> {}: {summary}{verdict}",
                a.file.display(),
                out.display()
            );
        }
        None if a.json => eprintln!("{}: {summary}{verdict}", a.file.display()),
        None => {
            out!("{text}");
            eprintln!("{}: {summary}{verdict}", a.file.display());
        }
    }
    if a.json {
        let v = serde_json::json!({
            "file": a.file.display().to_string(),
            "output": a.output.as_ref().map(|p| p.display().to_string()),
            "ops": found.as_ref().map(|(n, _)| *n),
            "rule": found.as_ref().map(|(_, f)| f.rule),
            "signature": found.as_ref().map(|(_, f)| Signature::of(&cfg.target, f)),
            "known": known,
            "workload": text,
        });
        outln!("{v}");
    }
    Ok(ExitCode::SUCCESS)
}
