//! The deterministic executor: runs a workload on the filesystem core over
//! the recording device, with completions in the order of the workload's
//! schedule, and checks the run-time rules while it runs: 6 (the DIO
//! barrier at the instant `dio_wait` returns), 7 (no deadlock) and 8 (read
//! your writes). Same workload, same log, byte for byte.

use crate::device::{RecordingDevice, TimedEvent};
use crate::finding::Finding;
use crate::model::{Model, OpTimes, NEVER};
use crate::rule::Rule;
use crate::workload::{pattern, write_id, Op, Workload};
use fs_under_test::{mkfs, Barrier, Filesystem, FsError, FsEvent, MkfsOptions, MountOptions};
use replay::log::Log;
use std::collections::BTreeMap;

/// The log mark after which crash states are checked: mkfs and the first
/// mount are set-up, not part of the workload.
pub const START_MARK: &str = "brownout:start";

/// Knobs of an execution.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Size of the simulated device.
    pub device_bytes: u64,
    /// Step budget for the filesystem's mount and wait loops.
    pub step_budget: u64,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            device_bytes: 2 << 20,
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
    pub owners: BTreeMap<u64, fs_under_test::BioOwner>,
    /// The first run-time finding; the run stops there.
    pub finding: Option<Finding>,
}

impl Execution {
    /// The reference model of this run.
    pub fn model(&self, workload: &Workload) -> Model {
        Model::build(
            workload,
            &self.times,
            workload.header.barrier == Barrier::Stable,
        )
    }
}

type Fs = Filesystem<RecordingDevice>;

/// Mount options for a workload's header.
pub fn mount_options(workload: &Workload, opts: &ExecOptions) -> MountOptions {
    MountOptions {
        barrier: workload.header.barrier,
        bugs: workload.header.bugs,
        step_budget: opts.step_budget,
    }
}

