//! The `brownout` command line, for any list of targets: a user's own
//! binary gets all of it from
//!
//! ```no_run
//! # use brownout::Target;
//! # fn my_targets() -> Vec<&'static dyn Target> { Vec::new() }
//! fn main() -> std::process::ExitCode {
//!     brownout::cli::main(&my_targets())
//! }
//! ```
//!
//! Exit status: 0 no finding, 1 finding(s), 2 error (bad input, I/O).

use crate::campaign::fuzz_loop::{fuzz_with, Counters, FuzzOptions, Summary};
use crate::campaign::registry::run_workload;
use crate::campaign::reproducer;
use crate::finding::Finding;
use crate::run::check::OracleOptions;
use crate::run::execute::ExecOptions;
use crate::run::target::Target;
use crate::workload::{Barrier, Bugs};
use crate::workload::{CrashMode, FuzzConfig, Workload};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `println!` that hands a failed write (the reader of a pipe went away:
/// `brownout run … | head -1`) back as an error, which `main` ends
/// quietly on, where `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!`, the same way as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

pub mod commands {
    pub mod bench;
    pub mod convert;
    pub mod export_seeds;
    pub mod import_crash;
    pub mod replay;
}

#[derive(Parser, Debug)]
#[command(
    name = "brownout",
    version,
    about = "Crash-consistency fuzzing for filesystem cores: acknowledged-stable data must survive every crash state"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fuzz a target (default: the embedded filesystem core; stable Rust,
    /// no setup).
    Fuzz(FuzzArgs),
    /// Run workload files and check every crash state.
    Run(RunArgs),
    /// Check a corpus: clean cases stay clean, reproducers still reproduce.
    Corpus(CorpusArgs),
    /// Shrink a failing workload to a small readable reproducer of the same
    /// finding (same rule, same file).
    Minimize(MinimizeArgs),
    /// List the bug switches of a target (default: the embedded core).
    Bugs(BugsArgs),
    /// List the targets: name, version, device model, vocabulary, contract.
    Targets(TargetsArgs),
    /// Print the timeline of a workload's execution: operations, block
    /// requests, completions and acknowledgement marks, by log position.
    Show(ShowArgs),
    /// Check every crash state of a recorded block log (native or Linux
    /// dm-log-writes), optionally with an external check command.
    Replay(commands::replay::ReplayArgs),
    /// Convert a log between the native and dm-log-writes formats.
    Convert(commands::convert::ConvertArgs),
    /// Measure: time to the first finding of each bug variant, and clean
    /// executions/s and crash states/s in each crash mode.
    Bench(commands::bench::BenchArgs),
    /// Turn an input saved by `cargo fuzz` (workload target) into the
    /// readable workload it ran (config from BROWNOUT_* or flags).
    ImportCrash(commands::import_crash::ImportCrashArgs),
    /// Write the readable corpus as libFuzzer seed inputs.
    ExportSeeds(commands::export_seeds::ExportSeedsArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    Prefix,
    Reorder,
    Torn,
}

impl From<ModeArg> for CrashMode {
    fn from(m: ModeArg) -> CrashMode {
        match m {
            ModeArg::Prefix => CrashMode::Prefix,
            ModeArg::Reorder => CrashMode::Reorder,
            ModeArg::Torn => CrashMode::Torn,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BarrierArg {
    Complete,
    Stable,
}

impl From<BarrierArg> for Barrier {
    fn from(b: BarrierArg) -> Barrier {
        match b {
            BarrierArg::Complete => Barrier::Complete,
            BarrierArg::Stable => Barrier::Stable,
        }
    }
}

#[derive(Args, Debug)]
struct BugsArgs {
    /// The target whose switches to list.
    #[arg(long, default_value = crate::workload::DEFAULT_TARGET)]
    target: String,
}

#[derive(Args, Debug)]
struct TargetsArgs {
    /// Print a JSON array of objects.
    #[arg(long)]
    json: bool,
}

/// Options shared by every command that checks crash states.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// Crash again inside recovery's own writes, to this depth (0: off).
    #[arg(long, default_value_t = crate::run::check::RECOVERY_CRASHES_DEFAULT, value_parser = clap::value_parser!(u32).range(0..=4))]
    recovery_crashes: u32,
    /// Crash states per execution after which the rest of the workload
    /// runs on the recovered filesystem, whose crash states are checked
    /// in turn (crash and continue; 0: off).
    #[arg(long, value_name = "N", default_value_t = crate::run::continuation::CONTINUE_STATES_DEFAULT as u64, value_parser = clap::value_parser!(u64).range(0..=64))]
    continue_states: u64,
    /// Tear granularity of torn writes, in bytes (a multiple of 512).
    #[arg(long, value_name = "BYTES", default_value_t = 512, value_parser = parse_tear)]
    tear: u64,
    /// Most volatile writes at one point before `reorder` samples subsets.
    #[arg(long, default_value_t = crate::run::check::MAX_VOLATILE_DEFAULT as u64, value_parser = clap::value_parser!(u64).range(1..=16))]
    max_volatile: u64,
    /// Subsets sampled per point when there are more volatile writes.
    #[arg(long, default_value_t = crate::run::check::SAMPLES_DEFAULT as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    samples: u64,
    /// Torn variants per reorder subset in torn mode: every tear of the
    /// newest pending write first, then a seeded sample (0: every tear
    /// point of every pending write).
    #[arg(long, value_name = "N", default_value_t = crate::run::check::TEAR_BUDGET_DEFAULT, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    tears: u64,
    /// Step budget of the filesystem's mount and wait loops.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    step_budget: u64,
}

/// `--tear`: a positive multiple of the 512-byte sector.
fn parse_tear(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("expected a number of bytes, found `{s}`"))?;
    if n == 0 || !n.is_multiple_of(512) || n > 1 << 20 {
        return Err(format!(
            "{n} is not a multiple of 512 between 512 and 1048576 (512: sectors, 4096: pages)"
        ));
    }
    Ok(n)
}

impl CheckArgs {
    fn exec(&self) -> ExecOptions {
        ExecOptions {
            step_budget: self.step_budget,
        }
    }
    fn oracle(&self, jobs: usize, seed: u64) -> OracleOptions {
        OracleOptions {
            jobs,
            max_volatile: self.max_volatile as usize,
            samples: self.samples as usize,
            seed,
            only_state: None,
            save_image: None,
            recovery_crashes: self.recovery_crashes,
            tear_bytes: self.tear,
            continue_states: self.continue_states as usize,
            passes: Vec::new(),
            tear_budget: (self.tears > 0).then_some(self.tears),
            deadline: None,
        }
    }
}

/// The target called `name`, or an error listing the known ones.
fn target_named(name: &str) -> Result<&'static dyn Target> {
    let target = target_known(name)?;
    if let Err(why) = target.available() {
        anyhow::bail!("target `{name}` cannot run here: {why}");
    }
    Ok(target)
}

/// [`target_named`] without asking whether it can run here (for listings).
fn target_known(name: &str) -> Result<&'static dyn Target> {
    crate::campaign::registry::lookup(name).with_context(|| {
        format!(
            "unknown target `{name}` (known: {}; see `brownout targets`)",
            crate::campaign::registry::names()
        )
    })
}

#[derive(Args, Debug)]
struct FuzzArgs {
    /// The target to fuzz (see `brownout targets`).
    #[arg(long, default_value = crate::workload::DEFAULT_TARGET)]
    target: String,
    /// Turn a bug variant on (repeatable; see `brownout bugs`).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// The barrier contract the filesystem declares.
    #[arg(long, value_enum, default_value = "stable")]
    barrier: BarrierArg,
    /// Check only this crash mode's states (default: every prefix state,
    /// plus at every position the states that lose the volatile cache and
    /// a few torn writes; see the README's "Crash modes").
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    time: Option<u64>,
    /// Stop after this many executions.
    #[arg(long, value_name = "N")]
    execs: Option<u64>,
    /// Seed of the campaign (same seed, same workloads).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Largest number of operations per generated workload (most stay
    /// at 24 or fewer; one in eight may reach this).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=512))]
    max_ops: u64,
    /// Where reproducers are written.
    #[arg(long, default_value = "brownout-out")]
    out: PathBuf,
    /// Seed workloads: every `*.workload` file of DIR runs first (under this
    /// campaign's switches, barrier and mode), then mutations of them
    /// alternate with fresh workloads.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Keep fuzzing after a finding: findings are grouped into buckets by
    /// signature, one reproducer per bucket.
    #[arg(long)]
    keep_going: bool,
    /// With --keep-going: leave each bucket's reproducer as found instead
    /// of minimising it when the campaign ends.
    #[arg(long)]
    no_minimize: bool,
    /// Print one JSON summary object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Run on this target instead of the one the workload's `target:`
    /// header names.
    #[arg(long)]
    target: Option<String>,
    /// Workload files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Check only this crash state (its id from a finding).
    #[arg(long)]
    state: Option<String>,
    /// With --state: also write that crash state's device image to this
    /// file (raw bytes, as the crash left them, before recovery), to
    /// inspect with the target's own tools (xfs_db, debugfs, ...).
    #[arg(long, value_name = "PATH", requires = "state")]
    save_image: Option<PathBuf>,
    /// Worker threads for crash-state checking (0 = one per core).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1024))]
    jobs: usize,
    /// Print one JSON object per file.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(Args, Debug)]
struct MinimizeArgs {
    /// Run on this target instead of the one the workload's `target:`
    /// header names.
    #[arg(long)]
    target: Option<String>,
    /// The failing workload file.
    file: PathBuf,
    /// Where to write the result (default: print it).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Most candidate workloads to run.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    budget: u64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// Run on this target instead of the one the workload's `target:`
    /// header names.
    #[arg(long)]
    target: Option<String>,
    /// A workload file.
    file: PathBuf,
    /// Include mkfs and the first mount.
    #[arg(long)]
    all: bool,
    /// Check this crash state (its id from a finding) and show its finding
    /// under the timeline. A continuation's state (`OUTER+INNER`, or
    /// `OUTER+` for its run) shows that continuation instead: the recovery
    /// of state OUTER, then the operations it ran.
    #[arg(long)]
    state: Option<String>,
    /// Also write the block log shown (native format) here.
    #[arg(long, value_name = "PATH")]
    log_out: Option<PathBuf>,
    /// Also check the crash states and write the finding as a picture: a
    /// self-contained SVG timeline (operations, block requests, marks, the
    /// crash point, the writes it kept and dropped).
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CorpusArgs {
    /// Run on this target instead of the one the workload's `target:`
    /// header names.
    #[arg(long)]
    target: Option<String>,
    /// The corpus directory (every `*.workload` file in it).
    dir: PathBuf,
    /// Print one JSON object per case.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    check: CheckArgs,
}

/// Calls [`Target::release`] on every registered target when dropped.
struct ReleaseTargets;

impl Drop for ReleaseTargets {
    fn drop(&mut self) {
        for t in crate::campaign::registry::all() {
            t.release();
        }
    }
}

/// Set by Ctrl-C: the fuzz campaign stops.
static STOP: AtomicBool = AtomicBool::new(false);
/// Whether Ctrl-C was pressed.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The `brownout` command line over the built-in targets and `targets`
/// (registered first, so a workload file can name them).
pub fn main(targets: &[&'static dyn Target]) -> ExitCode {
    for &t in targets {
        crate::campaign::registry::register(t);
    }
    let cli = Cli::parse();
    // Targets give back their devices and mounts however this ends.
    let _release = ReleaseTargets;
    let result = match cli.command {
        Command::Fuzz(a) => cmd_fuzz(a),
        Command::Run(a) => cmd_run(a),
        Command::Corpus(a) => cmd_corpus(a),
        Command::Replay(a) => commands::replay::run(&a),
        Command::Show(a) => cmd_show(a),
        Command::Minimize(a) => cmd_minimize(a),
        Command::Convert(a) => commands::convert::run(&a),
        Command::Bench(a) => commands::bench::run(&a),
        Command::ImportCrash(a) => commands::import_crash::run(&a),
        Command::ExportSeeds(a) => commands::export_seeds::run(&a),
        Command::Bugs(a) => cmd_bugs(&a),
        Command::Targets(a) => cmd_targets(&a),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`brownout replay --list | head`): not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brownout: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn cmd_bugs(a: &BugsArgs) -> Result<ExitCode> {
    let t = target_known(&a.target)?;
    if t.info().bugs.is_empty() {
        outln!("{} has no bug switches", a.target);
    }
    for bug in &t.info().bugs {
        outln!("{:<30} {}", bug.name, bug.summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_targets(a: &TargetsArgs) -> Result<ExitCode> {
    let all = crate::campaign::registry::all();
    if a.json {
        let infos: Vec<&crate::target::TargetInfo> = all.iter().map(|t| t.info()).collect();
        outln!("{}", serde_json::to_string(&infos)?);
        return Ok(ExitCode::SUCCESS);
    }
    for t in all {
        let i = t.info();
        outln!(
            "{:<18} {:<8} device {:<5} vocabulary {:<3} {} bug switch(es)",
            i.name,
            i.version,
            i.device.name(),
            i.vocabulary.name(),
            i.bugs.len()
        );
        outln!("    operations:  {}", i.ops.join(" "));
        for s in &i.settings {
            outln!("    setting:      {} ({})", s.name, s.summary);
        }
        outln!("    acknowledges: {}", i.contract.acknowledges);
        outln!("    atomic:       {}", i.contract.atomicity);
        if i.vocabulary == crate::target::Vocabulary::Fs {
            outln!(
                "    files:        {}",
                match i.contract.file_updates {
                    crate::target::FileUpdates::InPlace => "written in place (POSIX)",
                    crate::target::FileUpdates::CopyOnWrite =>
                        "copy on write: one of the committed trees after a crash",
                }
            );
        }
        outln!(
            "    recovery:     {}",
            if i.contract.recovery_must_succeed {
                "must always succeed"
            } else {
                "may refuse a damaged image"
            }
        );
        if let Err(why) = t.available() {
            outln!("    not here:     {why}");
        }
    }
    for (name, how) in crate::campaign::registry::unavailable() {
        outln!("{name:<18} not in this build: {how}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a workload file and, with `target`, moves it onto that target
/// (checking its operations against the target's vocabulary).
fn load_workload_for(path: &Path, target: Option<&str>) -> Result<Workload> {
    let mut w = load_workload(path)?;
    if let Some(name) = target {
        let t = target_named(name)?;
        w.header.target = name.to_string();
        if let Err((op, e)) = w.validate_for(t.info()) {
            let at = op.map(|i| format!(" (operation #{i})")).unwrap_or_default();
            bail!("{}{at}: {e}", path.display());
        }
    }
    Ok(w)
}

/// Reads and parses a workload file; errors name the file and line.
pub(crate) fn load_workload(path: &Path) -> Result<Workload> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let w = crate::campaign::registry::parse_workload(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}", path.display(), e))?;
    Ok(w)
}

/// The `*.workload` files of a corpus directory; none is an error.
pub(crate) fn corpus_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let files = crate::campaign::corpus::list(dir)
        .with_context(|| format!("cannot read corpus directory {}", dir.display()))?;
    if files.is_empty() {
        bail!("{}: no *.workload files", dir.display());
    }
    Ok(files)
}

fn finding_exit(any: bool) -> ExitCode {
    if any {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn cmd_fuzz(a: FuzzArgs) -> Result<ExitCode> {
    let target = target_named(&a.target)?;
    let bugs: Bugs = a.bugs.iter().map(String::as_str).collect();
    bugs.validate(target.info()).map_err(anyhow::Error::msg)?;
    if a.time == Some(0) || a.execs == Some(0) {
        bail!("--time and --execs must be at least 1");
    }
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 || jobs > 1024 {
        bail!("--jobs must be between 1 and 1024");
    }
    let config = FuzzConfig {
        target: a.target.clone(),
        bugs,
        barrier: a.barrier.into(),
        mode: a.mode.map_or(CrashMode::Prefix, Into::into),
        max_ops: a.max_ops as usize,
    };
    let mut seeds = Vec::new();
    if let Some(dir) = &a.corpus {
        for path in &corpus_files(dir)? {
            let seed = load_workload(path)?;
            // Another target's workloads are not seeds of this campaign.
            if seed.header.target != config.target {
                continue;
            }
            seeds.push(crate::campaign::mutate::as_seed(seed, &config));
        }
        if seeds.is_empty() {
            bail!(
                "{}: no workload for target {} (their `target:` headers name others)",
                dir.display(),
                config.target
            );
        }
    }
    let opts = FuzzOptions {
        config,
        seeds,
        seed: a.seed,
        execs: a.execs,
        time: a.time.map(Duration::from_secs),
        jobs,
        keep_going: a.keep_going,
        exec: a.check.exec(),
        oracle: OracleOptions {
            passes: match a.mode {
                None => crate::run::check::DEFAULT_PASSES.to_vec(),
                Some(_) => Vec::new(),
            },
            ..a.check.oracle(1, a.seed)
        },
    };
    if a.out.exists() && !a.out.is_dir() {
        bail!("--out {}: exists and is not a directory", a.out.display());
    }
    let counters = Counters::default();
    let stop = &STOP;
    // Ctrl-C stops the workers after their current execution; the summary
    // is printed and every reproducer already written stays. A second
    // Ctrl-C exits at once.
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // A second signal (`timeout` forwards one more): out now,
            // giving back what the targets hold idle; a device still in
            // use is swept by the next run of its target.
            for t in crate::campaign::registry::all() {
                t.release();
            }
            std::process::exit(130);
        }
        STOP.store(true, Ordering::SeqCst);
    })
    .context("cannot install the Ctrl-C handler")?;
    let show_progress = !a.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary = std::thread::scope(|s| {
        let campaign = s.spawn(|| fuzz_with(&opts, &counters, stop, Some(&a.out), &run_workload));
        if show_progress {
            let bar = indicatif::ProgressBar::new_spinner();
            let start = std::time::Instant::now();
            while !campaign.is_finished() {
                let secs = start.elapsed().as_secs_f64().max(1e-3);
                let execs = counters.execs.load(Ordering::Relaxed);
                let states = counters.crash_states.load(Ordering::Relaxed);
                bar.set_message(format!(
                    "{execs} execs ({:.0}/s), {states} crash states ({:.0}/s), {} findings",
                    execs as f64 / secs,
                    states as f64 / secs,
                    counters.findings.load(Ordering::Relaxed)
                ));
                bar.tick();
                std::thread::sleep(Duration::from_millis(200));
            }
            bar.finish_and_clear();
        }
        campaign.join()
    });
    let mut summary =
        summary.map_err(|_| anyhow::anyhow!("internal error: the fuzz loop panicked"))?;
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    if a.keep_going && !a.no_minimize && !interrupted && summary.error.is_none() {
        minimize_buckets(&mut summary, &opts, &a.out, show_progress);
    }
    // Reproducers were written by the workers, before the findings were
    // counted: report them now.
    let mut reported: Vec<serde_json::Value> = Vec::new();
    for case in &summary.found {
        let mut finding = case.finding.clone();
        if let Some(path) = &case.reproducer {
            finding.reproduce = Some(reproduce_command(path, &finding));
        }
        if !a.json {
            outln!("{finding}");
        }
        let mut v = serde_json::to_value(&finding)?;
        v["exec"] = case.exec.into();
        v["secs"] = case.secs.into();
        v["reproducer"] = case
            .reproducer
            .as_ref()
            .map(|p| p.display().to_string())
            .into();
        reported.push(v);
    }
    let buckets: Vec<serde_json::Value> = summary
        .buckets
        .iter()
        .map(|b| {
            serde_json::json!({
                "signature": b.signature,
                "count": b.count,
                "first_exec": b.first_exec,
                "first_secs": b.first_secs,
                "known": b.known,
                "rule": b.case.finding.rule,
                "ops": b.case.workload.ops.len(),
                "reproducer": b.case.reproducer.as_ref().map(|p| p.display().to_string()),
            })
        })
        .collect();
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        v["findings"] = reported.into();
        v["buckets"] = buckets.into();
        v["interrupted"] = interrupted.into();
        outln!("{v}");
    } else {
        if a.keep_going && !summary.buckets.is_empty() {
            outln!("buckets (one per signature; hits, first seen, reproducer):");
            for b in &summary.buckets {
                outln!(
                    "  {:>6}  exec {:<6} {:>7.1} s  {}{}",
                    b.count,
                    b.first_exec,
                    b.first_secs,
                    b.signature,
                    if b.known {
                        "  (known: in --corpus)"
                    } else {
                        ""
                    }
                );
                if let Some(path) = &b.case.reproducer {
                    outln!("          {}", reproduce_command(path, &b.case.finding));
                }
            }
        }
        outln!(
            "{} executions, {} crash states (and {} inside recoveries) in {:.1} s ({:.0} execs/s, {:.0} states/s), {} finding(s){}{}",
            summary.execs,
            summary.crash_states,
            summary.recovery_states,
            summary.elapsed_s,
            summary.execs_per_s,
            summary.crash_states_per_s,
            summary.buckets.iter().map(|b| b.count).sum::<u64>(),
            if a.keep_going {
                format!(" in {} bucket(s)", summary.buckets.len())
            } else {
                String::new()
            },
            if interrupted { " (interrupted)" } else { "" }
        );
        outln!(
            "memory per execution: log at most {} bytes ({} entries), device image {} bytes, at most {} operations",
            summary.max_log_bytes, summary.max_log_entries, summary.image_bytes, summary.max_ops
        );
    }
    if let Some(e) = summary.error {
        bail!("{e}");
    }
    Ok(finding_exit(!summary.found.is_empty()))
}

fn reproduce_command(path: &Path, finding: &Finding) -> String {
    match &finding.state {
        Some(state) => format!("brownout run {} --state {state}", path.display()),
        None => format!("brownout run {}", path.display()),
    }
}

fn cmd_run(a: RunArgs) -> Result<ExitCode> {
    if a.state.is_some() && a.files.len() != 1 {
        bail!(
            "--state names a crash state of one workload; give exactly one file (got {})",
            a.files.len()
        );
    }
    let mut any = false;
    for path in &a.files {
        let w = load_workload_for(path, a.target.as_deref())?;
        let mut oo = a.check.oracle(a.jobs, 0);
        oo.only_state = a.state.clone();
        oo.save_image = a.save_image.clone();
        let outcome = run_workload(&w, &a.check.exec(), &oo)
            .with_context(|| format!("{}", path.display()))?;
        if a.json {
            let v = serde_json::json!({
                "file": path.display().to_string(),
                "finding": outcome.finding,
                "log_entries": outcome.log_entries,
                "states_enumerated": outcome.states_enumerated,
                "states_checked": outcome.states_checked,
                "recovery_states": outcome.recovery_states,
            });
            outln!("{v}");
        } else {
            match &outcome.finding {
                Some(f) => {
                    let mut f = f.clone();
                    f.reproduce = Some(reproduce_command(path, &f));
                    outln!("{}: {f}", path.display());
                }
                None => outln!(
                    "{}: clean ({} log entries, {} crash states checked, {} inside recoveries)",
                    path.display(),
                    outcome.log_entries,
                    outcome.states_checked,
                    outcome.recovery_states
                ),
            }
        }
        any |= outcome.finding.is_some();
    }
    Ok(finding_exit(any))
}

fn cmd_corpus(a: CorpusArgs) -> Result<ExitCode> {
    let cases = corpus_files(&a.dir)?;
    let mut failures = 0;
    for path in &cases {
        let w = load_workload_for(path, a.target.as_deref())?;
        let verdict =
            crate::campaign::corpus::check_case(&w, &a.check.exec(), &a.check.oracle(1, 0))
                .with_context(|| format!("{}", path.display()))?;
        if a.json {
            outln!(
                "{}",
                serde_json::json!({
                    "file": path.display().to_string(),
                    "expect": w.header.expect.map(|r| r.name()),
                    "ok": verdict.ok,
                    "detail": verdict.detail,
                })
            );
        } else {
            let mark = if verdict.ok { "ok  " } else { "FAIL" };
            outln!("{mark} {} — {}", path.display(), verdict.detail);
        }
        if !verdict.ok {
            failures += 1;
        }
    }
    if !a.json {
        outln!("{} passed, {} failed", cases.len() - failures, failures);
    }
    Ok(finding_exit(failures > 0))
}

fn cmd_show(a: ShowArgs) -> Result<ExitCode> {
    let w = load_workload_for(&a.file, a.target.as_deref())?;
    let target = target_named(&w.header.target)?;
    let eo = ExecOptions::default();
    let oo = OracleOptions {
        only_state: a.state.clone(),
        ..OracleOptions::default()
    };
    // The picture and `--state` show the finding of the check (crash
    // states included), as `brownout run` reports it; the text alone needs
    // only the execution. Either way the workload runs once, and once more
    // for a continuation.
    let (exec, finding) = if a.svg.is_some() || a.state.is_some() {
        let outcome =
            run_workload(&w, &eo, &oo).with_context(|| format!("{}", a.file.display()))?;
        (outcome.execution, outcome.finding)
    } else {
        let exec = target.execute(&w, &eo);
        let finding = exec.finding.clone();
        (exec, finding)
    };
    let continuation = a.state.as_deref().and_then(|s| s.split_once('+'));
    let (shown, exec, continued_from) = match continuation {
        None => (w, exec, None),
        Some((outer, _)) => {
            let resumed = target
                .resume(&w, &eo, &oo)
                .with_context(|| format!("{}", a.file.display()))?;
            let Some(r) = resumed else {
                outln!(
                    "the continuation after crash state {outer} did not run: its recovery \
                     failed, or left nothing to continue from"
                );
                if let Some(f) = &finding {
                    outln!("{f}");
                }
                return Ok(finding_exit(finding.is_some()));
            };
            outln!(
                "== the continuation after crash state {outer}: its recovery, then operations #{} on",
                r.first_op
            );
            (r.workload, r.exec, Some(r.first_op))
        }
    };
    out!(
        "{}",
        crate::run::show::timeline(&shown, &exec, a.all, continued_from)
    );
    if let Some(f) = &finding {
        outln!("{f}");
    }
    if let Some(path) = &a.log_out {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        exec.log
            .write_native(std::io::BufWriter::new(file))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &a.svg {
        let svg = crate::run::svg::render(&shown, &exec, finding.as_ref(), continued_from);
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(finding_exit(finding.is_some()))
}

/// Most candidate runs when minimising one bucket's reproducer at the end
/// of a campaign (`brownout minimize`'s own default is larger).
const BUCKET_MINIMIZE_BUDGET: usize = 500;

/// Minimises each bucket's reproducer, keeping its signature, and puts the
/// smaller file in place of the one found. A minimisation that fails
/// leaves the reproducer as found (and says so).
fn minimize_buckets(summary: &mut Summary, opts: &FuzzOptions, out: &Path, progress: bool) {
    for (k, bucket) in summary.buckets.iter_mut().enumerate() {
        if progress {
            eprint!("\rminimising bucket {} of {}", k + 1, summary.found.len());
        }
        let case = &mut bucket.case;
        let shrunk = crate::guard::catch(|| {
            crate::campaign::minimize::minimize_in_bucket(
                &case.workload,
                &opts.exec,
                &opts.oracle,
                BUCKET_MINIMIZE_BUDGET,
            )
        });
        let m = match shrunk {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                eprintln!("brownout: bucket `{}` left as found: {e}", bucket.signature);
                continue;
            }
            Err(report) => {
                eprintln!(
                    "brownout: bucket `{}` left as found: {report}",
                    bucket.signature
                );
                continue;
            }
        };
        if m.workload.ops.len() >= case.workload.ops.len()
            && m.workload.to_text().len() >= case.workload.to_text().len()
        {
            continue;
        }
        let saved = match reproducer::save(out, &m.workload, &m.finding) {
            Ok(path) => path,
            Err(e) => {
                eprintln!(
                    "brownout: cannot write a reproducer into {}: {e}",
                    out.display()
                );
                continue;
            }
        };
        crate::campaign::bucket::remove_superseded(case.reproducer.as_deref(), Some(&saved));
        case.workload = m.workload;
        case.finding = m.finding;
        case.reproducer = Some(saved);
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    summary.found = summary.buckets.iter().map(|b| b.case.clone()).collect();
}

fn cmd_minimize(a: MinimizeArgs) -> Result<ExitCode> {
    let w = load_workload_for(&a.file, a.target.as_deref())?;
    let before_ops = w.ops.len();
    let before_bytes = w.to_text().len();
    // Sizes compare workload texts, without the finding's comment lines.
    let m = crate::campaign::minimize::minimize(
        &w,
        &a.check.exec(),
        &a.check.oracle(1, 0),
        a.budget as usize,
    )
    .with_context(|| format!("{}", a.file.display()))?;
    let text = reproducer::reproducer_text(&m.workload, &m.finding);
    if let Some(out) = &a.output {
        std::fs::write(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let after_ops = m.workload.ops.len();
    let after_bytes = m.workload.to_text().len();
    if a.json {
        outln!(
            "{}",
            serde_json::json!({
                "ops_before": before_ops,
                "ops_after": after_ops,
                "bytes_before": before_bytes,
                "bytes_after": after_bytes,
                "runs": m.runs,
                "finding": m.finding,
            })
        );
    } else {
        if a.output.is_none() {
            out!("{text}");
        }
        eprintln!(
            "minimized {}: {before_ops} -> {after_ops} operations, {before_bytes} -> {after_bytes} bytes ({} runs); {}",
            a.file.display(),
            m.runs,
            m.finding.rule
        );
    }
    Ok(ExitCode::SUCCESS)
}
