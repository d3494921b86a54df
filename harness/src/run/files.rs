//! Running an `fs` workload on a copy-on-write target (littlefs): the
//! executor (format, the operations as the engine's calls, a log mark at
//! each commit's return, the expected errors and rule 8 on every read)
//! and the crash check (mount on every crash image, read the whole tree,
//! compare it with the committed trees the model allows).
//!
//! Handles: an operation on a file opens it when no handle is; `close`
//! commits and closes it; a rename or unlink first closes the handles of
//! the files it names, and a remount every handle (each such close is a
//! commit of its own, as it is in the engine).

// A finding ends the run: the cold path, not worth boxing for.
#![allow(clippy::result_large_err)]

use crate::device::Recorder;
use crate::engine::files::{FilesEngine, FilesError};
use crate::finding::{Finding, Rule};
use crate::model::files::{describe, difference, namespace, FilesModel, Namespace};
use crate::run::check::{check_states, OracleOptions, StateCheck};
use crate::run::execute::{ExecOptions, Execution, START_MARK};
use crate::run::pipeline::{check_execution, guarded_call, guarded_execution, Outcome, RunError};
use crate::target::TargetInfo;
use crate::workload::files::{dir_path, file_path};
use crate::workload::{op_finding, pattern, write_id, FileId, Op, Workload};
use replay::image::Image;
use replay::log::Log;
use std::collections::BTreeMap;

/// Runs `workload` on `engine` and checks every crash state.
pub fn run<E: FilesEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Outcome, RunError> {
    let mut model = FilesModel::over(Namespace::new());
    let execution = guarded_execution(workload, info.limits.device_bytes, || {
        let (execution, m) = execute(engine, info, workload, eo);
        model = m;
        execution
    })?;
    if execution.finding.is_some() {
        return Ok(Outcome::of(execution, None));
    }
    let config = engine.configure(&workload.header);
    let checker = TreeCheck {
        engine,
        config: &config,
        workload,
        model: &model,
        recovery_must_succeed: info.contract.recovery_must_succeed,
    };
    check_execution(
        execution,
        oo,
        |execution| check_states(&execution.log, workload, oo, &checker),
        |execution| check_continuations(engine, info, workload, execution, oo),
    )
}

/// Runs `workload`: the execution and the model of its commits.
pub fn execute<E: FilesEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    _eo: &ExecOptions,
) -> (Execution, FilesModel) {
    let model = FilesModel::over(Namespace::new());
    let device_bytes = info.limits.device_bytes;
    let config = engine.configure(&workload.header);
    crate::guard::set_op(None);
    let mut device = engine.device(&config, None, true);
    device.set_crash_mode(workload.header.mode);
    let mut fs = match engine.format(&config, device) {
        Ok(fs) => fs,
        Err(e) => {
            let f = Finding::new(
                Rule::Recovery,
                format!("formatting and mounting an empty device failed: {e}"),
            );
            return (Execution::empty(device_bytes, Some(f)), model);
        }
    };
    engine.device_mut(&mut fs).mark(START_MARK);
    run_ops(engine, &config, fs, workload, 0, model, device_bytes)
}

/// Mounts the crash image `image` and runs operations `next..` of
/// `extended` (the workload with a clean remount appended) on the
/// recovered tree: the continuation's execution and model. `None` where
/// recovery fails (the crash-state check judged that: nothing to continue
/// from); a finding of reading the recovered tree is the error.
// A finding ends the continuation: the cold path, not worth boxing for.
#[allow(clippy::result_large_err)]
fn resume<E: FilesEngine>(
    engine: &E,
    info: &TargetInfo,
    config: &E::Config,
    extended: &Workload,
    image: &Image,
    next: usize,
) -> Result<Option<(Execution, FilesModel)>, Finding> {
    let mut device = engine.device(config, Some(image.clone()), true);
    device.set_crash_mode(extended.header.mode);
    let Ok(mut fs) = engine.mount(config, device) else {
        return Ok(None);
    };
    let tree = engine.tree(&mut fs).map_err(|e| {
        Finding::new(
            Rule::Recovery,
            format!("reading after recovery failed: {e}"),
        )
    })?;
    engine.device_mut(&mut fs).mark(START_MARK);
    let model = FilesModel::over(namespace(tree));
    Ok(Some(run_ops(
        engine,
        config,
        fs,
        extended,
        next,
        model,
        info.limits.device_bytes,
    )))
}