/// Runs `workload`. Never fails: whatever goes wrong in the filesystem is a
/// finding.
pub fn execute(workload: &Workload, opts: &ExecOptions) -> Execution {
    let h = &workload.header;
    let mut dev = RecordingDevice::new(
        opts.device_bytes,
        h.schedule.clone(),
        h.barrier == Barrier::Stable,
    );
    let mkfs_opts = MkfsOptions {
        inodes: h.files.max(1),
        bugs: h.bugs,
        ..MkfsOptions::default()
    };
    crate::guard::set_op(None);
    let mut times: Vec<OpTimes> = Vec::with_capacity(workload.ops.len());
    let setup = match mkfs(&mut dev, &mkfs_opts) {
        Ok(()) => {
            dev.mark(START_MARK);
            Filesystem::mount(dev_take(&mut dev), mount_options(workload, opts))
        }
        Err(e) => Err(e),
    };
    let mut fs = match setup {
        Ok(fs) => fs,
        Err(e) => {
            let rec = dev.finish();
            return Execution {
                log: rec.log,
                times,
                events: rec.events,
                owners: rec.owners,
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
    let mut created = vec![false; h.files as usize];
    let mut finding = None;
    for (i, op) in workload.ops.iter().enumerate() {
        fs.device_mut().set_op(i);
        crate::guard::set_op(Some(i));
        let start = fs.device().position();
        times.push(OpTimes {
            start,
            end: NEVER,
            ok: false,
            dio_end: NEVER,
            dio_ack: NEVER,
        });
        let (next, result) = run_op(fs, workload, i, op, opts);
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
                log: replay::log::LogBuilder::new(opts.device_bytes).finish(),
                times,
                events: Vec::new(),
                owners: BTreeMap::new(),
                finding,
            };
        };
        fs = next;
        let end = fs.device().position();
        let t = times.last_mut().expect("pushed above");
        match result {
            Ok(()) => {
                t.ok = true;
                t.end = end;
            }
            Err(e) if expected_error(op, &e, &created) => {}
            Err(FsError::Deadlock(report)) => {
                finding = Some(op_finding(
                    Rule::Deadlock,
                    workload,
                    i,
                    format!("deadlock: {report}"),
                ));
                break;
            }
            Err(FsError::StepBudget { .. }) => {
                finding = Some(op_finding(
                    Rule::ReadYourWrites,
                    workload,
                    i,
                    format!("operation did not finish in {} steps", opts.step_budget),
                ));
                break;
            }
            Err(e) => {
                finding = Some(op_finding(
                    Rule::ReadYourWrites,
                    workload,
                    i,
                    format!("operation failed unexpectedly: {e}"),
                ));
                break;
            }
        }
        if let (Op::Create { file }, true) = (op, t.ok) {
            created[*file as usize] = true;
        }
        if let (
            Op::DioWrite {
                misaligned: true, ..
            },
            true,
        ) = (op, t.ok)
        {
            finding = Some(op_finding(
                Rule::ReadYourWrites,
                workload,
                i,
                "misaligned direct I/O was accepted (expected EINVAL)".into(),
            ));
            break;
        }
        fill_dio_times(&mut times, fs.device().events());
        if let Some(v) = fs.device().violations().first() {
            let mut f = op_finding(Rule::RuntimeBarrier, workload, v.op, v.message.clone());
            f.file = Some(format!("f{}", v.ino));
            f.position = Some(v.pos);
            finding = Some(f);
            break;
        }
        if let (Op::Read { file, offset, len }, true) = (op, times[i].ok) {
            let f = if created[*file as usize] {
                check_read(&mut fs, workload, &times, i, *file, *offset, *len)
            } else {
                check_read_absent(&mut fs, workload, i, *file, *offset, *len)
            };
            if let Some(f) = f {
                finding = Some(f);
                break;
            }
        }
    }
    let rec = fs.crash().finish();
    fill_dio_times(&mut times, &rec.events);
    Execution {
        log: rec.log,
        times,
        events: rec.events,
        owners: rec.owners,
        finding,
    }
}

/// Moves the device out for `mount` (which takes it by value).
fn dev_take(dev: &mut RecordingDevice) -> RecordingDevice {
    std::mem::replace(dev, RecordingDevice::new(512, Vec::new(), false))
}

/// Runs one operation. Returns the filesystem to continue with (`None` if
/// a remount could not mount again) and the operation's result.
fn run_op(
    mut fs: Fs,
    workload: &Workload,
    i: usize,
    op: &Op,
    opts: &ExecOptions,
) -> (Option<Fs>, Result<(), FsError>) {
    let wid = write_id(i);
    let r = match *op {
        Op::Create { file } => fs.create(file),
        Op::Write {
            file,
            offset,
            len,
            dsync,
        } => fs.write(file, offset, &pattern(file, offset, len, wid), dsync),
        Op::DioWrite {
            file,
            offset,
            len,
            dsync,
            aio,
            ..
        } => fs
            .dio_write(file, offset, &pattern(file, offset, len, wid), dsync, aio)
            .map(|_| ()),
        Op::Read { .. } => Ok(()), // checked by `check_read`
        Op::Fsync { file } => fs.fsync(file),
        Op::Fdatasync { file } => fs.fdatasync(file),
        Op::Truncate { file, size } => fs.truncate(file, size),
        Op::DioWait { file } => fs.dio_wait(file),
        Op::Writeback { file, pages } => fs.writeback(file, pages.map(|p| p as usize)),
        Op::Syncfs => fs.syncfs(),
        Op::Complete { pick } => {
            fs.device_mut().force_pick(pick);
            fs.poll().map(|_| ())
        }
        Op::Remount => {
            return match fs.unmount() {
                Ok(dev) => match Filesystem::mount(dev, mount_options(workload, opts)) {
                    Ok(new) => (Some(new), Ok(())),
                    Err(e) => (None, Err(e)),
                },
                // The device is gone with the failed unmount: report it.
                Err(e) => (None, Err(e)),
            };
        }
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

/// A finding about operation `i`.
pub fn op_finding(rule: Rule, workload: &Workload, i: usize, message: String) -> Finding {
    let mut f = Finding::new(rule, message);
    f.op = Some(i);
    f.op_text = workload.ops.get(i).map(|op| op.to_string());
    f.file = workload
        .ops
        .get(i)
        .and_then(Op::file)
        .map(|n| format!("f{n}"));
    f
}

/// Fills in each direct write's `inode_dio_end` and acknowledgement
/// positions from the filesystem's events.
fn fill_dio_times(times: &mut [OpTimes], events: &[TimedEvent]) {
    let mut dio_op: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events {
        match e.event {
            FsEvent::DioSubmitted { dio, .. } => {
                dio_op.insert(dio, e.op);
            }
            FsEvent::DioEnd { dio, .. } => {
                if let Some(t) = dio_op.get(&dio).and_then(|&op| times.get_mut(op)) {
                    t.dio_end = t.dio_end.min(e.pos);
                }
            }
            FsEvent::DioAcked { dio, .. } => {
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

/// A read of a file the workload never created must fail with "no such
/// file" (the minimiser and `--corpus` mutations produce such workloads).
fn check_read_absent(
    fs: &mut Fs,
    workload: &Workload,
    i: usize,
    file: u32,
    offset: u64,
    len: u64,
) -> Option<Finding> {
    match fs.read(file, offset, len) {
        Err(FsError::NotFound(_)) => None,
        Err(e) => Some(op_finding(
            Rule::ReadYourWrites,
            workload,
            i,
            format!("read of a file never created failed with `{e}`, not \"no such file\""),
        )),
        Ok(data) => Some(op_finding(
            Rule::ReadYourWrites,
            workload,
            i,
            format!("read of a file never created returned {} bytes", data.len()),
        )),
    }
}

/// Rule 8: a read returns what the model allows at this moment.
fn check_read(
    fs: &mut Fs,
    workload: &Workload,
    times: &[OpTimes],
    i: usize,
    file: u32,
    offset: u64,
    len: u64,
) -> Option<Finding> {
    let now = fs.device().position();
    let data = match fs.read(file, offset, len) {
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
    let model = Model::build(workload, times, workload.header.barrier == Barrier::Stable);
    let fm = &model.files[file as usize];
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
    let m = model.check_data(file, offset, &data, NEVER - 1, Some(now))?;
    let mut f = op_finding(
        Rule::ReadYourWrites,
        workload,
        i,
        "read returned bytes no write put there".into(),
    );
    crate::oracle::describe_mismatch(&mut f, workload, &model, file, offset, &data, &m);
    Some(f)
}
