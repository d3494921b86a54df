//! The crash-state oracle: rules 1–5 of DESIGN.md at every crash state the
//! workload's mode enumerates, for any target. Each state's image is
//! recovered (mounted or opened; recovery must succeed) and compared with
//! what the target's reference model allows at that log position.
//!
//! **Crash during recovery.** Recovery writes too (journal replay,
//! repair). With `recovery_crashes` = N > 0, the device under recovery
//! records those writes; every crash state of that recovery log (same
//! mode, on top of the crash image) is recovered again and held to the
//! same contract, to depth N. A nested state's id reads `p15/p3`: state
//! `p3` of the recovery of state `p15`.

// A finding ends the check of a state: the cold path, so its size in an
// `Err` costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

use crate::device::disk::Disk;
use crate::engine::fs::{FsEngine, FsError, SparseBytes};
use crate::finding::{Finding, Rule};
use crate::model::fs::{DataPlan, Model, Source};
use crate::run::execute::{ExecOptions, Execution, START_MARK};
use crate::run::kept::{self, Kept};
use crate::target::{Names, Sizes};
use crate::workload::files::DIRS;
use crate::workload::{CrashMode, Op, Workload};
use replay::check::{CheckOptions, CheckReport, DistinctStates, Seen};
use replay::crash_states::{CrashState, EnumOptions, Mode, StateId};
use replay::image::Image;
use replay::log::Log;
use std::sync::atomic::{AtomicU64, Ordering};

/// Knobs of crash-state checking.
#[derive(Clone, Debug)]
pub struct OracleOptions {
    pub jobs: usize,
    pub max_volatile: usize,
    pub samples: usize,
    pub seed: u64,
    /// Check only this state (`--state ID`; `A/B` for a nested state).
    pub only_state: Option<String>,
    /// With `only_state`: write that state's crash image here (raw
    /// device bytes, sparse), so that the target's own tools can read it.
    pub save_image: Option<std::path::PathBuf>,
    /// Depth of crashes inside recovery (0: off).
    pub recovery_crashes: u32,
    /// Tear granularity in bytes (a multiple of 512).
    pub tear_bytes: u64,
    /// Crash states of each execution continued after recovery (crash
    /// and continue, `run::continuation`; 0: off).
    pub continue_states: usize,
    /// Budgeted passes in other modes after the workload's own (the
    /// default campaign's mix; empty: the workload's mode alone).
    pub passes: Vec<SampledPass>,
    /// Torn variants checked per reorder subset in torn mode (`None`:
    /// every one; see [`TEAR_BUDGET_DEFAULT`]).
    pub tear_budget: Option<u64>,
    /// A time-bounded campaign's end: crash states not yet checked by
    /// then are skipped, and the campaign drops the execution (its
    /// states were not all checked). `None`: no end.
    pub deadline: Option<std::time::Instant>,
}

/// A budgeted pass over the same log in another crash mode, after the
/// workload's own: at every position only the first subsets (and torn
/// variants) in id order, so its cost stays a small multiple of a prefix
/// check while it still sees a lost volatile cache. State ids are those
/// of the full mode: `--mode MODE --state ID` finds the state again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledPass {
    pub mode: CrashMode,
    /// Subsets per position; the first, `k = 0`, persists no pending
    /// write: a crash that loses the whole volatile cache.
    pub max_subsets: u64,
    /// Torn variants per subset (torn mode).
    pub max_tears: u64,
}

/// What `brownout fuzz` checks without `--mode`: every prefix state, then
/// at every position the state that loses the whole volatile cache
/// (reorder subset 0), and that state with the oldest pending write torn
/// at its first tear point. Prefix alone cannot see a missing cache flush
/// (every completed write is on a prefix image); this mix finds one within
/// a dozen executions, at about the cost of prefix alone (the budgeted
/// reorder mode costs about 2x, torn about 50x; README, "Crash modes").
pub const DEFAULT_PASSES: [SampledPass; 2] = [
    SampledPass {
        mode: CrashMode::Reorder,
        max_subsets: 1,
        max_tears: 0,
    },
    SampledPass {
        mode: CrashMode::Torn,
        max_subsets: 1,
        max_tears: 1,
    },
];

/// Default depth of crashes inside recovery: one, as DESIGN.md asks. It
/// costs nothing where recovery writes nothing (the embedded core, whose
/// mount leaves replayed transactions in the journal: within noise of 0),
/// about 8% in prefix mode on `example-wal`, and 2.5x (reorder) to 3.5x
/// (torn) there, where most states leave a torn tail that recovery cuts
/// off: the cost is spent exactly where recovery writes, and nothing else
/// finds a recovery that is not crash-safe itself (README, "Crash during
/// recovery").
pub const RECOVERY_CRASHES_DEFAULT: u32 = 1;

