//! The built-in fuzz loop (stable Rust, no coverage feedback): workloads
//! generated from seeded random bytes through the same structure-aware
//! generator cargo-fuzz uses, run on `rayon` workers.
//!
//! Deterministic: execution `i` runs the workload made from seed
//! `(seed, i)`, whatever thread runs it; without `keep_going` the reported
//! finding is the one of the lowest execution index (workers finish every
//! index below the first finding before stopping).
//!
//! With `keep_going`, findings are grouped into buckets by signature
//! ([`crate::campaign::bucket`]): one bucket per bug, represented by the
//! smallest workload that hit it. Nothing is lost: with an output
//! directory ([`fuzz_with`]), a worker writes a bucket's reproducer
//! ([`crate::campaign::reproducer::save`]: atomic, content-named) as soon
//! as a hit becomes its representative, before it is reported, so a
//! campaign that is interrupted or dies later keeps one file per bucket;
//! without `keep_going`, only the one finding reported is written, when the
//! workers stop, before it is reported. A panic of the filesystem
//! under test never kills a worker: it becomes a finding with the panic's
//! message and location ([`crate::guard`]); a panic in brownout's own code
//! stops the campaign with an internal error.

use crate::campaign::bucket::{remove_superseded, Added, Bucket, Buckets};
use crate::campaign::registry::run_workload;
use crate::finding::{Finding, Signature};
use crate::run::check::{mode_of_state, OracleOptions, DEFAULT_PASSES};
use crate::run::execute::ExecOptions;
use crate::run::pipeline::{Outcome, RunError};
use crate::workload::{CrashMode, FuzzConfig, Workload};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Options of a fuzz campaign.
#[derive(Clone, Debug)]
pub struct FuzzOptions {
    pub config: FuzzConfig,
    pub seed: u64,
    pub execs: Option<u64>,
    pub time: Option<Duration>,
    pub jobs: usize,
    pub keep_going: bool,
    pub exec: ExecOptions,
    pub oracle: OracleOptions,
    /// Seed workloads (`--corpus`), already given the campaign's
    /// configuration (see [`crate::campaign::mutate::as_seed`]): run first, then
    /// mutated.
    pub seeds: Vec<Workload>,
}

impl FuzzOptions {
    /// A campaign on `target` (a registered name) with the defaults of
    /// `brownout fuzz`: no bug switch, prefix crash states plus the sampled
    /// reorder and torn passes ([`DEFAULT_PASSES`]), up to 256 operations
    /// per workload (most 24 or fewer), one job, seed 0; stop it with `execs` or `time`.
    pub fn new(target: &str) -> Self {
        FuzzOptions {
            config: FuzzConfig {
                target: target.to_string(),
                max_ops: 256,
                ..FuzzConfig::default()
            },
            seed: 0,
            execs: None,
            time: None,
            jobs: 1,
            keep_going: false,
            exec: ExecOptions::default(),
            oracle: OracleOptions {
                passes: DEFAULT_PASSES.to_vec(),
                ..OracleOptions::default()
            },
            seeds: Vec::new(),
        }
    }
}

/// A finding and the workload that produced it.
#[derive(Clone, Debug)]
pub struct FoundCase {
    pub exec: u64,
    /// Seconds from the campaign's start to this finding (a measurement,
    /// for time-to-first-finding figures; nothing else depends on it).
    pub secs: f64,
    pub workload: Workload,
    pub finding: Finding,
    /// Where its reproducer was written (with an output directory).
    pub reproducer: Option<PathBuf>,
}

/// Counters shared by the workers (and read by the progress line).
#[derive(Default)]
pub struct Counters {
    pub execs: AtomicU64,
    pub crash_states: AtomicU64,
    /// Crash states inside recoveries (`--recovery-crashes`), checked on
    /// top of `crash_states`.
    pub recovery_states: AtomicU64,
    /// Of `crash_states`, those of the sampled passes of other modes.
    pub sampled_states: AtomicU64,
    /// Of `crash_states`, those of continuations after crashes.
    pub continued_states: AtomicU64,
    pub findings: AtomicU64,
    /// Largest recorded log of one execution, in bytes (native encoding).
    pub max_log_bytes: AtomicU64,
    /// Most log entries of one execution.
    pub max_log_entries: AtomicU64,
}

