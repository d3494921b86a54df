//! The deterministic executor: runs a workload on the filesystem core over
//! the recording device, with completions in the order of the workload's
//! schedule, and checks the run-time rules while it runs: 6 (the DIO
//! barrier at the instant `dio_wait` returns), 7 (no deadlock) and 8 (read
//! your writes). Same workload, same log, byte for byte.

use crate::device::disk::{BioOwner, Disk, Event, TimedEvent};
use crate::engine::fs::{FsEngine, FsError};
use crate::finding::{Finding, Rule};
use crate::model::fs::{BaseFile, Earlier, Model, OpTimes, NEVER};
use crate::target::{Names, Sizes};
use crate::workload::op_finding;
use crate::workload::{pattern, write_id, Barrier, Op, Workload};
use replay::log::Log;
use std::collections::BTreeMap;

/// The log mark after which crash states are checked: mkfs and the first
/// mount are set-up, not part of the workload.
pub const START_MARK: &str = "brownout:start";

/// Knobs of an execution.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Step budget for the filesystem's mount and wait loops.
    pub step_budget: u64,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            step_budget: 1_000_000,
        }
    }
}

/// What one run of a workload produced.
pub struct Execution {
    pub log: Log,
    /// Per operation run: start, end, acknowledgement positions.
    pub times: Vec<OpTimes>,
    pub events: Vec<TimedEvent>,
    /// Who issued each logged request.
    pub owners: BTreeMap<u64, BioOwner>,
    /// The first run-time finding; the run stops there.
    pub finding: Option<Finding>,
    /// The files the workload started on (a continuation after a crash);
    /// empty for a fresh filesystem.
    pub base: Vec<BaseFile>,
    /// In a continuation, what ran before its crash.
    pub earlier: Option<Earlier>,
}

impl Execution {
    /// The reference model of this run, for a target whose contract
    /// promises `promises` of names and sizes.
    pub fn model(&self, workload: &Workload, promises: (Names, Sizes)) -> Model {
        Model::build_over(
            workload,
            &self.times,
            workload.header.barrier == Barrier::Stable,
            (&self.base, self.earlier.as_ref()),
            promises,
        )
    }

    /// An execution that recorded nothing (it could not start).
    pub fn empty(device_bytes: u64, finding: Option<Finding>) -> Self {
        Execution {
            log: replay::log::LogBuilder::new(device_bytes).finish(),
            times: Vec::new(),
            events: Vec::new(),
            owners: BTreeMap::new(),
            finding,
            base: Vec::new(),
            earlier: None,
        }
    }
}

/// Runs `workload` on `engine`. Never fails: whatever goes wrong in the
/// engine is a finding.
pub fn execute<E: FsEngine>(engine: &E, workload: &Workload, opts: &ExecOptions) -> Execution {
    let h = &workload.header;
    let config = engine.configure(h, opts.step_budget);
    let device_bytes = engine.info().limits.device_bytes;
    let mut disk = Disk::new(
        device_bytes,
        h.schedule.clone(),
        h.barrier == Barrier::Stable,
    );
    crate::guard::set_op(None);
    let times: Vec<OpTimes> = Vec::new();
    let setup = match engine.mkfs(&config, &mut disk) {
        Ok(()) => {
            disk.mark(START_MARK);
            engine.mount(&config, disk)
        }
        Err(e) => Err(e),
    };
    let fs = match setup {
        Ok(fs) => fs,
        Err(e) => {
            return Execution {
                log: replay::log::LogBuilder::new(device_bytes).finish(),
                times,
                events: Vec::new(),
                owners: BTreeMap::new(),
                base: Vec::new(),
                earlier: None,
                finding: Some(Finding::new(
                    Rule::Recovery,
                    match e {
                        FsError::StepBudget { .. } => format!(
                            "mount of a fresh filesystem did not finish in {} steps",
                            opts.step_budget
                        ),
                        e => format!("mkfs and mount of a fresh filesystem failed: {e}"),
                    },
                )),
            };
        }
    };
    run_ops(engine, &config, fs, workload, (Vec::new(), None), opts)
}