/// Default number of volatile writes at one position up to which reorder
/// and torn modes check every subset of them (2^n states); above it they
/// check [`SAMPLES_DEFAULT`] seeded subsets besides none, all, every
/// write alone and every all-but-one (`--max-volatile`). README, "Crash modes", has the
/// measurements behind both.
pub const MAX_VOLATILE_DEFAULT: usize = 3;

/// Default number of seeded random subsets per position above
/// [`MAX_VOLATILE_DEFAULT`] (`--samples`).
pub const SAMPLES_DEFAULT: usize = 4;

/// Default budget of torn variants per reorder subset in torn mode
/// (`--tears`): every tear of the newest pending write, then a seeded
/// sample. Every tear point of every pending write in every subset is
/// thousands of states per position on a wide workload (an execution
/// took minutes); README, "Crash modes", has the measurements.
pub const TEAR_BUDGET_DEFAULT: u64 = 4;

impl OracleOptions {
    /// The sampled passes a check of `header`'s workload runs after its
    /// own mode's: the default mix's where the header says `mode: mix`,
    /// else the campaign's or command's own.
    pub fn passes_for(&self, header: &crate::workload::Header) -> &[SampledPass] {
        match header.mix {
            true => &DEFAULT_PASSES,
            false => &self.passes,
        }
    }

    /// These options for a target that writes `tear_bytes` atomically: a
    /// torn write keeps or loses whole units of it (`--tear` may only
    /// make them coarser).
    pub fn for_device(&self, tear_bytes: u64) -> OracleOptions {
        OracleOptions {
            tear_bytes: self.tear_bytes.max(tear_bytes),
            ..self.clone()
        }
    }
}

impl Default for OracleOptions {
    fn default() -> Self {
        OracleOptions {
            jobs: 1,
            max_volatile: MAX_VOLATILE_DEFAULT,
            samples: SAMPLES_DEFAULT,
            seed: 0,
            only_state: None,
            save_image: None,
            recovery_crashes: RECOVERY_CRASHES_DEFAULT,
            tear_bytes: 512,
            continue_states: crate::run::continuation::CONTINUE_STATES_DEFAULT,
            passes: Vec::new(),
            tear_budget: Some(TEAR_BUDGET_DEFAULT),
            deadline: None,
        }
    }
}

pub fn replay_mode(mode: CrashMode) -> Mode {
    match mode {
        CrashMode::Prefix => Mode::Prefix,
        CrashMode::Reorder => Mode::Reorder,
        CrashMode::Torn => Mode::Torn,
    }
}

/// The result of checking every crash state of one execution.
pub struct CrashCheck {
    pub states_enumerated: u64,
    pub states_checked: u64,
    /// Distinct crash states inside recoveries checked besides.
    pub recovery_states: u64,
    /// Of `states_checked`, those of the sampled passes.
    pub sampled_states: u64,
    /// Of `states_checked`, those of continuations after a crash.
    pub continued_states: u64,
    /// The first failing state in enumeration order.
    pub finding: Option<Finding>,
}

/// Enumeration options for a workload.
pub fn enum_options(workload: &Workload, oo: &OracleOptions) -> EnumOptions {
    EnumOptions {
        mode: replay_mode(workload.header.mode),
        max_volatile: oo.max_volatile,
        samples: oo.samples,
        // A reproducer names the seed its sampled states were drawn with.
        seed: workload.header.seed.unwrap_or(oo.seed),
        start_mark: Some(START_MARK.to_string()),
        end_mark: None,
        limit: None,
        distinct_images_only: false,
        tear_sectors: (oo.tear_bytes / 512).max(1),
        max_subsets: None,
        max_tears: None,
        tear_budget: oo.tear_budget,
    }
}

/// The crash mode a state id belongs to (`p…`, `r…`, `t…`; a nested id
/// by its outer state, a continuation's by the continuation's state, and
/// `p24+`, a finding of the continuation's run, by the outer one): the
/// mode a reproducer must replay in.
pub fn mode_of_state(id: &str) -> Option<CrashMode> {
    // A continuation's state (`p24+r10.0`): the continuation's mode.
    let id = id.rsplit('+').find(|s| !s.is_empty())?;
    match id.as_bytes().first()? {
        b'p' => Some(CrashMode::Prefix),
        b'r' => Some(CrashMode::Reorder),
        b't' => Some(CrashMode::Torn),
        _ => None,
    }
}

