//! The recording block device: implements the filesystem's block API over
//! an in-memory disk, logs every write, flush and completion into a
//! `replay` log, marks the filesystem's acknowledgements in it, and tracks
//! which writes are in flight, volatile or durable so that the runtime DIO
//! barrier (rule 6) can be checked at the instant `dio_wait` returns.
//!
//! Which in-flight request completes next is the workload's schedule: each
//! `complete_next` takes the next pick (an index, modulo the number in
//! flight, oldest first), cycling through the picks; with no picks the
//! oldest completes.

use fs_under_test::{
    Bio, BioId, BioKind, BioOwner, BlockDevice, DeviceError, FsEvent, SECTOR_SIZE,
};
use replay::log::{LogBuilder, WriteFlags as LogFlags};
use std::collections::{BTreeMap, BTreeSet};

/// A request submitted and not yet completed.
#[derive(Debug)]
struct InFlight {
    id: u64,
    owner: BioOwner,
    write: Option<(u64, Vec<u8>, bool)>, // sector, data, fua
    /// For a flush or PREFLUSH write: the writes that were volatile when
    /// it was submitted, which it makes durable when it completes.
    flushes: Option<Vec<u64>>,
}

/// A filesystem event with the log position at which it happened.
#[derive(Clone, Debug)]
pub struct TimedEvent {
    /// Log position (entry index) of the event's mark.
    pub pos: usize,
    /// The workload operation running when it happened.
    pub op: usize,
    pub event: FsEvent,
}

/// What a recording device leaves behind.
pub struct Recording {
    pub log: replay::log::Log,
    pub events: Vec<TimedEvent>,
    pub owners: BTreeMap<u64, BioOwner>,
}

/// A violation of the runtime DIO barrier (rule 6).
#[derive(Clone, Debug)]
pub struct BarrierViolation {
    pub op: usize,
    pub ino: u32,
    pub pos: usize,
    pub message: String,
}

/// The device the executor mounts the filesystem on.
pub struct RecordingDevice {
    data: Vec<u8>,
    log: LogBuilder,
    in_flight: Vec<InFlight>,
    /// Completed writes not yet made durable, by log request id.
    volatile: BTreeSet<u64>,
    /// The filesystem numbers its DIO requests per mount; the harness
    /// numbers them per execution: the current (ino, dio) -> sequence.
    dio_seq: BTreeMap<(u32, u64), u64>,
    next_dio_seq: u64,
    /// Direct-I/O data writes per DIO sequence number, by log request id.
    dio_writes: BTreeMap<u64, Vec<u64>>,
    /// O_DSYNC direct I/O requests submitted (sequence numbers), per inode.
    dsync_dios: BTreeMap<u32, Vec<u64>>,
    schedule: Vec<u32>,
    next_pick: usize,
    /// A pick forced by a `complete N` step, used by the next completion.
    forced_pick: Option<u32>,
    barrier_stable: bool,
    current_op: usize,
    /// Who issued each request (for timelines), by log request id.
    owners: BTreeMap<u64, BioOwner>,
    events: Vec<TimedEvent>,
    violations: Vec<BarrierViolation>,
}

