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
    /// Most volatile writes at one point before `reorder` and `torn`
    /// sample subsets (as `fuzz --max-volatile`).
    #[arg(long, default_value_t = crate::run::check::MAX_VOLATILE_DEFAULT as u64, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub max_volatile: u64,
    /// Subsets sampled per point above that (as `fuzz --samples`).
    #[arg(long, default_value_t = crate::run::check::SAMPLES_DEFAULT as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub samples: u64,
    /// Torn variants per subset in torn mode (as `fuzz --tears`; 0: all).
    #[arg(long, value_name = "N", default_value_t = crate::run::check::TEAR_BUDGET_DEFAULT, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub tears: u64,
    /// Compare with a baseline written by `bench --json` (for CI): exit 1
    /// when a clean campaign's executions/s fell by more than
    /// `--tolerance`, or a variant the baseline found is no longer found.
    #[arg(long, value_name = "BASELINE")]
    pub compare: Option<std::path::PathBuf>,
    /// Measure how clean prefix fuzzing scales instead: executions/s at
    /// each of these job counts (`--clean-time` seconds each), e.g.
    /// `1,2,4,8,16` on a larger machine.
    #[arg(long, conflicts_with = "compare", value_name = "JOBS,...", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub scaling: Vec<u64>,
    /// Largest drop of executions/s `--compare` accepts, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 25, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub tolerance: u64,
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

/// One point of `--scaling`.
#[derive(Serialize)]
struct ScalingFigure {
    jobs: u64,
    execs_per_s: f64,
    crash_states_per_s: f64,
    /// Executions/s over the first point's.
    speedup: f64,
    findings: usize,
}

#[allow(clippy::too_many_arguments)]
fn campaign(
    a: &BenchArgs,
    target: &str,
    bugs: Bugs,
    barrier: Barrier,
    mode: CrashMode,
    secs: u64,
    keep_going: bool,
    jobs: u64,
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
        jobs: jobs as usize,
        keep_going,
        exec: ExecOptions::default(),
        oracle: OracleOptions {
            seed: a.seed,
            recovery_crashes: a.recovery_crashes,
            continue_states: a.continue_states as usize,
            passes,
            max_volatile: a.max_volatile as usize,
            samples: a.samples as usize,
            tear_budget: (a.tears > 0).then_some(a.tears),
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
    if let Err(why) = target.available() {
        anyhow::bail!("target `{}` cannot run here: {why}", a.target);
    }
    let only: Vec<&str> = a.bugs.iter().map(String::as_str).collect();
    Bugs::from_iter(only.iter().copied())
        .validate(target.info())
        .map_err(anyhow::Error::msg)?;
    // Read first: a bad baseline should fail before minutes of fuzzing.
    let baseline = a.compare.as_deref().map(Baseline::read).transpose()?;
    if !a.scaling.is_empty() {
        return scaling(a);
    }
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
                a.jobs,
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
                a.jobs,
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
    let regressions = match &baseline {
        Some(b) => b.regressions(&report, a.tolerance),
        None => Vec::new(),
    };
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        if baseline.is_some() {
            v["regressions"] = serde_json::to_value(&regressions)?;
        }
        outln!("{v}");
    } else if let Some(path) = &a.compare {
        match regressions.is_empty() {
            true => outln!(
                "no regression against {} (tolerance {}%)",
                path.display(),
                a.tolerance
            ),
            false => {
                for r in &regressions {
                    outln!("REGRESSION {r}");
                }
            }
        }
    }
    let missed = report.hunts.iter().any(|h| !h.found);
    let false_positive = report.clean.iter().any(|c| c.findings > 0);
    Ok(if missed || false_positive || !regressions.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--scaling`: clean prefix fuzzing at each job count.
fn scaling(a: &BenchArgs) -> Result<ExitCode> {
    let secs = a.clean_time.max(1);
    let mut figures: Vec<ScalingFigure> = Vec::new();
    for &jobs in &a.scaling {
        let s = campaign(
            a,
            &a.target,
            Bugs::none(),
            Barrier::Stable,
            CrashMode::Prefix,
            secs,
            true,
            jobs,
        );
        if let Some(e) = s.error {
            bail!("clean prefix, {jobs} jobs: {e}");
        }
        let first = figures.first().map_or(s.execs_per_s, |f| f.execs_per_s);
        let fig = ScalingFigure {
            jobs,
            execs_per_s: s.execs_per_s,
            crash_states_per_s: s.crash_states_per_s,
            speedup: if first > 0.0 {
                s.execs_per_s / first
            } else {
                0.0
            },
            findings: s.found.len(),
        };
        if !a.json {
            outln!(
                "clean prefix {:>4} jobs {:>9.1} execs/s {:>10.0} crash states/s {:>6.2}x {} finding(s)",
                fig.jobs,
                fig.execs_per_s,
                fig.crash_states_per_s,
                fig.speedup,
                fig.findings
            );
        }
        figures.push(fig);
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    if a.json {
        outln!(
            "{}",
            serde_json::json!({ "cores": cores, "seconds_each": secs, "scaling": figures })
        );
    }
    Ok(match figures.iter().any(|f| f.findings > 0) {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    })
}

/// A stored `bench --json` report, to compare a new one with.
struct Baseline {
    path: std::path::PathBuf,
    report: serde_json::Value,
}

impl Baseline {
    fn read(path: &std::path::Path) -> Result<Baseline> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--compare {}: cannot read the baseline", path.display()))?;
        let report: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "--compare {}: not a `brownout bench --json` report",
                path.display()
            )
        })?;
        if !report["clean"].is_array() || !report["hunts"].is_array() {
            bail!(
                "--compare {}: expected a `brownout bench --json` report (with `clean` and `hunts` arrays)",
                path.display()
            );
        }
        Ok(Baseline {
            path: path.to_path_buf(),
            report,
        })
    }

    /// What got worse: a clean campaign (same mode and barrier) whose
    /// executions/s fell below the baseline's by more than `tolerance`
    /// percent, a variant the baseline found and this run did not.
    fn regressions(&self, now: &Report, tolerance: u64) -> Vec<String> {
        let empty = Vec::new();
        let array = |k: &str| self.report[k].as_array().unwrap_or(&empty);
        let mut out = Vec::new();
        for c in &now.clean {
            let before = array("clean").iter().find(|b| {
                b["mode"].as_str() == Some(c.mode.name())
                    && b["barrier"].as_str() == Some(c.barrier.as_str())
            });
            let Some(before) = before.and_then(|b| b["execs_per_s"].as_f64()) else {
                continue;
            };
            let floor = before * (100 - tolerance) as f64 / 100.0;
            if c.execs_per_s < floor {
                out.push(format!(
                    "clean {} (barrier {}): {:.1} executions/s, baseline {before:.1} ({}), floor {floor:.1}",
                    c.mode.name(),
                    c.barrier,
                    c.execs_per_s,
                    self.path.display()
                ));
            }
        }
        for h in &now.hunts {
            let found_before = array("hunts")
                .iter()
                .any(|b| b["bug"].as_str() == Some(h.bug) && b["found"].as_bool() == Some(true));
            if found_before && !h.found {
                out.push(format!(
                    "{}: found in the baseline ({}), not found now",
                    h.bug,
                    self.path.display()
                ));
            }
        }
        out
    }
}
