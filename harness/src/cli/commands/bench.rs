//! `brownout bench`: the figures that say whether brownout is fast enough,
//! measured rather than asserted by timed tests: for every bug variant,
//! the time (and executions) to its first finding from an empty corpus;
//! for the clean filesystem in each crash mode, executions/s and crash
//! states/s, and that nothing was found.
//!
//! Workloads are seeded, so the executions to a finding are reproducible;
//! the seconds depend on the machine.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use crate::run::check::OracleOptions;
use crate::run::execute::ExecOptions;
use crate::targets::embedded::variants::HUNTS;
use crate::workload::{Barrier, Bugs, CrashMode, FuzzConfig};
use anyhow::{bail, Result};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The target of the clean campaigns (the variant hunts are the
    /// embedded core's).
    #[arg(long, default_value = crate::workload::DEFAULT_TARGET)]
    pub target: String,
    /// Crash again inside recovery, to this depth, in every campaign.
    #[arg(long, default_value_t = crate::run::check::RECOVERY_CRASHES_DEFAULT, value_parser = clap::value_parser!(u32).range(0..=4))]
    pub recovery_crashes: u32,
    /// Only these variants (repeatable; default: every variant).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Longest hunt for one variant, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub hunt_time: u64,
    /// Seconds of clean fuzzing in each crash mode (0: skip).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub clean_time: u64,
    /// Skip the variant hunts.
    #[arg(long)]
    pub no_hunts: bool,
    /// Worker threads (the figures in the README are for 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: u64,
    /// Campaign seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Hunt each variant in its recipe's crash mode alone (BUGS.md), not
    /// with the default campaign's mix.
    #[arg(long)]
    pub recipe: bool,
    /// Largest number of operations per generated workload.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub max_ops: u64,
    /// Crash states continued per execution (crash and continue).
    #[arg(long, default_value_t = crate::run::continuation::CONTINUE_STATES_DEFAULT as u64, value_parser = clap::value_parser!(u64).range(0..=64))]
    pub continue_states: u64,
}

/// One variant's hunt.
#[derive(Serialize)]
struct HuntFigure {
    bug: &'static str,
    mode: CrashMode,
    found: bool,
    /// The rule of the first finding, and whether BUGS.md expects it.
    rule: Option<&'static str>,
    expected_rule: bool,
    execs: u64,
    seconds: f64,
}

/// One clean campaign.
#[derive(Serialize)]
struct CleanFigure {
    mode: CrashMode,
    barrier: String,
    execs: u64,
    crash_states: u64,
    /// Crash states inside recoveries (`--recovery-crashes`), on top.
    recovery_states: u64,
    seconds: f64,
    execs_per_s: f64,
    crash_states_per_s: f64,
    findings: usize,
}

#[derive(Serialize)]
struct Report {
    jobs: u64,
    seed: u64,
    hunts: Vec<HuntFigure>,
    clean: Vec<CleanFigure>,
}

fn campaign(
    a: &BenchArgs,
    target: &str,
    bugs: Bugs,
    barrier: Barrier,
    mode: CrashMode,
    secs: u64,
    keep_going: bool,
) -> Summary {
    // The hunts run the default campaign (`fuzz` without `--mode`) unless
    // `--recipe` asks for each variant's own mode alone.
    let passes = match (keep_going, a.recipe) {
        (false, false) => crate::run::check::DEFAULT_PASSES.to_vec(),
        _ => Vec::new(),
    };
    let opts = FuzzOptions {
        config: FuzzConfig {
            target: target.to_string(),
            bugs,
            barrier,
            mode,
            max_ops: a.max_ops as usize,
        },
        seed: a.seed,
        execs: None,
        time: Some(Duration::from_secs(secs)),
        jobs: a.jobs as usize,
        keep_going,
        exec: ExecOptions::default(),
        oracle: OracleOptions {
            seed: a.seed,
            recovery_crashes: a.recovery_crashes,
            continue_states: a.continue_states as usize,
            passes,
            ..OracleOptions::default()
        },
        seeds: Vec::new(),
    };
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}

pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    let target = crate::campaign::registry::lookup(&a.target).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown target `{}` (known: {})",
            a.target,
            crate::campaign::registry::names()
        )
    })?;
    let only: Vec<&str> = a.bugs.iter().map(String::as_str).collect();
    Bugs::from_iter(only.iter().copied())
        .validate(target.info())
        .map_err(anyhow::Error::msg)?;
    let hunts = a.target == crate::targets::embedded::NAME && !a.no_hunts;
    let mut report = Report {
        jobs: a.jobs,
        seed: a.seed,
        hunts: Vec::new(),
        clean: Vec::new(),
    };
    if hunts {
        for h in HUNTS
            .iter()
            .filter(|h| only.is_empty() || only.contains(&h.bug.name()))
        {
            let s = campaign(
                a,
                &a.target,
                Bugs::one(h.bug.name()),
                h.barrier,
                if a.recipe { h.mode } else { CrashMode::Prefix },
                a.hunt_time,
                false,
            );
            if let Some(e) = s.error {
                bail!("hunting {}: {e}", h.bug);
            }
            let first = s.found.first();
            let fig = HuntFigure {
                bug: h.bug.name(),
                mode: h.mode,
                found: first.is_some(),
                rule: first.map(|c| c.finding.rule.name()),
                expected_rule: first.is_some_and(|c| h.rules.contains(&c.finding.rule)),
                execs: s.execs,
                seconds: s.elapsed_s,
            };
            if !a.json {
                outln!(
                    "{:<30} {:<8} {:<18} {:>7} execs {:>7.2} s",
                    fig.bug,
                    if a.recipe { fig.mode.name() } else { "default" },
                    match (fig.rule, fig.expected_rule) {
                        (Some(r), true) => r.to_string(),
                        (Some(r), false) => format!("{r} (unexpected)"),
                        (None, _) => "NOT FOUND".to_string(),
                    },
                    fig.execs,
                    fig.seconds
                );
            }
            report.hunts.push(fig);
        }
    }
    if a.clean_time > 0 {
        let runs = [
            (CrashMode::Prefix, Barrier::Stable),
            (CrashMode::Reorder, Barrier::Stable),
            (CrashMode::Torn, Barrier::Stable),
            (CrashMode::Reorder, Barrier::Complete),
        ];
        // The barrier contract is direct I/O's: one run per mode elsewhere.
        let dio = target.info().supports("dio-wait");
        for (mode, barrier) in runs.into_iter().filter(|r| dio || r.1 == Barrier::Stable) {
            let s = campaign(
                a,
                &a.target,
                Bugs::none(),
                barrier,
                mode,
                a.clean_time,
                true,
            );
            if let Some(e) = s.error {
                bail!("clean {mode}: {e}");
            }
            let fig = CleanFigure {
                mode,
                barrier: barrier.to_string(),
                execs: s.execs,
                crash_states: s.crash_states,
                recovery_states: s.recovery_states,
                seconds: s.elapsed_s,
                execs_per_s: s.execs_per_s,
                crash_states_per_s: s.crash_states_per_s,
                findings: s.found.len(),
            };
            if !a.json {
                let barrier = if dio {
                    format!(" barrier {:<9}", fig.barrier)
                } else {
                    String::new()
                };
                let recovery = if fig.seconds > 0.0 {
                    fig.recovery_states as f64 / fig.seconds
                } else {
                    0.0
                };
                outln!(
                    "clean {:<8}{barrier} {:>8.1} execs/s {:>9.0} crash states/s (+{recovery:.0}/s inside recoveries) {} finding(s)",
                    mode.name(),
                    fig.execs_per_s,
                    fig.crash_states_per_s,
                    fig.findings
                );
            }
            report.clean.push(fig);
        }
    }
    if a.json {
        outln!("{}", serde_json::to_string(&report)?);
    }
    let missed = report.hunts.iter().any(|h| !h.found);
    let false_positive = report.clean.iter().any(|c| c.findings > 0);
    Ok(if missed || false_positive {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
