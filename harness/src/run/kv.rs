//! Running a `kv` workload: the executor (open, the operations, a log
//! mark at each commit's return, rule 8 on every `get`) and the crash check (open
//! on every crash image, scan, compare with the committed states the model
//! allows).

use crate::device::Recorder;
use crate::engine::kv::KvEngine;
use crate::finding::{Finding, Rule};
use crate::model::kv::{describe, observed_state, KvModel};
use crate::run::check::{check_states, OracleOptions, StateCheck};
use crate::run::execute::{ExecOptions, Execution, START_MARK};
use crate::run::kept::{self, Kept};
use crate::run::pipeline::{check_execution, guarded_execution, Outcome, RunError};
use crate::target::TargetInfo;
use crate::workload::kv::{key_bytes, value};
use crate::workload::op_finding;
use crate::workload::{write_id, Op, Workload};
use replay::image::Image;
use replay::log::Log;
use std::collections::BTreeMap;

/// Runs `workload` on `engine` and checks every crash state.
pub fn run<E: KvEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Outcome, RunError> {
    let device_bytes = info.limits.device_bytes;
    let mut model = KvModel::new();
    let execution = guarded_execution(workload, device_bytes, || {
        let (execution, m) = execute(engine, info, workload, eo);
        model = m;
        execution
    })?;
    if execution.finding.is_some() {
        return Ok(Outcome::of(execution, None));
    }
    let config = engine.configure(&workload.header);
    let checker = KvStateCheck {
        engine,
        config: &config,
        workload,
        model: &model,
        recovery_must_succeed: info.contract.recovery_must_succeed,
        id: kept::checker_key(),
    };
    check_execution(
        execution,
        oo,
        |execution| check_states(&execution.log, workload, oo, &checker),
        |execution| check_continuations(engine, info, workload, execution, oo),
    )
}

/// Crash and continue for a `kv` engine (see `run::continuation`): from
/// the last crash state and those at which reopens began, the recovered
/// database runs the operations the crash cut off, then a clean reopen,
/// and every crash state of that is checked with the recovered state as
/// the durable base.
fn check_continuations<E: KvEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    exec: &Execution,
    oo: &OracleOptions,
) -> Result<crate::run::continuation::Continued, replay::ReplayError> {
    use crate::run::continuation::{continuation_points, label, Continued};
    let mut out = Continued::default();
    let config = engine.configure(&workload.header);
    let extended = crate::run::continuation::continued(workload, 0, Op::Reopen);
    let (points, inner) = continuation_points(workload, exec, oo, |op| matches!(op, Op::Reopen))?;
    let inner = crate::run::continuation::inner_options(inner);
    for (state, next) in points {
        let outer = state.state.id.to_string();
        let fail = |f: Finding| Continued {
            states_checked: out.states_checked,
            finding: Some(label(f, &outer, next, None)),
        };
        let (cont, model) = match resume(engine, info, &config, &extended, &state.image, next) {
            Ok(Some(run)) => run,
            Ok(None) => continue,
            Err(f) => return Ok(fail(f)),
        };
        if let Some(f) = cont.finding {
            return Ok(fail(f));
        }
        let checker = KvStateCheck {
            engine,
            config: &config,
            workload: &extended,
            model: &model,
            recovery_must_succeed: info.contract.recovery_must_succeed,
            id: kept::checker_key(),
        };
        let check = crate::run::check::check_states_over(
            &cont.log,
            Some(&state.image),
            &extended,
            &inner,
            &checker,
        )?;
        out.states_checked += check.states_checked;
        if let Some(f) = check.finding {
            let inner_id = f.state.clone();
            out.finding = Some(label(f, &outer, next, inner_id));
            break;
        }
    }
    Ok(out)
}

/// Opens the crash image `image` and runs operations `next..` of
/// `extended` (the workload with a clean reopen appended) on the recovered
/// database: the continuation's execution and model. `None` where there is
/// nothing to continue from (recovery failed, which the crash-state check
/// judged, or left foreign data, which it reports); a finding of reading
/// the recovered database is the error.
// A finding ends the continuation: the cold path, not worth boxing for.
#[allow(clippy::result_large_err)]
fn resume<E: KvEngine>(
    engine: &E,
    info: &TargetInfo,
    config: &E::Config,
    extended: &Workload,
    image: &Image,
    next: usize,
) -> Result<Option<(Execution, KvModel)>, Finding> {
    let mut device = E::Device::over_image(image.clone(), true);
    device.set_crash_mode(extended.header.mode);
    let Ok(mut db) = engine.open(config, device) else {
        return Ok(None);
    };
    let entries = engine
        .scan(&mut db)
        .map_err(|e| Finding::new(Rule::Recovery, format!("scan after recovery failed: {e}")))?;
    let Ok(base) = observed_state(extended, &entries) else {
        return Ok(None);
    };
    engine.device_mut(&mut db).mark(START_MARK);
    Ok(Some(run_ops(
        engine,
        config,
        db,
        extended,
        next,
        KvModel::over(base),
        info.limits.device_bytes,
    )))
}

