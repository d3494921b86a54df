//! The crash-state oracle: rules 1–5 of DESIGN.md at every crash state the
//! workload's mode enumerates. Each state's image is mounted (recovery must
//! succeed), every file is read back and compared with what the reference
//! model allows at that log position.

use crate::executor::{ExecOptions, Execution, START_MARK};
use crate::finding::Finding;
use crate::model::{Mismatch, Model, Source, Value};
use crate::rule::Rule;
use crate::workload::{CrashMode, FileId, Workload};
use fs_under_test::{
    Barrier, Bio, BioId, BioKind, BlockDevice, DeviceError, Filesystem, MountOptions, SECTOR_SIZE,
};
use replay::check::{CheckOptions, CheckReport};
use replay::crash_states::{CrashState, EnumOptions, Mode};
use replay::image::Image;
use std::collections::BTreeMap;

/// Knobs of crash-state checking.
#[derive(Clone, Debug)]
pub struct OracleOptions {
    pub jobs: usize,
    pub max_volatile: usize,
    pub samples: usize,
    pub seed: u64,
    /// Check only this state (`--state ID`).
    pub only_state: Option<String>,
}

impl Default for OracleOptions {
    fn default() -> Self {
        OracleOptions {
            jobs: 1,
            max_volatile: 8,
            samples: 64,
            seed: 0,
            only_state: None,
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
    /// The first failing state in enumeration order.
    pub finding: Option<Finding>,
}

/// Enumeration options for a workload.
pub fn enum_options(workload: &Workload, oo: &OracleOptions) -> EnumOptions {
    EnumOptions {
        mode: replay_mode(workload.header.mode),
        max_volatile: oo.max_volatile,
        samples: oo.samples,
        seed: oo.seed,
        start_mark: Some(START_MARK.to_string()),
        end_mark: None,
        limit: None,
        distinct_images_only: false,
    }
}

/// Checks every crash state of `exec`.
pub fn check_crash_states(
    workload: &Workload,
    exec: &Execution,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<CrashCheck, replay::ReplayError> {
    let model = exec.model(workload);
    let mount = MountOptions {
        barrier: workload.header.barrier,
        bugs: workload.header.bugs,
        step_budget: eo.step_budget,
    };
    let enumerate = enum_options(workload, oo);
    let checker = |state: &CrashState, image: &Image| -> Result<(), Box<Finding>> {
        // A panic of the filesystem while it recovers or reads the crash
        // image breaks rule 1 ("no panic").
        match crate::guard::catch(|| {
            check_state(workload, &model, &mount, state, image).map_err(Box::new)
        }) {
            Ok(r) => r,
            // Brownout's own bug: let it unwind to the pipeline, which
            // reports an internal error (exit 2), not a finding.
            Err(p) if p.in_harness() => {
                std::panic::resume_unwind(Box::new(crate::pipeline::panic_text(&p)))
            }
            Err(p) => {
                let mut f = Finding::new(
                    Rule::Recovery,
                    "the filesystem panicked while mounting (recovering) or reading the crash image",
                );
                f.panic = Some(crate::pipeline::panic_text(&p));
                Err(Box::new(with_state(state, f)))
            }
        }
    };
    if let Some(id) = &oo.only_state {
        let id: replay::crash_states::StateId = id.parse()?;
        let state = replay::crash_states::find_state(&exec.log, &enumerate, &id)?;
        let image = replay::crash_states::image_of(&exec.log, &state)?;
        return Ok(CrashCheck {
            states_enumerated: 1,
            states_checked: 1,
            finding: checker(&state, &image).err().map(|f| *f),
        });
    }
    let opts = CheckOptions {
        enumerate,
        jobs: oo.jobs,
        keep_going: false,
    };
    let report: CheckReport<Box<Finding>> = replay::check::check(&exec.log, &opts, checker)?;
    Ok(CrashCheck {
        states_enumerated: report.states_enumerated,
        states_checked: report.states_checked,
        finding: report.failures.into_iter().next().map(|f| *f.error),
    })
}

/// `f` located at crash state `state`.
fn with_state(state: &CrashState, mut f: Finding) -> Finding {
    f.state = Some(state.id.to_string());
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

/// Mounts one crash image and checks rules 1–5.
// A finding ends the check of this state: the cold path, so its size in
// the `Err` variant costs nothing worth boxing for.
#[allow(clippy::result_large_err)]
fn check_state(
    workload: &Workload,
    model: &Model,
    mount: &MountOptions,
    state: &CrashState,
    image: &Image,
) -> Result<(), Finding> {
    let p = state.position;
    let with_state = |f: Finding| with_state(state, f);
    let dev = ImageDevice::new(image.clone());
    let mut fs = Filesystem::mount(dev, mount.clone()).map_err(|e| {
        with_state(Finding::new(
            Rule::Recovery,
            match e {
                fs_under_test::FsError::StepBudget { .. } => format!(
                    "recovery did not finish in {} steps on the crash image",
                    mount.step_budget
                ),
                e => format!("mount (recovery) failed on the crash image: {e}"),
            },
        ))
    })?;
    for file in 0..workload.header.files {
        let size = if fs.exists(file) {
            fs.size(file).map_err(|e| {
                with_state(Finding::new(
                    Rule::Recovery,
                    format!("f{file}: size unreadable after recovery: {e}"),
                ))
            })?
        } else {
            0
        };
        let fm = &model.files[file as usize];
        let (sizes, floor) = fm.allowed_sizes(p, true, None);
        let floor_broken = floor.filter(|&(min, _)| size < min);
        if !sizes.contains(&size) || floor_broken.is_some() {
            let (rule, op, expected) = match floor_broken {
                Some((min, source)) => (
                    size_rule(source),
                    Some(source.op()),
                    format!("size >= {min} (acknowledged), and one of {sizes:?}"),
                ),
                None => (Rule::AckedSize, None, format!("one of {sizes:?}")),
            };
            let mut f = Finding::new(rule, format!("f{file} has size {size} after recovery"));
            f.file = Some(format!("f{file}"));
            f.expected = Some(expected);
            f.observed = Some(size.to_string());
            if let Some(op) = op {
                f.op = Some(op);
                f.op_text = Some(workload.ops[op].to_string());
            }
            return Err(with_state(f));
        }
        if size == 0 {
            continue;
        }
        let data = fs.read(file, 0, size).map_err(|e| {
            with_state(Finding::new(
                Rule::Recovery,
                format!("f{file}: read after recovery failed: {e}"),
            ))
        })?;
        if let Some(m) = model.check_data(file, 0, &data, p, None) {
            let mut f = Finding::new(Rule::StaleData, String::new());
            describe_mismatch(&mut f, workload, model, file, 0, &data, &m);
            return Err(with_state(f));
        }
    }
    Ok(())
}

fn size_rule(source: Source) -> Rule {
    match source {
        Source::Ack(_) => Rule::AckedSize,
        Source::Barrier(_) => Rule::DioBarrier,
    }
}

fn describe_value(workload: &Workload, model: &Model, file: FileId, m: usize) -> String {
    let md = &model.files[file as usize].mods[m];
    match (md.value, md.op) {
        (Value::Zero, None) => "zeroes (never written)".to_string(),
        (Value::Zero, Some(op)) => format!("zeroes (op #{op} `{}`)", workload.ops[op]),
        (Value::Write { wid }, Some(op)) => {
            format!("write #{wid} (op #{op} `{}`)", workload.ops[op])
        }
        (Value::Write { wid }, None) => format!("write #{wid}"),
    }
}

/// Fills `f` with the rule, operation, range, expected and observed values
/// of a data mismatch. The rule is chosen from what the bytes are: an older
/// value of this file where an acknowledged write should be is rule 2 (or
/// 4 when only the `dio_wait` barrier promised it); bytes that a truncate
/// had cut off, or that this file never held, are rule 5.
pub fn describe_mismatch(
    f: &mut Finding,
    workload: &Workload,
    model: &Model,
    file: FileId,
    base: u64,
    data: &[u8],
    m: &Mismatch,
) {
    let fm = &model.files[file as usize];
    let run = &data[(m.lo - base) as usize..(m.hi - base) as usize];
    let rule_if_crash = if m.allowed_without_barrier {
        Rule::DioBarrier
    } else {
        match (m.observed_mod, m.verdict.superseder) {
            (Some(_), Some((sup, _))) if fm.mods[sup].value != Value::Zero => Rule::AckedData,
            _ => Rule::StaleData,
        }
    };
    // A run-time read keeps rule 8; a crash state takes the rule above.
    if f.rule != Rule::ReadYourWrites {
        f.rule = rule_if_crash;
        f.rule_number = rule_if_crash.number();
    }
    if let Some((sup, source)) = m.verdict.superseder {
        if f.rule != Rule::ReadYourWrites {
            let op = source.op();
            f.op = Some(op);
            f.op_text = Some(workload.ops[op].to_string());
        }
        let _ = sup;
    }
    f.file = Some(format!("f{file}"));
    f.range = Some((m.lo, m.hi));
    let expected: Vec<String> = m
        .verdict
        .allowed
        .iter()
        .map(|&a| describe_value(workload, model, file, a))
        .collect();
    f.expected = Some(format!("one of: {}", expected.join("; ")));
    let observed = match m.observed_mod {
        Some(om) => format!("{} (superseded)", describe_value(workload, model, file, om)),
        None => match model.identify(workload, run) {
            Some((ofile, offset, op)) => format!(
                "bytes of f{ofile} offset {offset} from op #{op} `{}`{}",
                workload.ops[op],
                if ofile != file {
                    " (another file's data)"
                } else {
                    ""
                }
            ),
            None if run.iter().all(|&b| b == 0) => "zeroes".to_string(),
            None => format!(
                "bytes no write of this workload produced (first: {:02x?})",
                &run[..run.len().min(8)]
            ),
        },
    };
    f.observed = Some(observed);
    if f.message.is_empty() || f.rule != Rule::ReadYourWrites {
        f.message = match f.rule {
            Rule::AckedData => format!("f{file}: acknowledged data lost after a crash"),
            Rule::DioBarrier => format!("f{file}: O_DSYNC direct I/O lost after dio_wait returned"),
            Rule::StaleData => format!("f{file}: stale or foreign data after a crash"),
            _ => f.message.clone(),
        };
    }
}

/// A write of recovery in the image device's queue: (first sector, data).
type SectorWrite = (u64, Vec<u8>);

/// A block device over a crash image: reads see the image, writes (of
/// recovery) go to a private copy-on-write overlay and complete at once.
pub struct ImageDevice {
    image: Image,
    overlay: BTreeMap<u64, Vec<u8>>, // sector -> sector data
    queue: Vec<(BioId, Option<SectorWrite>)>,
    next_id: u64,
}

impl ImageDevice {
    pub fn new(image: Image) -> Self {
        ImageDevice {
            image,
            overlay: BTreeMap::new(),
            queue: Vec::new(),
            next_id: 0,
        }
    }

    fn check(&self, sector: u64, len: usize) -> Result<(), DeviceError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(DeviceError::Misaligned { len });
        }
        let sectors = (len / SECTOR_SIZE) as u64;
        let size = self.size_sectors();
        match sector.checked_add(sectors) {
            Some(end) if end <= size => Ok(()),
            _ => Err(DeviceError::OutOfRange {
                sector,
                sectors,
                size,
            }),
        }
    }
}

impl BlockDevice for ImageDevice {
    fn size_sectors(&self) -> u64 {
        self.image.len() / SECTOR_SIZE as u64
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.check(sector, buf.len())?;
        self.image.read(sector * SECTOR_SIZE as u64, buf);
        if !self.overlay.is_empty() {
            for (k, chunk) in buf.chunks_mut(SECTOR_SIZE).enumerate() {
                if let Some(o) = self.overlay.get(&(sector + k as u64)) {
                    chunk.copy_from_slice(o);
                }
            }
        }
        Ok(())
    }

    fn submit(&mut self, bio: Bio) -> Result<BioId, DeviceError> {
        let id = BioId(self.next_id);
        self.next_id += 1;
        let write = match bio.kind {
            BioKind::Write { sector, data, .. } => {
                self.check(sector, data.len())?;
                Some((sector, data))
            }
            BioKind::Flush => None,
        };
        self.queue.push((id, write));
        Ok(id)
    }

    fn complete_next(&mut self) -> Option<BioId> {
        if self.queue.is_empty() {
            return None;
        }
        let (id, write) = self.queue.remove(0);
        if let Some((sector, data)) = write {
            for (k, chunk) in data.chunks(SECTOR_SIZE).enumerate() {
                self.overlay.insert(sector + k as u64, chunk.to_vec());
            }
        }
        Some(id)
    }

    fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

/// The barrier contract a workload's filesystem declares.
pub fn barrier_stable(workload: &Workload) -> bool {
    workload.header.barrier == Barrier::Stable
}
