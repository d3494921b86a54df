//! Checking crash states, in parallel, with a deterministic result.
//!
//! [`check`] enumerates the states of a log (see [`crate::crash_states`]),
//! drops the ones already checked (the key is the image content plus the
//! number of marks before the position: the harness's obligations change at
//! marks, so the same image in another mark interval is another check;
//! [`EnumOptions::distinct_images_only`] drops the marks from the key), and
//! calls the checker on the rest.
//!
//! With `jobs == 1` everything runs on the calling thread, without touching
//! a thread pool: the harness calls this on every fuzz execution and the
//! per-call overhead must stay tiny. Otherwise states are built in order in
//! batches and each batch is checked in parallel; the report keeps
//! enumeration order, and without `keep_going` it stops after the first
//! batch that fails and reports that batch's first failure, which is the
//! first failing state in enumeration order whatever the thread timing.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::crash_states::{CrashState, EnumOptions, EnumeratedState, StateIter};
use crate::error::ReplayError;
use crate::image::Image;
use crate::log::Log;

/// Options of [`check`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    pub enumerate: EnumOptions,
    /// Worker threads; 0 = rayon's default (the global pool).
    pub jobs: usize,
    /// Report every failing state instead of stopping at the first.
    pub keep_going: bool,
}

/// A state the checker rejected.
#[derive(Clone, Debug)]
pub struct StateFailure<E> {
    pub state: CrashState,
    pub error: E,
}

/// Result of [`check`].
#[derive(Clone, Debug)]
pub struct CheckReport<E> {
    /// States enumerated (duplicates included).
    pub states_enumerated: u64,
    /// Distinct states handed to the checker.
    pub states_checked: u64,
    /// Failures in enumeration order (at most one without `keep_going`).
    pub failures: Vec<StateFailure<E>>,
}

impl<E> CheckReport<E> {
    /// Whether no state failed.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }
}

/// States built ahead per worker thread between two parallel rounds: enough
/// to keep the workers busy, few enough that an early failure wastes little.
const BATCH_PER_THREAD: usize = 16;

/// Keys of the states already checked (image content, marks before the
/// position): carried from one pass to the next so that a second pass over
/// the same log (another mode) checks only what the first did not.
pub type Seen = HashSet<(crate::image::ContentKey, usize)>;

/// Iterates the distinct states of a log (deduplicated like [`check`]),
/// and counts how many states were enumerated in total
/// ([`DistinctStates::enumerated`]).
pub struct DistinctStates<'a> {
    iter: StateIter<'a>,
    images_only: bool,
    seen: Seen,
    /// States yielded by `iter` so far, duplicates included.
    yielded: u64,
}

impl<'a> DistinctStates<'a> {
    /// Distinct states of `log` under `opts`, on a zeroed device.
    pub fn new(log: &'a Log, opts: &EnumOptions) -> Result<Self, ReplayError> {
        Self::over(log, opts, Image::new(log.device_bytes()))
    }

    /// Distinct states of `log` under `opts` on a device that held `base`
    /// before the log started (see [`StateIter::over`]).
    pub fn over(log: &'a Log, opts: &EnumOptions, base: Image) -> Result<Self, ReplayError> {
        Ok(DistinctStates {
            // A repeated persisted set is a repeated image and marks.
            iter: StateIter::over(log, opts, base)?.skipping_repeats(),
            images_only: opts.distinct_images_only,
            // Membership only: iteration order never leaks into results.
            seen: HashSet::new(),
            yielded: 0,
        })
    }

    /// States enumerated so far, duplicates included (those left out
    /// before their image was built too).
    pub fn enumerated(&self) -> u64 {
        self.yielded + self.iter.repeats_skipped()
    }

    /// Skips the states whose keys are in `seen` as well.
    pub fn seeded(mut self, seen: Seen) -> Self {
        self.seen.extend(seen);
        self
    }

    /// The keys of every state seen so far.
    pub fn into_seen(self) -> Seen {
        self.seen
    }
}

impl Iterator for DistinctStates<'_> {
    type Item = EnumeratedState;
    fn next(&mut self) -> Option<EnumeratedState> {
        for s in self.iter.by_ref() {
            self.yielded += 1;
            let marks = if self.images_only { 0 } else { s.state.marks };
            if self.seen.insert((s.image.content_key(), marks)) {
                return Some(s);
            }
        }
        None
    }
}