/// Runs `workload`'s operations on the mounted `fs`, whose files start as
/// `base` (empty: a fresh filesystem), and ends with a crash: the log, the
/// times and the first run-time finding. `earlier`: in a continuation,
/// what ran before its crash (its writes write the whole workload's
/// bytes).
pub fn run_ops<E: FsEngine>(
    engine: &E,
    config: &E::Config,
    mut fs: E::Mounted,
    workload: &Workload,
    (base, earlier): (Vec<BaseFile>, Option<Earlier>),
    opts: &ExecOptions,
) -> Execution {
    let first_op = earlier.as_ref().map_or(0, |e| e.op_offset);
    let device_bytes = engine.disk_mut(&mut fs).size_sectors() * 512;
    let mut times: Vec<OpTimes> = Vec::with_capacity(workload.ops.len());
    let mut created: Vec<bool> = (0..workload.header.files as usize)
        .map(|f| base.get(f).is_some_and(|b| b.exists))
        .collect();
    let mut finding = None;
    for (i, op) in workload.ops.iter().enumerate() {
        engine.disk_mut(&mut fs).set_op(i);
        crate::guard::set_op(Some(i));
        let start = engine.disk_mut(&mut fs).position();
        let acks = engine.disk_mut(&mut fs).acks();
        times.push(OpTimes {
            start,
            end: NEVER,
            ok: false,
            dio_end: NEVER,
            dio_ack: NEVER,
        });
        let (next, result) = run_op(engine, config, fs, write_id(first_op + i), op);
        let Some(next) = next else {
            finding = Some(op_finding(
                Rule::Recovery,
                workload,
                i,
                match result {
                    Err(e) => format!("clean unmount and mount failed: {e}"),
                    Ok(()) => "the filesystem could not be mounted after a clean unmount".into(),
                },
            ));
            // Nothing left to crash: the log ends here.
            return Execution {
                log: replay::log::LogBuilder::new(device_bytes).finish(),
                times,
                events: Vec::new(),
                owners: BTreeMap::new(),
                finding,
                base,
                earlier,
            };
        };
        fs = next;
        let disk = engine.disk_mut(&mut fs);
        if result.is_ok() && disk.acks() == acks {
            // The engine reported no acknowledgement: its return is one.
            disk.event(Event::Returned {
                op: op.keyword().to_string(),
                file: op.file(),
            });
        }
        let end = disk.position();
        let t = times.last_mut().expect("pushed above");
        if let Err(f) = judge_result(workload, i, op, result, &created, opts, t, end) {
            finding = Some(f);
            break;
        }
        // Which names refer to a file now.
        match (op, t.ok) {
            (Op::Create { file }, true) => created[*file as usize] = true,
            (Op::Unlink { file }, true) => created[*file as usize] = false,
            (Op::Rename { from, to }, true) => {
                created[*from as usize] = false;
                created[*to as usize] = true;
            }
            _ => {}
        }
        fill_dio_times(&mut times, disk.events());
        if let Some(v) = disk.violations().first() {
            let mut f = op_finding(Rule::RuntimeBarrier, workload, v.op, v.message.clone());
            f.file = Some(format!("f{}", v.file));
            f.position = Some(v.pos);
            finding = Some(f);
            break;
        }
        if let (Op::Read { file, offset, len }, true) = (op, times[i].ok) {
            let read = Read {
                file: *file,
                offset: *offset,
                len: *len,
            };
            let f = if created[*file as usize] {
                check_read(
                    engine,
                    &mut fs,
                    workload,
                    &times,
                    (&base, earlier.as_ref()),
                    i,
                    read,
                )
            } else {
                check_read_absent(engine, &mut fs, workload, i, read)
            };
            if let Some(f) = f {
                finding = Some(f);
                break;
            }
        }
    }
    let rec = engine.crash(fs).finish();
    fill_dio_times(&mut times, &rec.events);
    Execution {
        log: rec.log,
        times,
        events: rec.events,
        owners: rec.owners,
        finding,
        base,
        earlier,
    }
}

/// Records an operation's result in its times; an unexpected failure, or a
/// misaligned direct I/O that was accepted, is the finding returned.
#[allow(clippy::too_many_arguments, clippy::result_large_err)]
fn judge_result(
    workload: &Workload,
    i: usize,
    op: &Op,
    result: Result<(), FsError>,
    created: &[bool],
    opts: &ExecOptions,
    t: &mut OpTimes,
    end: usize,
) -> Result<(), Finding> {
    let message = match result {
        Ok(()) => {
            t.ok = true;
            t.end = end;
            if let Op::DioWrite {
                misaligned: true, ..
            } = op
            {
                "misaligned direct I/O was accepted (expected EINVAL)".to_string()
            } else {
                return Ok(());
            }
        }
        Err(e) if expected_error(op, &e, created) => return Ok(()),
        Err(FsError::Deadlock(report)) => {
            return Err(op_finding(
                Rule::Deadlock,
                workload,
                i,
                format!("deadlock: {report}"),
            ))
        }
        Err(FsError::StepBudget { .. }) => {
            format!("operation did not finish in {} steps", opts.step_budget)
        }
        Err(e) => format!("operation failed unexpectedly: {e}"),
    };
    Err(op_finding(Rule::ReadYourWrites, workload, i, message))
}