/// The continuation `oo.only_state` names (`OUTER+…`) of `exec`, run
/// again (see [`crate::run::continuation::resume_named`]).
pub fn resume_named<E: KvEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    exec: &Execution,
    oo: &OracleOptions,
) -> Result<Option<crate::run::continuation::Resumed>, replay::ReplayError> {
    let config = engine.configure(&workload.header);
    let extended = crate::run::continuation::continued(workload, 0, Op::Reopen);
    crate::run::continuation::resume_named_with(workload, exec, oo, Op::Reopen, |state, next| {
        let run = resume(engine, info, &config, &extended, &state.image, next);
        run.ok().flatten().map(|(cont, _)| cont)
    })
}

/// Runs `workload`: the execution and the model of its commits.
pub fn execute<E: KvEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    _eo: &ExecOptions,
) -> (Execution, KvModel) {
    let model = KvModel::new();
    let device_bytes = info.limits.device_bytes;
    let config = engine.configure(&workload.header);
    crate::guard::set_op(None);
    let mut device = E::Device::fresh(device_bytes);
    device.set_crash_mode(workload.header.mode);
    let mut db = match engine.open(&config, device) {
        Ok(db) => db,
        Err(e) => {
            let f = Finding::new(
                Rule::Recovery,
                format!("creating a database on an empty device failed: {e}"),
            );
            return (Execution::empty(device_bytes, Some(f)), model);
        }
    };
    engine.device_mut(&mut db).mark(START_MARK);
    run_ops(engine, &config, db, workload, 0, model, device_bytes)
}

/// Runs operations `from..` of `workload` on the open `db` (numbered as
/// in the workload), with `model` holding what the database held before
/// them, and ends with a crash.
fn run_ops<E: KvEngine>(
    engine: &E,
    config: &E::Config,
    mut db: E::Db,
    workload: &Workload,
    from: usize,
    mut model: KvModel,
    device_bytes: u64,
) -> (Execution, KvModel) {
    let mut times = Vec::with_capacity(workload.ops.len());
    let mut finding = None;
    for (i, op) in workload.ops.iter().enumerate().skip(from) {
        crate::guard::set_op(Some(i));
        let start = engine.device_mut(&mut db).position();
        let mut refused = false;
        let result = match *op {
            Op::Reopen => match engine.close(db) {
                Ok(device) => engine.open(config, device),
                Err(e) => Err(e),
            },
            _ => match guarded_op(engine, &mut db, workload, |db| run_op(engine, db, i, op)) {
                Ok(Ok(())) => Ok(db),
                // A documented refusal of a commit changed nothing: the
                // transaction is dropped, as by an abort, and the
                // workload goes on.
                Ok(Err(e)) if e.is_refusal() && matches!(op, Op::Commit { .. }) => {
                    refused = true;
                    Ok(db)
                }
                Ok(Err(e)) => Err(e),
                Err(f) => {
                    finding = Some(f);
                    break;
                }
            },
        };
        let op = if refused { &Op::Abort } else { op };
        db = match result {
            Ok(db) => db,
            Err(e) => {
                let rule = if matches!(op, Op::Reopen) {
                    Rule::Recovery
                } else {
                    Rule::ReadYourWrites
                };
                finding = Some(op_finding(
                    rule,
                    workload,
                    i,
                    format!("operation failed unexpectedly: {e}"),
                ));
                // A failed reopen leaves no device to crash.
                let log = replay::log::LogBuilder::new(device_bytes).finish();
                let exec = Execution {
                    log,
                    times,
                    events: Vec::new(),
                    owners: BTreeMap::new(),
                    finding,
                    base: Vec::new(),
                    earlier: None,
                };
                return (exec, model);
            }
        };
        let mut device = engine.device_mut(&mut db);
        // Only a commit's return changes what a crash may leave: only it
        // becomes a mark (crash states are deduplicated between marks).
        if let Op::Commit { durable } = *op {
            device.mark(if durable {
                "ret commit durable"
            } else {
                "ret commit nondurable"
            });
        }
        let end = device.position();
        let violation = device.take_violation();
        drop(device);
        if let Some(v) = violation {
            // The engine wrote what the media cannot hold: the data it
            // believes it wrote are not there.
            finding = Some(op_finding(Rule::StaleData, workload, i, v));
            break;
        }
        times.push(crate::model::fs::OpTimes {
            start,
            end,
            ok: true,
            dio_end: crate::model::fs::NEVER,
            dio_ack: crate::model::fs::NEVER,
        });
        if let Op::Get { key } = *op {
            let checked = guarded_op(engine, &mut db, workload, |db| {
                check_get(engine, db, workload, &model, i, key)
            });
            if let Some(f) = checked.unwrap_or_else(Some) {
                finding = Some(f);
                break;
            }
        }
        model.apply(i, op, start, end);
    }
    let log = engine.crash(db).finish();
    let exec = Execution {
        log,
        times,
        events: Vec::new(),
        owners: BTreeMap::new(),
        finding,
        base: Vec::new(),
        earlier: None,
    };
    (exec, model)
}