/// Recovers one crash image and checks the contract at `position`;
/// with `record`, returns the log of recovery's own writes.
pub trait StateCheck: Sync {
    /// Recovers `image` (a crash at log position `position`) and checks it.
    #[allow(clippy::result_large_err)]
    fn check(&self, position: usize, image: &Image, record: bool) -> Result<Option<Log>, Finding>;
}

/// Checks every crash state of `log` with `checker`, nested crashes
/// inside recovery included, catching panics of the target.
pub fn check_states(
    log: &Log,
    workload: &Workload,
    oo: &OracleOptions,
    checker: &dyn StateCheck,
) -> Result<CrashCheck, replay::ReplayError> {
    check_states_over(log, None, workload, oo, checker)
}

/// [`check_states`] of a log recorded on top of `base` (a continuation
/// after a crash; `None`: a zeroed device).
pub fn check_states_over(
    log: &Log,
    base: Option<&Image>,
    workload: &Workload,
    oo: &OracleOptions,
    checker: &dyn StateCheck,
) -> Result<CrashCheck, replay::ReplayError> {
    let base = base
        .cloned()
        .unwrap_or_else(|| Image::new(log.device_bytes()));
    let enumerate = enum_options(workload, oo);
    let nested = EnumOptions {
        start_mark: None,
        ..enumerate.clone()
    };
    let recovery_states = AtomicU64::new(0);
    let nesting = Nesting {
        options: &nested,
        checked: &recovery_states,
    };
    let one = |state: &CrashState, image: &Image| -> Result<(), Box<Finding>> {
        // Past a campaign's end: skipped (the campaign drops the
        // execution). A slow target's execution can take minutes.
        if oo.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Ok(());
        }
        let depth = oo.recovery_crashes;
        check_guarded(
            checker,
            state.position,
            image,
            depth,
            &nesting,
            &mut Vec::new(),
        )
        .map_err(|f| Box::new(with_state(state, *f)))
    };
    if let Some(id) = &oo.only_state {
        let mut ids = id.split('/');
        let outer_id = ids.next().unwrap_or_default();
        let outer: StateId = outer_id.parse()?;
        // The id names its mode (a state of a sampled pass is found
        // again whatever the workload's own mode).
        let mut find = enumerate.clone();
        if let Some(mode) = mode_of_state(outer_id) {
            find.mode = replay_mode(mode);
        }
        let state = replay::crash_states::find_state(log, &find, &outer)?;
        let image = replay::crash_states::image_of_over(log, base.clone(), &state)?;
        let inner: Vec<StateId> = ids.map(str::parse).collect::<Result<_, _>>()?;
        let save = oo.save_image.as_deref();
        let finding = match inner.is_empty() {
            true => {
                if let Some(path) = save {
                    save_image(&image, path)?;
                }
                one(&state, &image).err().map(|f| *f)
            }
            false => check_nested_path(checker, &state, &image, &nested, &inner, save)?,
        };
        return Ok(CrashCheck {
            states_enumerated: 1,
            states_checked: 1,
            recovery_states: recovery_states.load(Ordering::Relaxed),
            sampled_states: 0,
            continued_states: 0,
            finding,
        });
    }
    let mut seen = Seen::new();
    let mut opts = CheckOptions {
        enumerate,
        jobs: oo.jobs,
        keep_going: false,
    };
    let report: CheckReport<Box<Finding>> =
        replay::check::check_unseen_over(log, base.clone(), &opts, &mut seen, one)?;
    let mut check = CrashCheck {
        states_enumerated: report.states_enumerated,
        states_checked: report.states_checked,
        recovery_states: 0,
        sampled_states: 0,
        continued_states: 0,
        finding: report.failures.into_iter().next().map(|f| *f.error),
    };
    for pass in oo.passes_for(&workload.header) {
        if check.finding.is_some() {
            break;
        }
        // Each mode's states include the weaker one's (prefix ⊂ reorder ⊂
        // torn): the workload's own pass may already cover this one.
        let rank = |m: CrashMode| CrashMode::ALL.iter().position(|&x| x == m);
        if rank(pass.mode) <= rank(workload.header.mode) {
            continue;
        }
        opts.enumerate.mode = replay_mode(pass.mode);
        opts.enumerate.max_subsets = Some(pass.max_subsets);
        opts.enumerate.max_tears = Some(pass.max_tears);
        let report: CheckReport<Box<Finding>> =
            replay::check::check_unseen_over(log, base.clone(), &opts, &mut seen, one)?;
        check.states_enumerated += report.states_enumerated;
        check.states_checked += report.states_checked;
        check.sampled_states += report.states_checked;
        check.finding = report.failures.into_iter().next().map(|f| *f.error);
    }
    check.recovery_states = recovery_states.load(Ordering::Relaxed);
    Ok(check)
}