/// Runs one operation, whose writes carry write id `wid`. Returns the
/// filesystem to continue with (`None` if a remount could not mount
/// again) and the operation's result.
fn run_op<E: FsEngine>(
    engine: &E,
    config: &E::Config,
    mut fs: E::Mounted,
    wid: u32,
    op: &Op,
) -> (Option<E::Mounted>, Result<(), FsError>) {
    let r = match *op {
        Op::Write {
            file, offset, len, ..
        }
        | Op::DioWrite {
            file, offset, len, ..
        } => engine.apply(&mut fs, op, &pattern(file, offset, len, wid)),
        Op::Read { .. } => Ok(()), // checked by `check_read`
        Op::Complete { pick } => {
            engine.disk_mut(&mut fs).force_pick(pick);
            engine.apply(&mut fs, op, &[])
        }
        Op::Remount => {
            return match engine.unmount(fs) {
                Ok(disk) => match engine.mount(config, disk) {
                    Ok(new) => (Some(new), Ok(())),
                    Err(e) => (None, Err(e)),
                },
                // The device is gone with the failed unmount: report it.
                Err(e) => (None, Err(e)),
            };
        }
        _ => engine.apply(&mut fs, op, &[]),
    };
    (Some(fs), r)
}

/// Errors the workload expects: EINVAL for a direct I/O it marked
/// misaligned, and "no such file" for a file it never created.
fn expected_error(op: &Op, e: &FsError, created: &[bool]) -> bool {
    match (op, e) {
        (
            Op::DioWrite {
                misaligned: true, ..
            },
            FsError::Invalid(_),
        ) => true,
        (_, FsError::NotFound(_)) => op.file().is_some_and(|f| !created[f as usize]),
        _ => false,
    }
}

/// Fills in each direct write's `inode_dio_end` and acknowledgement
/// positions from the filesystem's events.
fn fill_dio_times(times: &mut [OpTimes], events: &[TimedEvent]) {
    let mut dio_op: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events {
        match e.event {
            Event::DioSubmitted { dio, .. } => {
                dio_op.insert(dio, e.op);
            }
            Event::DioEnd { dio, .. } => {
                if let Some(t) = dio_op.get(&dio).and_then(|&op| times.get_mut(op)) {
                    t.dio_end = t.dio_end.min(e.pos);
                }
            }
            Event::DioAcked { dio, .. } => {
                // The acknowledgement is a mark at `pos`: in force for
                // crashes after it.
                if let Some(t) = dio_op.get(&dio).and_then(|&op| times.get_mut(op)) {
                    t.dio_ack = t.dio_ack.min(e.pos + 1);
                }
            }
            _ => {}
        }
    }
}

/// A `read` operation's arguments.
#[derive(Clone, Copy)]
struct Read {
    file: u32,
    offset: u64,
    len: u64,
}

/// A read of a file the workload never created must fail with "no such
/// file" (the minimiser and `--corpus` mutations produce such workloads).
fn check_read_absent<E: FsEngine>(
    engine: &E,
    fs: &mut E::Mounted,
    workload: &Workload,
    i: usize,
    r: Read,
) -> Option<Finding> {
    let message = match engine.read(fs, r.file, r.offset, r.len) {
        Err(FsError::NotFound(_)) => return None,
        Err(e) => format!("read of a file never created failed with `{e}`, not \"no such file\""),
        Ok(data) => format!("read of a file never created returned {} bytes", data.len()),
    };
    Some(op_finding(Rule::ReadYourWrites, workload, i, message))
}

/// Rule 8: a read returns what the model allows at this moment.
fn check_read<E: FsEngine>(
    engine: &E,
    fs: &mut E::Mounted,
    workload: &Workload,
    times: &[OpTimes],
    (base, earlier): (&[BaseFile], Option<&Earlier>),
    i: usize,
    r: Read,
) -> Option<Finding> {
    let Read { file, offset, len } = r;
    let now = engine.disk_mut(fs).position();
    let data = match engine.read(fs, file, offset, len) {
        Ok(d) => d,
        Err(e) => {
            return Some(op_finding(
                Rule::ReadYourWrites,
                workload,
                i,
                format!("read failed: {e}"),
            ))
        }
    };
    let model = Model::build_over(
        workload,
        times,
        workload.header.barrier == Barrier::Stable,
        (base, earlier),
        engine.info().contract.promises(),
    );
    // The file the name refers to now (a read of a free name failed).
    let Some(ino) = model.op_inode[i] else {
        return Some(op_finding(
            Rule::ReadYourWrites,
            workload,
            i,
            "a read of a name with no file succeeded".into(),
        ));
    };
    let fm = &model.files[ino];
    let (sizes, _) = fm.allowed_sizes(NEVER - 1, true, Some(now));
    let size_ok = sizes
        .iter()
        .any(|&s| data.len() as u64 == len.min(s.saturating_sub(offset)));
    if !size_ok {
        let mut f = op_finding(
            Rule::ReadYourWrites,
            workload,
            i,
            format!(
                "read returned {} bytes; the file size may be one of {sizes:?}",
                data.len()
            ),
        );
        f.range = Some((offset, offset + len));
        return Some(f);
    }
    let m = model.check_data(ino, offset, &data, NEVER - 1, Some(now))?;
    let mut f = op_finding(
        Rule::ReadYourWrites,
        workload,
        i,
        "read returned bytes no write put there".into(),
    );
    crate::model::describe::describe_mismatch(
        &mut f,
        workload,
        &model,
        (file, ino),
        offset,
        &data,
        &m,
    );
    Some(f)
}