/// The campaign's result.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub execs: u64,
    pub crash_states: u64,
    /// Crash states inside recoveries, checked besides `crash_states`.
    pub recovery_states: u64,
    /// Of `crash_states`, those of the sampled reorder and torn passes
    /// (the rest are the workloads' own mode: prefix by default).
    pub sampled_states: u64,
    /// Of `crash_states`, those of continuations after crashes (crash and
    /// continue).
    pub continued_states: u64,
    pub elapsed_s: f64,
    pub execs_per_s: f64,
    pub crash_states_per_s: f64,
    /// Memory of one execution: the largest recorded log (bytes, native
    /// encoding) and entry count seen, and the simulated device's size,
    /// which bounds every crash image (images are copy-on-write).
    pub max_log_bytes: u64,
    pub max_log_entries: u64,
    pub image_bytes: u64,
    /// The bound on one execution's log: at most `MAX_OPS` operations of at
    /// most `MAX_IO` bytes each reach the log (plus the filesystem's own
    /// metadata and journal writes, which the device size bounds).
    pub max_ops: usize,
    /// The findings: with `keep_going`, each bucket's representative
    /// (first seen first); otherwise the one of the lowest execution.
    #[serde(skip)]
    pub found: Vec<FoundCase>,
    /// The findings by signature (with `keep_going`, every hit counted;
    /// otherwise the one finding's bucket).
    #[serde(skip)]
    pub buckets: Vec<Bucket>,
    /// Set when the campaign stopped on an error of the harness itself.
    pub error: Option<String>,
}

pub use crate::campaign::registry::generate;

/// Runs one workload of a campaign: [`run_workload`] unless a test says
/// otherwise.
pub type Runner =
    dyn Fn(&Workload, &ExecOptions, &OracleOptions) -> Result<Outcome, RunError> + Sync;

/// Runs a campaign. `stop` ends it early (Ctrl-C); `counters` are updated
/// as it goes, for a progress line.
pub fn fuzz(opts: &FuzzOptions, counters: &Counters, stop: &AtomicBool) -> Summary {
    fuzz_with(opts, counters, stop, None, &run_workload)
}