/// The continuation `oo.only_state` names (`OUTER+…`) of `exec`, run
/// again (see [`crate::run::continuation::resume_named`]).
pub fn resume_named<E: FilesEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    exec: &Execution,
    oo: &OracleOptions,
) -> Result<Option<crate::run::continuation::Resumed>, replay::ReplayError> {
    let config = engine.configure(&workload.header);
    let extended = crate::run::continuation::continued(workload, 0, Op::Remount);
    crate::run::continuation::resume_named_with(workload, exec, oo, Op::Remount, |state, next| {
        let run = resume(engine, info, &config, &extended, &state.image, next);
        run.ok().flatten().map(|(cont, _)| cont)
    })
}

/// Crash and continue (see `run::continuation`): from a few crash states,
/// the recovered file system runs the operations the crash cut off, then
/// a clean remount, and every crash state of that is checked with the
/// recovered tree as the durable base.
fn check_continuations<E: FilesEngine>(
    engine: &E,
    info: &TargetInfo,
    workload: &Workload,
    exec: &Execution,
    oo: &OracleOptions,
) -> Result<crate::run::continuation::Continued, replay::ReplayError> {
    use crate::run::continuation::{continuation_points, inner_options, label, Continued};
    let mut out = Continued::default();
    let config = engine.configure(&workload.header);
    let extended = crate::run::continuation::continued(workload, 0, Op::Remount);
    let (points, inner) = continuation_points(workload, exec, oo, |op| matches!(op, Op::Remount))?;
    let inner = inner_options(inner);
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
        let checker = TreeCheck {
            engine,
            config: &config,
            workload: &extended,
            model: &model,
            recovery_must_succeed: info.contract.recovery_must_succeed,
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

/// One execution in progress: the engine, the mounted file system, the
/// model, the operation being run.
struct Run<'a, E: FilesEngine> {
    engine: &'a E,
    workload: &'a Workload,
    model: FilesModel,
    i: usize,
}

impl<E: FilesEngine> Run<'_, E> {
    /// Calls the engine under the panic guard ([`guarded_call`]), while
    /// the file system is still owned here.
    fn call<R>(
        &self,
        fs: &mut E::Fs,
        f: impl FnOnce(&E, &mut E::Fs) -> Result<R, FilesError>,
    ) -> Result<Result<R, FilesError>, Finding> {
        guarded_call(self.workload, || f(self.engine, fs))
    }

    /// Holds an engine call's outcome to the model's `expected` one: the
    /// value when both succeeded, `None` when both failed alike.
    fn outcome<R>(
        &self,
        expected: Result<(), FilesError>,
        got: Result<R, FilesError>,
    ) -> Result<Option<R>, Finding> {
        match (expected, got) {
            (Ok(()), Ok(r)) => Ok(Some(r)),
            (Err(want), Err(e)) if want == e => Ok(None),
            (_, Err(e @ FilesError::CallBudget { .. })) => {
                Err(self.finding(Rule::Deadlock, format!("the operation never finished: {e}")))
            }
            (Ok(()), Err(e)) => Err(self.finding(
                Rule::ReadYourWrites,
                format!("operation failed unexpectedly: {e}"),
            )),
            (Err(want), got) => Err(self.finding(
                Rule::ReadYourWrites,
                format!(
                    "the operation should have failed with \"{want}\", {}",
                    match got {
                        Ok(_) => "it succeeded".to_string(),
                        Err(e) => format!("it failed with \"{e}\""),
                    }
                ),
            )),
        }
    }

    fn finding(&self, rule: Rule, message: String) -> Finding {
        op_finding(rule, self.workload, self.i, message)
    }

    /// Records a commit that made `next`, its call (`what`) begun at
    /// `start`.
    fn commit(&mut self, fs: &mut E::Fs, next: Namespace, start: usize, what: &str) {
        let device = self.engine.device_mut(fs);
        device.mark(&format!("ret {what}"));
        let acked = device.position();
        self.model.commit(self.i, next, start, acked);
    }

    /// Closes `file`'s handle if one is open: a commit.
    fn close(&mut self, fs: &mut E::Fs, file: FileId) -> Result<(), Finding> {
        if !self.model.is_open(file) {
            return Ok(());
        }
        let start = self.engine.device_mut(fs).position();
        let got = self.call(fs, |e, fs| e.close(fs, &file_path(file)))?;
        self.outcome(Ok(()), got)?;
        let next = self.model.synced(file);
        self.commit(fs, next, start, "close");
        self.model.forget(file);
        Ok(())
    }

    /// Runs operation `self.i` other than `remount`.
    fn step(&mut self, fs: &mut E::Fs, op: &Op) -> Result<(), Finding> {
        let start = self.engine.device_mut(fs).position();
        match *op {
            Op::Create { file } => {
                let expected = self.model.expect_create(file);
                let commits = expected.is_ok() && self.model.create_commits(file);
                let got = self.call(fs, |e, fs| e.create(fs, &file_path(file)))?;
                if self.outcome(expected, got)?.is_some() {
                    self.model.create(file);
                    if commits {
                        let next = self.model.synced(file);
                        self.commit(fs, next, start, op.keyword());
                    }
                }
            }
            Op::Write {
                file, offset, len, ..
            } => {
                let data = pattern(file, offset, len, write_id(self.i));
                let got = self.call(fs, |e, fs| e.write(fs, &file_path(file), offset, &data))?;
                if self.outcome(self.model.expect_open(file), got)?.is_some() {
                    self.model.open(file);
                    self.model.write(file, offset, &data);
                }
            }
            Op::Truncate { file, size } => {
                let got = self.call(fs, |e, fs| e.truncate(fs, &file_path(file), size))?;
                if self.outcome(self.model.expect_open(file), got)?.is_some() {
                    self.model.open(file);
                    self.model.truncate(file, size);
                }
            }
            Op::Read { file, offset, len } => {
                let got = self.call(fs, |e, fs| e.read(fs, &file_path(file), offset, len))?;
                if let Some(data) = self.outcome(self.model.expect_open(file), got)? {
                    self.model.open(file);
                    self.check_read(file, offset, len, &data)?;
                }
            }
            Op::Fsync { file } => {
                let got = self.call(fs, |e, fs| e.sync(fs, &file_path(file)))?;
                if self.outcome(self.model.expect_open(file), got)?.is_some() {
                    self.model.open(file);
                    let next = self.model.synced(file);
                    self.commit(fs, next, start, op.keyword());
                }
            }
            Op::Close { file } => {
                if self.model.is_open(file) {
                    self.close(fs, file)?;
                } else {
                    let got = self.call(fs, |e, fs| e.close(fs, &file_path(file)))?;
                    self.outcome(Ok(()), got)?;
                }
            }
            Op::Rename { from, to } => {
                self.close(fs, from)?;
                self.close(fs, to)?;
                let start = self.engine.device_mut(fs).position();
                let expected = self.model.expect_rename(from, to);
                let got = self.call(fs, |e, fs| e.rename(fs, &file_path(from), &file_path(to)))?;
                if self.outcome(expected, got)?.is_some() {
                    let next = self.model.renamed(from, to);
                    self.commit(fs, next, start, op.keyword());
                }
            }
            Op::Unlink { file } => {
                self.close(fs, file)?;
                let start = self.engine.device_mut(fs).position();
                let expected = self.model.expect_unlink(file);
                let got = self.call(fs, |e, fs| e.remove(fs, &file_path(file)))?;
                if self.outcome(expected, got)?.is_some() {
                    let next = self.model.unlinked(file);
                    self.commit(fs, next, start, op.keyword());
                }
            }
            Op::Mkdir { dir } => {
                let expected = self.model.expect_mkdir(dir);
                let got = self.call(fs, |e, fs| e.mkdir(fs, &dir_path(dir)))?;
                if self.outcome(expected, got)?.is_some() {
                    let next = self.model.made_dir(dir);
                    self.commit(fs, next, start, op.keyword());
                }
            }
            _ => unreachable!("not an operation of a copy-on-write target: {op}"),
        }
        Ok(())
    }

    /// Rule 8: a read returns what was written through the handle.
    fn check_read(&self, file: FileId, offset: u64, len: u64, got: &[u8]) -> Result<(), Finding> {
        let have = self.model.contents(file);
        let from = (offset as usize).min(have.len());
        let to = (offset.saturating_add(len) as usize).min(have.len());
        let want = &have[from..to];
        if got == want {
            return Ok(());
        }
        let mut f = self.finding(
            Rule::ReadYourWrites,
            format!("read of f{file} returned other bytes than were written"),
        );
        f.file = Some(format!("f{file}"));
        f.range = Some((offset, len));
        f.expected = Some(format!(
            "{} bytes: {:02x?}",
            want.len(),
            &want[..want.len().min(8)]
        ));
        f.observed = Some(format!(
            "{} bytes: {:02x?}",
            got.len(),
            &got[..got.len().min(8)]
        ));
        Err(f)
    }
}