/// How crash states inside recovery are enumerated, and their count.
struct Nesting<'a> {
    options: &'a EnumOptions,
    checked: &'a AtomicU64,
}

/// Checks one image, then (depth left) every crash state of its recovery.
/// `path` collects the nested state ids of the current descent.
fn check_guarded(
    checker: &dyn StateCheck,
    position: usize,
    image: &Image,
    depth: u32,
    nesting: &Nesting<'_>,
    path: &mut Vec<String>,
) -> Result<(), Box<Finding>> {
    let recovery = guarded(|| checker.check(position, image, depth > 0)).map_err(|mut f| {
        if !path.is_empty() {
            f.message = format!("{} (crash during recovery)", f.message);
        }
        Box::new(f)
    })?;
    // Nothing to crash inside when recovery wrote nothing.
    let Some(recovery) = recovery.filter(|log| depth > 0 && writes_anything(log)) else {
        return Ok(());
    };
    // The recovery log's states, on top of this crash image.
    let states = DistinctStates::over(&recovery, nesting.options, image.clone())
        .map_err(|e| Box::new(Finding::new(Rule::Recovery, format!("recovery log: {e}"))))?;
    let outer_key = image.content_key();
    for s in states {
        if s.image.content_key() == outer_key {
            continue; // recovery had written nothing yet: checked above
        }
        nesting.checked.fetch_add(1, Ordering::Relaxed);
        path.push(s.state.id.to_string());
        let r = check_guarded(checker, position, &s.image, depth - 1, nesting, path);
        if let Err(mut f) = r {
            if f.nested.is_none() {
                f.nested = Some(path.join("/"));
            }
            return Err(f);
        }
        path.pop();
    }
    Ok(())
}

/// Whether `log` holds a write or a discard (a recovery that only read
/// leaves nothing to crash inside).
fn writes_anything(log: &Log) -> bool {
    log.entries().any(|e| {
        matches!(
            e,
            replay::log::EntryRef::Write { .. } | replay::log::EntryRef::Discard { .. }
        )
    })
}

/// Checks the nested state that `inner` names (`--state A/B/C`).
fn check_nested_path(
    checker: &dyn StateCheck,
    state: &CrashState,
    image: &Image,
    nested: &EnumOptions,
    inner: &[StateId],
    save: Option<&std::path::Path>,
) -> Result<Option<Finding>, replay::ReplayError> {
    let mut image = image.clone();
    for (k, id) in inner.iter().enumerate() {
        let recovery = match guarded(|| checker.check(state.position, &image, true)) {
            Ok(Some(log)) => log,
            Ok(None) => return Ok(None),
            Err(f) => return Ok(Some(with_state(state, f))),
        };
        let s = replay::crash_states::find_state(&recovery, nested, id)?;
        image = replay::crash_states::image_of_over(&recovery, image.clone(), &s)?;
        if k + 1 == inner.len() {
            if let Some(path) = save {
                save_image(&image, path)?;
            }
            let r = guarded(|| checker.check(state.position, &image, false));
            return Ok(r.err().map(|mut f| {
                f.nested = Some(
                    inner
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("/"),
                );
                with_state(state, f)
            }));
        }
    }
    Ok(None)
}

/// Writes a crash image for `run --state ID --save-image PATH`: the
/// device as the crashed state left it, before this check's recovery.
fn save_image(image: &Image, path: &std::path::Path) -> Result<(), replay::ReplayError> {
    let io = |source| replay::ReplayError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    image.write_sparse(&file).map_err(io)
}

/// Runs `f`; a panic of the target is a rule-1 finding, a panic of
/// brownout's own code unwinds to the pipeline (an internal error).
#[allow(clippy::result_large_err)]
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, Finding>) -> Result<T, Finding> {
    match crate::guard::catch(f) {
        Ok(r) => r,
        Err(p) if p.in_harness() => std::panic::resume_unwind(Box::new(p.text())),
        Err(p) => {
            let mut f = Finding::new(
                Rule::Recovery,
                "the target panicked while recovering or reading the crash image",
            );
            f.panic = Some(p.text());
            Err(f)
        }
    }
}