/// Runs `f` on the open database under the panic guard
/// ([`crate::run::pipeline::guarded_call`]).
#[allow(clippy::result_large_err)]
fn guarded_op<E: KvEngine, R>(
    _engine: &E,
    db: &mut E::Db,
    workload: &Workload,
    f: impl FnOnce(&mut E::Db) -> R,
) -> Result<R, Finding> {
    crate::run::pipeline::guarded_call(workload, || f(db))
}

fn run_op<E: KvEngine>(
    engine: &E,
    db: &mut E::Db,
    i: usize,
    op: &Op,
) -> Result<(), crate::engine::kv::KvError> {
    match *op {
        Op::Put { key, len } => engine.put(db, &key_bytes(key), &value(key, len, write_id(i))),
        Op::Remove { key } => engine.remove(db, &key_bytes(key)),
        Op::Commit { durable } => engine.commit(db, durable),
        Op::Abort => engine.abort(db),
        Op::CheckIntegrity => engine.check_integrity(db),
        Op::Compact => engine.compact(db),
        Op::Unwind => engine.unwind(db),
        // Checked after the return mark, against the model.
        Op::Get { .. } => Ok(()),
        _ => unreachable!("not a kv operation: {op}"),
    }
}

/// Rule 8: `get` returns the open transaction's write or the last
/// committed value.
fn check_get<E: KvEngine>(
    engine: &E,
    db: &mut E::Db,
    workload: &Workload,
    model: &KvModel,
    i: usize,
    key: u32,
) -> Option<Finding> {
    let got = match engine.get(db, &key_bytes(key)) {
        Ok(v) => v,
        Err(e) => {
            return Some(op_finding(
                Rule::ReadYourWrites,
                workload,
                i,
                format!("get failed: {e}"),
            ))
        }
    };
    let want = model.expected_get(key);
    if got.as_deref() == want.map(|(v, _)| v.as_slice()) {
        return None;
    }
    let mut f = op_finding(
        Rule::ReadYourWrites,
        workload,
        i,
        format!("get k{key} returned the wrong value"),
    );
    f.expected = Some(match want {
        Some((_, wid)) => format!(
            "the value of op #{} `{}`",
            wid - 1,
            workload.ops[*wid as usize - 1]
        ),
        None => "no value".to_string(),
    });
    f.observed = Some(match got {
        Some(v) => format!("{} bytes (first: {:02x?})", v.len(), &v[..v.len().min(8)]),
        None => "no value".to_string(),
    });
    Some(f)
}

/// The `kv` check of one crash state: open (recovery), scan, compare.
struct KvStateCheck<'a, E: KvEngine> {
    engine: &'a E,
    config: &'a E::Config,
    workload: &'a Workload,
    model: &'a KvModel,
    recovery_must_succeed: bool,
    /// This checker's key among the recoveries kept (`run::kept`).
    id: u64,
}