/// Runs operations `from..` of `workload` on the mounted `fs` (numbered as
/// in the workload), with `model` holding its tree, and ends with a crash.
fn run_ops<E: FilesEngine>(
    engine: &E,
    config: &E::Config,
    mut fs: E::Fs,
    workload: &Workload,
    from: usize,
    model: FilesModel,
    device_bytes: u64,
) -> (Execution, FilesModel) {
    let mut run = Run {
        engine,
        workload,
        model,
        i: from,
    };
    let mut times = Vec::with_capacity(workload.ops.len());
    let mut finding = None;
    for (i, op) in workload.ops.iter().enumerate().skip(from) {
        crate::guard::set_op(Some(i));
        run.i = i;
        let start = engine.device_mut(&mut fs).position();
        let result = match op {
            Op::Remount => remount(&mut run, config, fs),
            _ => {
                let r = run.step(&mut fs, op);
                (Some(fs), r)
            }
        };
        let (next, r) = result;
        let Some(next) = next else {
            // A failed mount leaves no device to crash.
            let exec = Execution {
                log: replay::log::LogBuilder::new(device_bytes).finish(),
                times,
                events: Vec::new(),
                owners: BTreeMap::new(),
                finding: r.err(),
                base: Vec::new(),
                earlier: None,
            };
            return (exec, run.model);
        };
        fs = next;
        if let Err(f) = r {
            finding = Some(f);
            break;
        }
        let device = engine.device_mut(&mut fs);
        let end = device.position();
        if let Some(v) = device.take_violation() {
            // The engine wrote what the media cannot hold.
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
    }
    let log = engine.crash(fs).finish();
    let exec = Execution {
        log,
        times,
        events: Vec::new(),
        owners: BTreeMap::new(),
        finding,
        base: Vec::new(),
        earlier: None,
    };
    (exec, run.model)
}

/// `remount`: every handle closed (each a commit), a clean unmount, a
/// mount. `None` when the file system is gone (the finding says why).
fn remount<E: FilesEngine>(
    run: &mut Run<'_, E>,
    config: &E::Config,
    mut fs: E::Fs,
) -> (Option<E::Fs>, Result<(), Finding>) {
    for file in run.model.open_files() {
        if let Err(f) = run.close(&mut fs, file) {
            return (Some(fs), Err(f));
        }
    }
    let engine = run.engine;
    let device = match guarded_call(run.workload, || engine.unmount(fs)) {
        Ok(Ok(device)) => device,
        Ok(Err(e)) => {
            let f = run.finding(Rule::Recovery, format!("unmount failed: {e}"));
            return (None, Err(f));
        }
        Err(f) => return (None, Err(f)),
    };
    match guarded_call(run.workload, || engine.mount(config, device)) {
        Ok(Ok(fs)) => (Some(fs), Ok(())),
        Ok(Err(e)) => {
            let f = run.finding(
                Rule::Recovery,
                format!("mount after a clean unmount failed: {e}"),
            );
            (None, Err(f))
        }
        Err(f) => (None, Err(f)),
    }
}

/// The check of one crash state: mount (recovery), read the whole tree,
/// compare it with the trees the model allows.
struct TreeCheck<'a, E: FilesEngine> {
    engine: &'a E,
    config: &'a E::Config,
    workload: &'a Workload,
    model: &'a FilesModel,
    recovery_must_succeed: bool,
}