/// The `fs` vocabulary's check of one crash state: mount (recovery must
/// succeed), then every file's size and bytes against the model.
///
/// Many crash states share an image: consecutive prefix positions that
/// only acknowledged something, a reorder subset equal to a prefix, the
/// same image in another mark interval (another check: the obligations
/// changed). Recovery is a function of the image (brownout's determinism
/// rests on it), so what recovery left is read once per image and each
/// such state is only judged again, at its own position. An image is
/// reused only while recovery is known to write nothing there: crashes
/// inside a recovery that writes are explored afresh every time.
pub struct FsStateCheck<'a, E: FsEngine> {
    pub engine: &'a E,
    pub config: &'a E::Config,
    pub workload: &'a Workload,
    pub model: &'a Model,
    pub step_budget: u64,
    /// This checker's key among the recoveries kept (`run::kept`).
    id: u64,
}

impl<'a, E: FsEngine> FsStateCheck<'a, E> {
    pub fn new(
        engine: &'a E,
        config: &'a E::Config,
        workload: &'a Workload,
        model: &'a Model,
        step_budget: u64,
    ) -> Self {
        FsStateCheck {
            engine,
            config,
            workload,
            model,
            step_budget,
            id: kept::checker_key(),
        }
    }

    /// Mounts `image` and reads every file back; with `record`, recovery's
    /// own log too (for crashes inside it).
    fn recover(&self, image: &Image, record: bool) -> Result<Kept, Finding> {
        let disk = Disk::over_image(image.clone(), record);
        let mut fs = self.engine.mount(self.config, disk).map_err(|e| {
            Finding::new(
                Rule::Recovery,
                match e {
                    FsError::StepBudget { .. } => format!(
                        "recovery did not finish in {} steps on the crash image",
                        self.step_budget
                    ),
                    e => format!("mount (recovery) failed on the crash image: {e}"),
                },
            )
        })?;
        let files = read_files(self.engine, &mut fs, self.workload);
        let dirs = read_dirs(self.engine, &mut fs, self.workload);
        let consistency = self
            .engine
            .check_recovered(self.config, &mut fs)
            .err()
            .map(|e| {
                Finding::new(
                    Rule::Recovery,
                    format!("the recovered image is inconsistent: {e}"),
                )
            });
        let mut disk = self.engine.crash(fs);
        let chunks_read = disk.take_chunks_read();
        let log = record.then(|| disk.finish().log);
        let recovered = Recovered {
            files,
            dirs,
            consistency,
            allowed_under: AllowedUnder::default(),
        };
        Ok(Kept::new(self.id, image, chunks_read, log, recovered))
    }
}

/// What recovery left on one image.
struct Recovered {
    files: Vec<Observed>,
    /// Whether each directory `d{n}` exists, where the workload makes any
    /// (empty otherwise).
    dirs: Vec<Result<bool, Finding>>,
    /// What the engine's own consistency check found, if anything.
    consistency: Option<Finding>,
    /// The plans these files' bytes were last allowed under.
    allowed_under: AllowedUnder,
}

/// Per file (and the model's file it was judged as), the position epoch
/// ([`FileModel::plan_epoch`]) its recovered bytes were last allowed at:
/// the same recovery is judged at many crash positions (`run::kept`), and
/// most of them hold a file to the same plan ([`DataPlan`]: per segment,
/// the modifications whose value may show), under which the same bytes
/// are allowed again without comparing them. Recoveries are kept per
/// thread, so a `RefCell` is enough.
///
/// [`FileModel::plan_epoch`]: crate::model::fs::FileModel::plan_epoch
#[derive(Default)]
struct AllowedUnder(std::cell::RefCell<Vec<Allowed>>);

/// One file's bytes, allowed at positions of `epoch`.
struct Allowed {
    file: u32,
    ino: usize,
    epoch: (usize, usize),
    /// The plan they were allowed under (debug builds assert that the
    /// epoch decides it).
    plan: DataPlan,
}

impl AllowedUnder {
    /// [`Model::data_allowed`] of `data` (file `file` as the model's
    /// `ino`) at `p`, skipping the comparison where `p` is in the epoch
    /// these bytes were last allowed in.
    fn data_allowed(
        &self,
        model: &Model,
        (file, ino): (u32, usize),
        data: &SparseBytes,
        p: usize,
    ) -> bool {
        let epoch = model.files[ino].plan_epoch(p);
        let mut last = self.0.borrow_mut();
        let slot = last.iter().position(|a| (a.file, a.ino) == (file, ino));
        if let Some(a) = slot.map(|s| &last[s]).filter(|a| a.epoch == epoch) {
            debug_assert_eq!(
                model.data_plan(ino, data.len(), p),
                a.plan,
                "the epoch decides the plan"
            );
            return true;
        }
        let plan = model.data_plan(ino, data.len(), p);
        if !model.data_allowed_by(ino, data, &plan) {
            return false;
        }
        let allowed = Allowed {
            file,
            ino,
            epoch,
            plan,
        };
        match slot {
            Some(s) => last[s] = allowed,
            None => last.push(allowed),
        }
        true
    }
}