/// [`fuzz`], writing each finding's reproducer into `out` (when given) as
/// soon as a worker finds it, and running workloads with `run`.
pub fn fuzz_with(
    opts: &FuzzOptions,
    counters: &Counters,
    stop: &AtomicBool,
    out: Option<&Path>,
    run: &Runner,
) -> Summary {
    let start = Instant::now();
    let next = AtomicU64::new(0);
    // Lowest execution index with a finding (without keep_going, workers
    // stop taking indices above it).
    let first_found = AtomicU64::new(u64::MAX);
    let found: Mutex<Vec<FoundCase>> = Mutex::new(Vec::new());
    let buckets: Mutex<Buckets> = Mutex::new(Buckets::default());
    let error: Mutex<Option<String>> = Mutex::new(None);
    let out_of_time = || opts.time.is_some_and(|t| start.elapsed() >= t);
    // Crash-state checks stop at the campaign's end too.
    let oracle = OracleOptions {
        deadline: opts.time.map(|t| start + t),
        ..opts.oracle.clone()
    };

    let worker = || loop {
        if stop.load(Ordering::Relaxed) || out_of_time() {
            return;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if opts.execs.is_some_and(|n| i >= n) {
            return;
        }
        if !opts.keep_going && i > first_found.load(Ordering::Relaxed) {
            return;
        }
        let workload = crate::campaign::mutate::input(opts.seed, i, &opts.config, &opts.seeds);
        // The pipeline catches the filesystem's panics itself; this catch
        // keeps the worker alive whatever else panics.
        let finding = match crate::guard::catch(|| run(&workload, &opts.exec, &oracle)) {
            Ok(Ok(outcome)) => {
                counters
                    .crash_states
                    .fetch_add(outcome.states_checked, Ordering::Relaxed);
                counters
                    .recovery_states
                    .fetch_add(outcome.recovery_states, Ordering::Relaxed);
                counters
                    .sampled_states
                    .fetch_add(outcome.sampled_states, Ordering::Relaxed);
                counters
                    .continued_states
                    .fetch_add(outcome.continued_states, Ordering::Relaxed);
                counters
                    .max_log_bytes
                    .fetch_max(outcome.log_bytes, Ordering::Relaxed);
                counters
                    .max_log_entries
                    .fetch_max(outcome.log_entries as u64, Ordering::Relaxed);
                outcome.finding
            }
            Ok(Err(e)) => {
                set_error(&error, format!("execution {i}: {e}"));
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(report) if report.in_harness() => {
                set_error(&error, format!("execution {i}: internal error: {report}"));
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(report) => Some(crate::run::pipeline::panic_finding(&workload, &report)),
        };
        let Some(finding) = finding else {
            // Clean, unless the end came before all its states were
            // checked: then it is not an execution the campaign ran.
            if !out_of_time() {
                counters.execs.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        counters.execs.fetch_add(1, Ordering::Relaxed);
        // A state found by a sampled pass of a stronger mode: the
        // reproducer replays in that mode, where the same id names it.
        let mut workload = workload;
        let continued = finding.state.as_deref().is_some_and(|s| s.contains('+'));
        // (A continuation's state keeps the workload's mode: its outer
        // state was picked among that mode's states.)
        let state = finding.state.as_deref().filter(|_| !continued);
        // A continuation's outer state was picked with the campaign's
        // seed, and so were sampled reorder subsets and torn variants: the
        // reproducer names the seed, so that it replays without it.
        let seeded =
            continued || state.is_some_and(|s| mode_of_state(s) != Some(CrashMode::Prefix));
        if seeded {
            workload.header.seed.get_or_insert(opts.oracle.seed);
        }
        if let Some(mode) = state.and_then(mode_of_state) {
            let rank = |m| CrashMode::ALL.iter().position(|&x| x == m);
            if rank(mode) > rank(workload.header.mode) {
                workload.header.mode = mode;
            }
        }
        // A continuation's outer state was picked among the states of the
        // campaign's mix: the reproducer names the mix, so that it picks
        // the same.
        if continued
            && workload.header.mode == CrashMode::Prefix
            && opts.oracle.passes == DEFAULT_PASSES
        {
            workload.header.mix = true;
        }
        // Without keep_going only the lowest index is reported, and which
        // higher ones a worker reaches first depends on thread timing: save
        // only the candidates, and the one reported once the workers stop.
        let candidate = i < first_found.fetch_min(i, Ordering::Relaxed);
        let case = FoundCase {
            exec: i,
            secs: start.elapsed().as_secs_f64(),
            workload,
            finding,
            reproducer: None,
        };
        if opts.keep_going {
            counters.findings.fetch_add(1, Ordering::Relaxed);
            let signature = Signature::of(&opts.config.target, &case.finding);
            // An unmodified corpus seed: its bug is known.
            let known = i < opts.seeds.len() as u64;
            let mut buckets = lock(&buckets);
            let old = match buckets.add(signature.clone(), case, known) {
                Added::New => None,
                Added::Smaller(old) => old,
                Added::Counted => continue,
            };
            let rep = buckets.case_mut(&signature).expect("just added");
            rep.reproducer = save_reproducer(out, &rep.workload, &rep.finding, &error, stop);
            remove_superseded(old.as_deref(), rep.reproducer.as_deref());
            continue;
        }
        if candidate {
            counters.findings.fetch_add(1, Ordering::Relaxed);
        }
        lock(&found).push(case);
    };

    let jobs = opts.jobs.max(1);
    if jobs == 1 {
        worker();
    } else {
        match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
            Ok(pool) => {
                pool.broadcast(|_| worker());
            }
            Err(e) => set_error(&error, e.to_string()),
        }
    }

    let elapsed = start.elapsed().as_secs_f64();
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    let buckets = if opts.keep_going {
        let buckets = buckets.into_inner().unwrap_or_else(|e| e.into_inner());
        let buckets = buckets.into_sorted();
        found = buckets.iter().map(|b| b.case.clone()).collect();
        buckets
    } else {
        found.sort_by_key(|c| c.exec);
        found.truncate(1);
        if let Some(case) = found.first_mut() {
            case.reproducer = save_reproducer(out, &case.workload, &case.finding, &error, stop);
        }
        let mut one = Buckets::default();
        for case in &found {
            let signature = Signature::of(&opts.config.target, &case.finding);
            let known = case.exec < opts.seeds.len() as u64;
            one.add(signature, case.clone(), known);
        }
        one.into_sorted()
    };
    let execs = counters.execs.load(Ordering::Relaxed);
    let crash_states = counters.crash_states.load(Ordering::Relaxed);
    let rate = |n: u64| {
        if elapsed > 0.0 {
            n as f64 / elapsed
        } else {
            0.0
        }
    };
    Summary {
        execs,
        crash_states,
        recovery_states: counters.recovery_states.load(Ordering::Relaxed),
        sampled_states: counters.sampled_states.load(Ordering::Relaxed),
        continued_states: counters.continued_states.load(Ordering::Relaxed),
        elapsed_s: elapsed,
        execs_per_s: rate(execs),
        crash_states_per_s: rate(crash_states),
        max_log_bytes: counters.max_log_bytes.load(Ordering::Relaxed),
        max_log_entries: counters.max_log_entries.load(Ordering::Relaxed),
        image_bytes: crate::campaign::registry::lookup(&opts.config.target)
            .map_or(0, |t| t.info().limits.device_bytes),
        max_ops: opts.config.max_ops.clamp(1, crate::workload::MAX_OPS),
        found,
        buckets,
        error: error.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}

/// Writes a finding's reproducer into `out`, if given; a failure to write
/// it stops the campaign with an error.
fn save_reproducer(
    out: Option<&Path>,
    workload: &Workload,
    finding: &Finding,
    error: &Mutex<Option<String>>,
    stop: &AtomicBool,
) -> Option<PathBuf> {
    let dir = out?;
    match crate::campaign::reproducer::save(dir, workload, finding) {
        Ok(path) => Some(path),
        Err(e) => {
            set_error(
                error,
                format!("cannot write a reproducer into {}: {e}", dir.display()),
            );
            stop.store(true, Ordering::Relaxed);
            None
        }
    }
}

/// Locks `m`, whatever a panicking holder left behind (nothing panics
/// while these locks are held, but a poisoned lock must not kill a worker).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps the first error of the campaign.
fn set_error(error: &Mutex<Option<String>>, message: String) {
    lock(error).get_or_insert(message);
}