/// Pools by thread count, built once: spawning threads per call would cost
/// more than checking a small log.
fn pool(jobs: usize) -> Result<Arc<rayon::ThreadPool>, ReplayError> {
    static POOLS: OnceLock<Mutex<BTreeMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut pools = pools.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&jobs) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("replay-{i}"))
        .build()
        .map_err(|e| ReplayError::Write(std::io::Error::other(e.to_string())))?;
    let p = Arc::new(p);
    pools.insert(jobs, p.clone());
    Ok(p)
}

/// Checks every distinct crash state of `log` with `checker`, on a device
/// that was all zeros before the log started.
pub fn check<E: Send, F>(
    log: &Log,
    opts: &CheckOptions,
    checker: F,
) -> Result<CheckReport<E>, ReplayError>
where
    F: Fn(&CrashState, &Image) -> Result<(), E> + Sync,
{
    check_over(log, Image::new(log.device_bytes()), opts, checker)
}

/// Checks every distinct crash state of `log` with `checker`, on a device
/// that held `base` before the log started (see [`StateIter::over`]): a
/// crash during recovery, where `log` holds recovery's writes and `base` is
/// the crash image recovery started from.
pub fn check_over<E: Send, F>(
    log: &Log,
    base: Image,
    opts: &CheckOptions,
    checker: F,
) -> Result<CheckReport<E>, ReplayError>
where
    F: Fn(&CrashState, &Image) -> Result<(), E> + Sync,
{
    let states = DistinctStates::over(log, &opts.enumerate, base)?;
    Ok(check_distinct(states, opts, checker)?.0)
}

/// [`check_over`], skipping the states whose keys are in `seen` (an
/// earlier pass over the same log checked them) and adding the keys of
/// this pass's.
pub fn check_unseen_over<E: Send, F>(
    log: &Log,
    base: Image,
    opts: &CheckOptions,
    seen: &mut Seen,
    checker: F,
) -> Result<CheckReport<E>, ReplayError>
where
    F: Fn(&CrashState, &Image) -> Result<(), E> + Sync,
{
    let states = DistinctStates::over(log, &opts.enumerate, base)?.seeded(std::mem::take(seen));
    let (report, keys) = check_distinct(states, opts, checker)?;
    *seen = keys;
    Ok(report)
}

fn check_distinct<E: Send, F>(
    mut states: DistinctStates<'_>,
    opts: &CheckOptions,
    checker: F,
) -> Result<(CheckReport<E>, Seen), ReplayError>
where
    F: Fn(&CrashState, &Image) -> Result<(), E> + Sync,
{
    let mut failures = Vec::new();
    let mut checked = 0u64;
    if opts.jobs == 1 {
        for s in states.by_ref() {
            checked += 1;
            if let Err(error) = checker(&s.state, &s.image) {
                failures.push(StateFailure {
                    state: s.state,
                    error,
                });
                if !opts.keep_going {
                    break;
                }
            }
        }
    } else {
        let pool = if opts.jobs == 0 {
            None
        } else {
            Some(pool(opts.jobs)?)
        };
        let threads = pool
            .as_ref()
            .map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
        let batch_len = threads.max(1) * BATCH_PER_THREAD;
        loop {
            let batch: Vec<EnumeratedState> = states.by_ref().take(batch_len).collect();
            if batch.is_empty() {
                break;
            }
            checked += batch.len() as u64;
            let run = || -> Vec<Option<E>> {
                batch
                    .par_iter()
                    .map(|s| checker(&s.state, &s.image).err())
                    .collect()
            };
            // `collect` on an indexed parallel iterator keeps input order,
            // so results line up with enumeration order.
            let results = match &pool {
                Some(p) => p.install(run),
                None => run(),
            };
            let mut failed = false;
            for (s, r) in batch.into_iter().zip(results) {
                if let Some(error) = r {
                    failures.push(StateFailure {
                        state: s.state,
                        error,
                    });
                    failed = true;
                    if !opts.keep_going {
                        break;
                    }
                }
            }
            if failed && !opts.keep_going {
                break;
            }
        }
    }
    let report = CheckReport {
        states_enumerated: states.enumerated(),
        states_checked: checked,
        failures,
    };
    Ok((report, states.into_seen()))
}