impl<E: FsEngine> StateCheck for FsStateCheck<'_, E> {
    fn check(&self, position: usize, image: &Image, record: bool) -> Result<Option<Log>, Finding> {
        // A recovery that read the same bytes stands for this one (see
        // `run::kept`); an unreadable file is kept too: it is the same
        // finding at every position.
        let recovery = match kept::find(self.id, image, record) {
            Some(recovery) => recovery,
            None => kept::keep(self.recover(image, record)?),
        };
        judge(self.workload, self.model, recovery.view(), position)?;
        Ok(recovery.log(record))
    }
}

/// Checks every crash state of `exec` on an `fs` engine.
pub fn check_crash_states<E: FsEngine>(
    engine: &E,
    workload: &Workload,
    exec: &Execution,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<CrashCheck, replay::ReplayError> {
    let model = exec.model(workload, engine.info().contract.promises());
    let config = engine.configure(&workload.header, eo.step_budget);
    let checker = FsStateCheck::new(engine, &config, workload, &model, eo.step_budget);
    check_states(&exec.log, workload, oo, &checker)
}

/// `f` located at crash state `state`.
fn with_state(state: &CrashState, mut f: Finding) -> Finding {
    f.state = Some(match f.nested.take() {
        Some(nested) => format!("{}/{nested}", state.id),
        None => state.id.to_string(),
    });
    f.position = Some(state.position);
    f.persisted = state
        .persisted
        .iter()
        .map(|w| match w.sectors {
            Some(n) => format!("{}:{n}", w.id),
            None => w.id.to_string(),
        })
        .collect();
    f
}

/// One file as recovery left it.
enum Observed {
    Missing,
    Bytes(SparseBytes),
    /// Its size could not be read: a recovery finding.
    SizeUnreadable(Finding),
    /// It has this size, but its bytes could not be read: a recovery
    /// finding, unless the size is already wrong.
    Unreadable(u64, Finding),
}

/// Rules 2–5 on the files at position `p`, then the engine's own
/// consistency check (the same at every position).
#[allow(clippy::result_large_err)]
fn judge(
    workload: &Workload,
    model: &Model,
    recovered: &Recovered,
    p: usize,
) -> Result<(), Finding> {
    judge_files(workload, model, recovered, p)?;
    judge_dirs(workload, model, &recovered.dirs, p)?;
    match &recovered.consistency {
        Some(f) => Err(f.clone()),
        None => Ok(()),
    }
}

/// Whether each directory a `mkdir` of the workload may have made exists.
fn read_dirs<E: FsEngine>(
    engine: &E,
    fs: &mut E::Mounted,
    workload: &Workload,
) -> Vec<Result<bool, Finding>> {
    if !workload.ops.iter().any(|op| matches!(op, Op::Mkdir { .. })) {
        return Vec::new();
    }
    (0..DIRS)
        .map(|dir| {
            engine.dir_exists(fs, dir).map_err(|e| {
                Finding::new(
                    Rule::Recovery,
                    format!("d{dir}: lookup after recovery failed: {e}"),
                )
            })
        })
        .collect()
}

/// Rules 3 and 5 on directories: one made durable exists, one never made
/// (by the crash) does not.
#[allow(clippy::result_large_err)]
fn judge_dirs(
    workload: &Workload,
    model: &Model,
    dirs: &[Result<bool, Finding>],
    p: usize,
) -> Result<(), Finding> {
    for (dir, exists) in (0u32..).zip(dirs) {
        let exists = exists.clone()?;
        let (candidates, source) = model.dirs[dir as usize].candidates(p);
        if candidates.iter().any(|c| c.is_some() == exists) {
            continue;
        }
        let name = format!("d{dir}");
        return Err(match exists {
            false => name_finding(
                workload,
                Rule::AckedSize,
                (&name, "does not exist after recovery"),
                (
                    "the directory exists: its creation was made durable",
                    "no such directory",
                ),
                source.map(Source::op),
            ),
            true => name_finding(
                workload,
                Rule::StaleData,
                (
                    &name,
                    "exists after recovery, but it was never made before the crash",
                ),
                ("no such directory", "exists"),
                None,
            ),
        });
    }
    Ok(())
}

/// Reads every file back from a recovered filesystem.
fn read_files<E: FsEngine>(engine: &E, fs: &mut E::Mounted, workload: &Workload) -> Vec<Observed> {
    (0..workload.header.files)
        .map(|file| match engine.size(fs, file) {
            Err(e) => Observed::SizeUnreadable(Finding::new(
                Rule::Recovery,
                format!("f{file}: size unreadable after recovery: {e}"),
            )),
            Ok(None) => Observed::Missing,
            Ok(Some(0)) => Observed::Bytes(SparseBytes::default()),
            Ok(Some(size)) => match engine.read_sparse(fs, file, size) {
                Ok(bytes) => Observed::Bytes(bytes),
                Err(e) => Observed::Unreadable(
                    size,
                    Finding::new(
                        Rule::Recovery,
                        format!("f{file}: read after recovery failed: {e}"),
                    ),
                ),
            },
        })
        .collect()
}

/// Rules 2–5 on what recovery left: every file's existence, size and
/// bytes at crash position `p`, file by file.
// A finding ends the check of this state: the cold path, so its size in
// the `Err` variant costs nothing worth boxing for.
#[allow(clippy::result_large_err)]
fn judge_files(
    workload: &Workload,
    model: &Model,
    recovered: &Recovered,
    p: usize,
) -> Result<(), Finding> {
    let under = &recovered.allowed_under;
    for (file, observed) in (0u32..).zip(&recovered.files) {
        let exists = match observed {
            Observed::SizeUnreadable(f) => return Err(f.clone()),
            Observed::Missing => false,
            Observed::Bytes(_) | Observed::Unreadable(..) => true,
        };
        if model.renames {
            judge_name(workload, model, file, (observed, under), p)?;
            continue;
        }
        let fm = &model.files[file as usize];
        check_existence(workload, fm, file, exists, p)?;
        // Where only syncfs makes a name durable, a file whose creation
        // was not made durable may be gone, and what was written to it
        // with it.
        let name_durable = fm.create_durable.is_some_and(|(ack, _)| ack <= p);
        if !exists && model.names == Names::Directory && !name_durable {
            continue;
        }
        judge_file(workload, model, file, file as usize, (observed, under), p)?;
    }
    Ok(())
}

/// Where names were unlinked or renamed: `f{file}` must be one of the
/// files (inodes) the name may refer to after a crash at `p`, or missing
/// if it may be. A name is judged on its own: a rename that was not made
/// durable may show in one of its names and not the other.
#[allow(clippy::result_large_err)]
fn judge_name(
    workload: &Workload,
    model: &Model,
    file: u32,
    (observed, under): (&Observed, &AllowedUnder),
    p: usize,
) -> Result<(), Finding> {
    let (candidates, source) = model.entries[file as usize].candidates(p);
    let name = format!("f{file}");
    if matches!(observed, Observed::Missing) {
        return match candidates.contains(&None) {
            true => Ok(()),
            false => Err(name_finding(
                workload,
                Rule::AckedSize,
                (&name, "does not exist after recovery"),
                ("the file exists: its name was made durable", "no such file"),
                source.map(Source::op),
            )),
        };
    }
    let mut first = None;
    for ino in candidates.into_iter().flatten() {
        match judge_file(workload, model, file, ino, (observed, under), p) {
            Ok(()) => return Ok(()),
            Err(f) => {
                first.get_or_insert(f);
            }
        }
    }
    Err(first.unwrap_or_else(|| {
        name_finding(
            workload,
            Rule::StaleData,
            (
                &name,
                "exists after recovery, but no file had that name at the crash",
            ),
            ("no such file", "exists"),
            source.map(Source::op),
        )
    }))
}

/// Rules 2–5 on one file's size and bytes: `observed` (named `f{file}`)
/// against the model's file `ino` at crash position `p`. A missing file
/// reads as empty: its sizes and bytes are checked as such (a durable
/// write to it is then lost data).
#[allow(clippy::result_large_err)]
fn judge_file(
    workload: &Workload,
    model: &Model,
    file: u32,
    ino: usize,
    (observed, under): (&Observed, &AllowedUnder),
    p: usize,
) -> Result<(), Finding> {
    let size = match observed {
        Observed::Bytes(b) => b.len(),
        Observed::Unreadable(size, _) => *size,
        Observed::Missing | Observed::SizeUnreadable(_) => 0,
    };
    let fm = &model.files[ino];
    let (sizes, floor) = fm.allowed_sizes(p, true, None);
    let floor_broken = floor.filter(|&(min, _)| size < min);
    let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
    let (allowed, shown) = match model.sizes {
        Sizes::Stepwise => (sizes.contains(&size), format!("one of {sizes:?}")),
        Sizes::Writeback => (
            lo.is_some_and(|&lo| lo <= size) && hi.is_some_and(|&hi| size <= hi),
            format!("between {} and {}", lo.unwrap_or(&0), hi.unwrap_or(&0)),
        ),
    };
    if !allowed || floor_broken.is_some() {
        let (rule, op, expected) = match floor_broken {
            Some((min, source)) => (
                size_rule(source),
                Some(source.op()),
                format!("size >= {min} (acknowledged), and {shown}"),
            ),
            None => (Rule::AckedSize, None, shown),
        };
        let mut f = Finding::new(rule, format!("f{file} has size {size} after recovery"));
        f.file = Some(format!("f{file}"));
        f.expected = Some(expected);
        f.observed = Some(size.to_string());
        if let Some(op) = op {
            f.op = Some(op);
            f.op_text = Some(workload.ops[op].to_string());
        }
        return Err(f);
    }
    let data = match observed {
        Observed::Bytes(b) if !b.is_empty() => b,
        Observed::Unreadable(_, f) => return Err(f.clone()),
        _ => return Ok(()),
    };
    if under.data_allowed(model, (file, ino), data, p) {
        return Ok(());
    }
    // The cold path: the report needs every byte.
    let data = data.to_vec();
    let m = model
        .check_data(ino, 0, &data, p, None)
        .expect("check_data agrees with data_allowed");
    let mut f = Finding::new(Rule::StaleData, String::new());
    crate::model::describe::describe_mismatch(&mut f, workload, model, (file, ino), 0, &data, &m);
    Err(f)
}

/// The namespace after recovery: a file whose creation was made durable
/// before `p` exists (rule 3: an acknowledged file is part of what must
/// survive); a file no `create` had started by `p` does not (rule 5: no
/// foreign data).
#[allow(clippy::result_large_err)]
fn check_existence(
    workload: &Workload,
    fm: &crate::model::fs::FileModel,
    file: u32,
    exists: bool,
    p: usize,
) -> Result<(), Finding> {
    let name = format!("f{file}");
    Err(match (exists, fm.create_durable) {
        (false, Some((ack, source))) if ack <= p => name_finding(
            workload,
            Rule::AckedSize,
            (&name, "does not exist after recovery"),
            (
                "the file exists: its creation was made durable",
                "no such file",
            ),
            Some(source.op()),
        ),
        (true, _) if fm.created >= p => name_finding(
            workload,
            Rule::StaleData,
            (
                &name,
                "exists after recovery, but it was never created before the crash",
            ),
            ("no such file", "exists"),
            None,
        ),
        _ => return Ok(()),
    })
}

/// A finding about a name after recovery: `name` and what is wrong with
/// it, what was expected and what was observed, and the operation whose
/// promise it breaks.
fn name_finding(
    workload: &Workload,
    rule: Rule,
    (name, wrong): (&str, &str),
    (expected, observed): (&str, &str),
    op: Option<usize>,
) -> Finding {
    let mut f = Finding::new(rule, format!("{name} {wrong}"));
    f.file = Some(name.to_string());
    f.expected = Some(expected.to_string());
    f.observed = Some(observed.to_string());
    if let Some(op) = op.filter(|&op| op < workload.ops.len()) {
        f.op = Some(op);
        f.op_text = Some(workload.ops[op].to_string());
    }
    f
}

fn size_rule(source: Source) -> Rule {
    match source {
        Source::Ack(_) => Rule::AckedSize,
        Source::Barrier(_) => Rule::DioBarrier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fs::OpTimes;

    /// Bytes allowed once are allowed again only under the same plan: the
    /// zeros a crash before an O_DSYNC write allows are lost data once
    /// the write was acknowledged, however often they passed before.
    #[test]
    fn bytes_allowed_under_one_plan_are_judged_again_under_another() {
        let w = Workload::parse("files: 1\ncreate f0\nwrite f0 0 4096 dsync\n").unwrap();
        let model = Model::build(&w, &OpTimes::spans(&[(10, 11), (11, 20)]), true);
        let zeros = SparseBytes::dense(vec![0; 4096]);
        let written = SparseBytes::dense(crate::workload::pattern(0, 0, 4096, 2).to_vec());
        let under = AllowedUnder::default();
        for p in [11, 12, 15] {
            assert!(under.data_allowed(&model, (0, 0), &zeros, p), "p{p}");
        }
        assert!(!under.data_allowed(&model, (0, 0), &zeros, 20));
        assert!(under.data_allowed(&model, (0, 0), &written, 20));
        // Each file keeps its own.
        assert!(!AllowedUnder::default().data_allowed(&model, (0, 0), &written, 11));
        for p in [11, 15, 20, 25] {
            let plan = model.data_plan(0, 4096, p);
            for bytes in [&zeros, &written] {
                assert_eq!(
                    model.data_allowed_by(0, bytes, &plan),
                    model.data_allowed(0, bytes, p)
                );
            }
        }
    }
}