impl<E: KvEngine> StateCheck for KvStateCheck<'_, E> {
    #[allow(clippy::result_large_err)]
    fn check(&self, position: usize, image: &Image, record: bool) -> Result<Option<Log>, Finding> {
        // A recovery that read the same bytes stands for this one (see
        // `run::kept`).
        if let Some(recovery) = kept::find(self.id, image, record) {
            self.judge(position, scanned(&recovery)?)?;
            return Ok(recovery.log(record));
        }
        let mut device = E::Device::over_image(image.clone(), record);
        device.set_crash_mode(self.workload.header.mode);
        let mut db = match self.engine.open(self.config, device) {
            Ok(db) => db,
            Err(e) if self.recovery_must_succeed => {
                return Err(Finding::new(
                    Rule::Recovery,
                    format!("open (recovery) failed on the crash image: {e}"),
                ))
            }
            Err(_) => return Ok(None),
        };
        // A panic while reading is caught before the database is dropped
        // (see `guarded_op`).
        let entries = crate::run::check::guarded(|| Ok(self.engine.scan(&mut db)));
        // The state is read: power off rather than close (a clean shutdown
        // is no part of the crash state, and redb's commits a whole
        // transaction).
        let mut device = self.engine.crash(db);
        let entries: Scanned = entries.and_then(|scan| {
            scan.map_err(|e| {
                Finding::new(Rule::Recovery, format!("scan after recovery failed: {e}"))
            })
        });
        let chunks_read = device.take_chunks_read();
        let log = record.then(|| device.finish());
        let recovery = kept::keep(Kept::new(self.id, image, chunks_read, log, entries));
        self.judge(position, scanned(&recovery)?)?;
        Ok(recovery.log(record))
    }
}

/// A database's entries as a scan lists them: (key, value).
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What a scan after recovery read: the entries, or the finding it made.
type Scanned = Result<Entries, Finding>;

/// The entries a kept recovery scanned.
#[allow(clippy::result_large_err)]
fn scanned(recovery: &Kept) -> Result<&Entries, Finding> {
    match recovery.view::<Scanned>() {
        Ok(entries) => Ok(entries),
        Err(f) => Err(f.clone()),
    }
}

impl<E: KvEngine> KvStateCheck<'_, E> {
    /// The observed database must be one of the allowed committed states.
    #[allow(clippy::result_large_err)]
    fn judge(&self, p: usize, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Finding> {
        let (w, m) = (self.workload, self.model);
        let (lo, hi) = m.allowed(p);
        // The hot path: the engine's entries equal an allowed state (several
        // commits may leave equal states: any allowed one will do). Words
        // are built only for a finding.
        if (lo..=hi).any(|j| same_entries(&m.states[j], entries)) {
            return Ok(());
        }
        let expected = format!(
            "the state after one of commits {lo}..={hi} (commit 0: empty database): {}",
            (lo..=hi)
                .map(|j| describe(w, &m.states[j]))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        let observed = match observed_state(w, entries) {
            Ok(state) => state,
            Err(what) => {
                let mut f = Finding::new(
                    Rule::StaleData,
                    format!("foreign data after a crash: {what}"),
                );
                f.expected = Some(expected);
                f.observed = Some(what);
                return Err(f);
            }
        };
        // An engine may list its entries in another order than the keys'.
        if (lo..=hi).any(|j| m.states[j] == observed) {
            return Ok(());
        }
        let found = m.find(&observed); // only to word the finding
        let mut f = match found {
            Some(j) if j < lo => {
                let c = &m.commits[lo - 1];
                let mut f = op_finding(
                    Rule::AckedData,
                    w,
                    c.op,
                    format!(
                        "acknowledged durable commit {lo} lost: the database is back at commit {j}"
                    ),
                );
                f.file = None;
                f
            }
            Some(j) => Finding::new(
                Rule::StaleData,
                format!("the database shows commit {j}, which had not begun at the crash"),
            ),
            None => {
                let mut f = Finding::new(
                    Rule::StaleData,
                    "the database equals no committed state: a transaction is torn or mixed",
                );
                // The commit in progress at the crash, when there is one.
                if let Some(c) = hi.checked_sub(1).map(|c| &m.commits[c]) {
                    f.op = Some(c.op);
                    f.op_text = Some(w.ops[c.op].to_string());
                }
                f
            }
        };
        f.expected = Some(expected);
        f.observed = Some(describe(w, &observed));
        Err(f)
    }
}

/// Whether `entries` (in key order) are exactly `state`, compared by bytes
/// without naming the puts that wrote them.
fn same_entries(state: &crate::model::kv::State, entries: &[(Vec<u8>, Vec<u8>)]) -> bool {
    state.len() == entries.len()
        && state
            .iter()
            .zip(entries)
            .all(|((&k, (v, _)), (ek, ev))| ek == &key_bytes(k) && ev == v)
}