impl<E: FilesEngine> StateCheck for TreeCheck<'_, E> {
    fn check(&self, position: usize, image: &Image, record: bool) -> Result<Option<Log>, Finding> {
        let mut device = self.engine.device(self.config, Some(image.clone()), record);
        device.set_crash_mode(self.workload.header.mode);
        let mounted = crate::run::check::guarded(|| Ok(self.engine.mount(self.config, device)))?;
        let mut fs = match mounted {
            Ok(fs) => fs,
            Err(e) if self.recovery_must_succeed => {
                return Err(Finding::new(
                    Rule::Recovery,
                    format!("mount (recovery) failed on the crash image: {e}"),
                ))
            }
            Err(_) => return Ok(None),
        };
        let tree = crate::run::check::guarded(|| Ok(self.engine.tree(&mut fs)));
        let device = self.engine.crash(fs);
        let tree = tree?.map_err(|e| {
            Finding::new(
                Rule::Recovery,
                format!("reading the tree after recovery failed: {e}"),
            )
        })?;
        self.judge(position, namespace(tree))?;
        Ok(record.then(|| device.finish()))
    }
}

impl<E: FilesEngine> TreeCheck<'_, E> {
    /// The observed tree must be one of the allowed committed trees.
    fn judge(&self, p: usize, observed: Namespace) -> Result<(), Finding> {
        let (w, m) = (self.workload, self.model);
        let (lo, hi) = m.allowed(p);
        if m.states[lo..=hi].contains(&observed) {
            return Ok(());
        }
        let expected = format!(
            "the tree after one of commits {lo}..={hi} (commit 0: the tree the run began with): {}",
            (lo..=hi)
                .map(|j| describe(&m.states[j]))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        let mut f = match m.find(&observed) {
            Some(j) if j < lo => {
                let c = &m.commits[lo - 1];
                let mut f = op_finding(
                    Rule::AckedData,
                    w,
                    c.op,
                    format!("acknowledged commit {lo} lost: the file system is back at commit {j}"),
                );
                f.file = None;
                f
            }
            later => {
                let message = match later {
                    Some(j) => format!(
                        "the file system shows commit {j}, which had not begun at the crash"
                    ),
                    None => format!(
                        "the tree equals no committed tree: {}",
                        difference(&m.states[hi], &observed)
                    ),
                };
                let mut f = Finding::new(Rule::StaleData, message);
                // The commit in progress at the crash, when there is one.
                if let Some(c) = hi.checked_sub(1).map(|c| &m.commits[c]) {
                    f.op = Some(c.op);
                    f.op_text = Some(w.ops[c.op].to_string());
                }
                f
            }
        };
        f.expected = Some(expected);
        f.observed = Some(describe(&observed));
        Err(f)
    }
}