impl RecordingDevice {
    /// A zeroed device of `bytes` bytes, following `schedule`. With
    /// `barrier_stable`, rule 6 also demands that O_DSYNC DIO data be
    /// durable when `dio_wait` returns.
    pub fn new(bytes: u64, schedule: Vec<u32>, barrier_stable: bool) -> Self {
        assert!(
            bytes.is_multiple_of(SECTOR_SIZE as u64),
            "device size in sectors"
        );
        RecordingDevice {
            data: vec![0; bytes as usize],
            log: LogBuilder::new(bytes),
            in_flight: Vec::new(),
            volatile: BTreeSet::new(),
            dio_seq: BTreeMap::new(),
            next_dio_seq: 0,
            dio_writes: BTreeMap::new(),
            dsync_dios: BTreeMap::new(),
            schedule,
            next_pick: 0,
            forced_pick: None,
            barrier_stable,
            current_op: 0,
            owners: BTreeMap::new(),
            events: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// The current log position (number of entries).
    pub fn position(&self) -> usize {
        self.log.len()
    }

    /// Marks the log with a label of the harness's own.
    pub fn mark(&mut self, label: &str) {
        self.log.mark(label, &[]);
    }

    /// Records which workload operation runs from now on.
    pub fn set_op(&mut self, op: usize) {
        self.current_op = op;
    }

    /// Makes the next completion pick request `pick` (a `complete N` step).
    pub fn force_pick(&mut self, pick: u32) {
        self.forced_pick = Some(pick);
    }

    pub fn events(&self) -> &[TimedEvent] {
        &self.events
    }

    pub fn violations(&self) -> &[BarrierViolation] {
        &self.violations
    }

    /// The log and what else was recorded; the device is spent.
    pub fn finish(self) -> Recording {
        Recording {
            log: self.log.finish(),
            events: self.events,
            owners: self.owners,
        }
    }

    fn check_range(&self, sector: u64, len: usize) -> Result<(), DeviceError> {
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

    /// Rule 6, at the instant `dio_wait` on `ino` returns.
    fn check_runtime_barrier(&mut self, ino: u32) {
        let pos = self.position();
        let mut problems = Vec::new();
        for f in &self.in_flight {
            if let BioOwner::Dio { ino: i, dio } = f.owner {
                if i == ino {
                    problems.push(format!(
                        "bio {} of direct I/O #{dio} is still in flight",
                        f.id
                    ));
                }
            }
        }
        if self.barrier_stable {
            for &seq in self.dsync_dios.get(&ino).into_iter().flatten() {
                for &w in self.dio_writes.get(&seq).into_iter().flatten() {
                    if self.volatile.contains(&w) {
                        problems.push(format!(
                            "an O_DSYNC direct write's data (log request {w}) is still in the volatile cache"
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            self.violations.push(BarrierViolation {
                op: self.current_op,
                ino,
                pos,
                message: format!("dio_wait(f{ino}) returned but {}", problems.join("; ")),
            });
        }
    }
}

impl BlockDevice for RecordingDevice {
    fn size_sectors(&self) -> u64 {
        (self.data.len() / SECTOR_SIZE) as u64
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.check_range(sector, buf.len())?;
        let start = sector as usize * SECTOR_SIZE;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        Ok(())
    }

    fn submit(&mut self, bio: Bio) -> Result<BioId, DeviceError> {
        let entry = match bio.kind {
            BioKind::Write {
                sector,
                data,
                flags,
            } => {
                self.check_range(sector, data.len())?;
                let id = self.log.submit_write(
                    sector,
                    &data,
                    LogFlags {
                        fua: flags.fua,
                        preflush: flags.preflush,
                        metadata: flags.metadata,
                    },
                );
                if let BioOwner::Dio { ino, dio } = bio.owner {
                    if let Some(&seq) = self.dio_seq.get(&(ino, dio)) {
                        self.dio_writes.entry(seq).or_default().push(id);
                    }
                }
                InFlight {
                    id,
                    owner: bio.owner,
                    write: Some((sector, data, flags.fua)),
                    flushes: flags
                        .preflush
                        .then(|| self.volatile.iter().copied().collect()),
                }
            }
            BioKind::Flush => InFlight {
                id: self.log.submit_flush(),
                owner: bio.owner,
                write: None,
                flushes: Some(self.volatile.iter().copied().collect()),
            },
        };
        let id = BioId(entry.id);
        self.owners.insert(entry.id, entry.owner);
        self.in_flight.push(entry);
        Ok(id)
    }

    fn complete_next(&mut self) -> Option<BioId> {
        if self.in_flight.is_empty() {
            return None;
        }
        let pick = match self.forced_pick.take() {
            Some(p) => p,
            None => {
                // The schedule repeats: a short one is a standing policy
                // ("always the second oldest"), not a prefix of the run.
                let p = if self.schedule.is_empty() {
                    0
                } else {
                    self.schedule[self.next_pick % self.schedule.len()]
                };
                self.next_pick += 1;
                p
            }
        };
        let f = self.in_flight.remove(pick as usize % self.in_flight.len());
        self.log.complete(f.id);
        if let Some(flushed) = &f.flushes {
            for w in flushed {
                self.volatile.remove(w);
            }
        }
        if let Some((sector, data, fua)) = f.write {
            let start = sector as usize * SECTOR_SIZE;
            self.data[start..start + data.len()].copy_from_slice(&data);
            if !fua {
                self.volatile.insert(f.id);
            }
        }
        Some(BioId(f.id))
    }

    fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn event(&mut self, event: &FsEvent) {
        let pos = self.position();
        // Only events that change what a crash state must hold become log
        // marks: crash states are deduplicated per interval between marks,
        // and within one interval the earliest state is the strictest check.
        if is_ack(event) {
            self.log.mark(&mark_label(event), &[]);
        }
        match *event {
            FsEvent::DioSubmitted {
                ino, dio, dsync, ..
            } => {
                let seq = self.next_dio_seq;
                self.next_dio_seq += 1;
                self.dio_seq.insert((ino, dio), seq);
                if dsync {
                    self.dsync_dios.entry(ino).or_default().push(seq);
                }
            }
            FsEvent::DioWaitReturned { ino } => self.check_runtime_barrier(ino),
            _ => {}
        }
        self.events.push(TimedEvent {
            pos,
            op: self.current_op,
            event: event.clone(),
        });
    }
}

/// Whether `event` is an acknowledgement: an operation returning, an AIO
/// completion delivered, or the DIO barrier returning. The oracle's
/// obligations change only at these, so only these become log marks (a
/// buggy filesystem may under-state its promise, so the harness does not
/// rely on the event's own `promise` here).
pub fn is_ack(event: &FsEvent) -> bool {
    !matches!(event, FsEvent::DioSubmitted { .. } | FsEvent::DioEnd { .. })
}

/// A short human-readable mark for the log (dm-log-writes marks are text).
fn mark_label(event: &FsEvent) -> String {
    match event {
        FsEvent::Returned { op, ino, .. } => match ino {
            Some(i) => format!("ret {op} f{i}"),
            None => format!("ret {op}"),
        },
        FsEvent::DioSubmitted { ino, dio, .. } => format!("dio-submit f{ino} #{dio}"),
        FsEvent::DioEnd { ino, dio } => format!("dio-end f{ino} #{dio}"),
        FsEvent::DioAcked { ino, dio, .. } => format!("dio-ack f{ino} #{dio}"),
        FsEvent::DioWaitReturned { ino } => format!("dio-wait f{ino}"),
    }
}
