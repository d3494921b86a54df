//! The `disk` device model: an asynchronous block device like the Linux
//! block layer (bios are submitted and complete later; a completed write
//! without FUA sits in a volatile cache until a flush), recording every
//! write, flush, completion and acknowledgement mark in a `replay` log.
//!
//! A target of this model writes a thin wrapper that implements its own
//! block API over [`Disk`] (see `targets/embedded/mod.rs`). The same type
//! serves the execution (a zeroed device, completions in the order of the
//! workload's schedule) and the crash checks (a device over a crash image,
//! completions in submission order, recording recovery's own writes only
//! when nested crashes are asked for).
//!
//! While it runs it also tracks which writes are in flight, volatile or
//! durable, so that the runtime DIO barrier (rule 6) is checked at the
//! instant `dio_wait` returns.

use super::ChunksRead;
use replay::image::Image;
use replay::log::{Log, LogBuilder, WriteFlags as LogFlags};
use std::collections::{BTreeMap, BTreeSet};

/// Bytes per sector: the unit of device addresses.
pub const SECTOR_SIZE: usize = 512;

/// Who issued a bio: the runtime barrier check (rule 6) needs the DIO
/// request of each bio; the rest only labels timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BioOwner {
    /// A bio of direct I/O request `dio` (numbered by the target) on `file`.
    Dio { file: u32, dio: u64 },
    /// Page-cache writeback of `file`.
    Writeback { file: u32 },
    /// Anything else, with a short label for timelines ("journal",
    /// "checkpoint", "superblock" …).
    Other(&'static str),
}

/// Request flags of a write bio, with the Linux block layer's meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WriteFlags {
    /// REQ_FUA: on stable media when the bio completes.
    pub fua: bool,
    /// REQ_PREFLUSH: the cache is flushed before the write is performed.
    pub preflush: bool,
    /// REQ_META: informational (dm-log-writes logs it).
    pub metadata: bool,
}

/// What a bio does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BioKind {
    /// Write `data` (whole sectors) at `sector`.
    Write {
        sector: u64,
        data: Vec<u8>,
        flags: WriteFlags,
    },
    /// An empty flush: when it completes, every write that had completed
    /// before it was submitted is durable.
    Flush,
}

/// One block I/O request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bio {
    pub kind: BioKind,
    pub owner: BioOwner,
}

/// A malformed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("I/O at sector {sector} for {sectors} sectors is past the end of the device ({size} sectors)")]
    OutOfRange {
        sector: u64,
        sectors: u64,
        size: u64,
    },
    #[error("I/O length {len} bytes is not a whole number of {SECTOR_SIZE}-byte sectors")]
    Misaligned { len: usize },
}

/// An acknowledgement or direct-I/O milestone, reported by the target at
/// the exact moment it happens (the `fs` vocabulary's marks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A synchronous operation returns to its caller.
    Returned { op: String, file: Option<u32> },
    /// `inode_dio_begin`: direct I/O request `dio` on `file` submitted.
    DioSubmitted { file: u32, dio: u64, dsync: bool },
    /// `inode_dio_end`: the request no longer counts in `i_dio_count`.
    DioEnd { file: u32, dio: u64 },
    /// The caller of the request is acknowledged (sync return or AIO
    /// completion delivered).
    DioAcked { file: u32, dio: u64 },
    /// `dio_wait` (the `inode_dio_wait` barrier) returned on `file`.
    DioWaitReturned { file: u32 },
}

impl Event {
    /// Whether the event is an acknowledgement: only these become log
    /// marks, since the oracle's obligations change only there.
    pub fn is_ack(&self) -> bool {
        !matches!(self, Event::DioSubmitted { .. } | Event::DioEnd { .. })
    }

    /// A short label for the log (dm-log-writes marks are text).
    fn label(&self) -> String {
        match self {
            Event::Returned { op, file } => match file {
                Some(f) => format!("ret {op} f{f}"),
                None => format!("ret {op}"),
            },
            Event::DioSubmitted { file, dio, .. } => format!("dio-submit f{file} #{dio}"),
            Event::DioEnd { file, dio } => format!("dio-end f{file} #{dio}"),
            Event::DioAcked { file, dio } => format!("dio-ack f{file} #{dio}"),
            Event::DioWaitReturned { file } => format!("dio-wait f{file}"),
        }
    }
}

/// An event with the log position at which it happened.
#[derive(Clone, Debug)]
pub struct TimedEvent {
    /// Log position (entry index) of the event.
    pub pos: usize,
    /// The workload operation running when it happened.
    pub op: usize,
    pub event: Event,
}

/// What a disk leaves behind.
pub struct Recording {
    pub log: Log,
    pub events: Vec<TimedEvent>,
    pub owners: BTreeMap<u64, BioOwner>,
}

/// A violation of the runtime DIO barrier (rule 6).
#[derive(Clone, Debug)]
pub struct BarrierViolation {
    pub op: usize,
    pub file: u32,
    pub pos: usize,
    pub message: String,
}

/// A request submitted and not yet completed.
#[derive(Debug)]
struct InFlight {
    id: u64,
    owner: BioOwner,
    write: Option<(u64, Vec<u8>, bool)>, // sector, data, fua
    /// For a flush or PREFLUSH write: the writes volatile at submission,
    /// durable when it completes.
    flushes: Option<Vec<u64>>,
}

/// The device's current contents.
enum Store {
    /// A zeroed device written by the execution: flat, the fastest reads;
    /// it holds bytes up to the highest one written only (the rest reads
    /// as zeros), so a large device costs what the workload uses.
    Flat(Vec<u8>),
    /// A crash image; recovery's writes go to this copy (chunks are
    /// copy-on-write, so the crash image itself is shared, not copied).
    Image(Image),
}

thread_local! {
    /// The flat store the last fresh device of this thread left, for the
    /// next (the log's arena likewise, [`LogBuilder::reusing`]). An
    /// execution rebuilds its device and log from nothing: growing them
    /// by doubling copied each about twice, and fresh memory costs a page
    /// fault and the kernel's zeroing per page (together a sixth of a
    /// short execution). Only allocations depend on it.
    static SPARE_FLAT: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// How many entries that device's log held: the next reserves as many.
    static LAST_LOG_ENTRIES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The largest flat store or entry count carried to the next device.
const CARRIED_MAX: usize = 64 << 20;

/// The `disk` device a target is mounted on.
pub struct Disk {
    store: Store,
    bytes: u64,
    /// `None`: nothing is recorded (a crash check without nested crashes).
    log: Option<LogBuilder>,
    next_id: u64,
    in_flight: Vec<InFlight>,
    /// Completed writes not yet made durable, by request id.
    volatile: BTreeSet<u64>,
    /// The target numbers its DIO requests per mount; the harness per
    /// execution: (file, dio) -> sequence.
    dio_seq: BTreeMap<(u32, u64), u64>,
    next_dio_seq: u64,
    /// Direct-I/O data writes per DIO sequence number, by request id.
    dio_writes: BTreeMap<u64, Vec<u64>>,
    /// O_DSYNC direct I/O requests submitted (sequence numbers), per file.
    dsync_dios: BTreeMap<u32, Vec<u64>>,
    schedule: Vec<u32>,
    next_pick: usize,
    forced_pick: Option<u32>,
    barrier_stable: bool,
    current_op: usize,
    owners: BTreeMap<u64, BioOwner>,
    events: Vec<TimedEvent>,
    violations: Vec<BarrierViolation>,
    /// Acknowledgements reported so far.
    acks: u64,
    /// Over a crash image: the chunks read (see [`Disk::take_chunks_read`]).
    chunks_read: ChunksRead,
}

impl Disk {
    /// A zeroed, recording device of `bytes` bytes, following `schedule`.
    /// With `barrier_stable`, rule 6 also demands that O_DSYNC DIO data be
    /// durable when `dio_wait` returns.
    pub fn new(bytes: u64, schedule: Vec<u32>, barrier_stable: bool) -> Self {
        assert!(
            bytes.is_multiple_of(SECTOR_SIZE as u64),
            "device size in sectors"
        );
        let mut flat = SPARE_FLAT.take();
        flat.clear();
        Self::with_store(
            Store::Flat(flat),
            bytes,
            Some(LogBuilder::reusing(bytes, LAST_LOG_ENTRIES.get())),
            schedule,
            barrier_stable,
        )
    }

    /// A device of no size that records nothing: what stands in the place
    /// of a device lent out for a call (`mem::replace`), costing nothing.
    pub fn stand_in() -> Self {
        Self::with_store(Store::Flat(Vec::new()), 0, None, Vec::new(), false)
    }

    /// A device over a crash image, completing requests in submission
    /// order; `record`: log recovery's writes (for nested crashes).
    pub fn over_image(image: Image, record: bool) -> Self {
        let bytes = image.len();
        let log = record.then(|| LogBuilder::new(bytes));
        Self::with_store(Store::Image(image), bytes, log, Vec::new(), false)
    }

    /// A recording device over a recovered crash image, following
    /// `schedule` like a fresh one: where a workload continues after a
    /// crash (crash and continue).
    pub fn continuing(image: Image, schedule: Vec<u32>, barrier_stable: bool) -> Self {
        let bytes = image.len();
        // Like a fresh device's, its log reuses what an earlier one left.
        let log = LogBuilder::reusing(bytes, LAST_LOG_ENTRIES.get());
        Self::with_store(
            Store::Image(image),
            bytes,
            Some(log),
            schedule,
            barrier_stable,
        )
    }

    fn with_store(
        store: Store,
        bytes: u64,
        log: Option<LogBuilder>,
        schedule: Vec<u32>,
        barrier_stable: bool,
    ) -> Self {
        Disk {
            store,
            bytes,
            log,
            next_id: 0,
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
            acks: 0,
            chunks_read: ChunksRead::default(),
        }
    }

    /// How many acknowledgements the target has reported: the executor
    /// marks an operation's return itself when its target reported none.
    pub fn acks(&self) -> u64 {
        self.acks
    }

    /// Size of the device in sectors.
    pub fn size_sectors(&self) -> u64 {
        self.bytes / SECTOR_SIZE as u64
    }

    /// The current log position (number of entries; 0 when not recording).
    pub fn position(&self) -> usize {
        self.log.as_ref().map_or(0, LogBuilder::len)
    }

    /// Marks the log with a label of the harness's own.
    pub fn mark(&mut self, label: &str) {
        if let Some(log) = &mut self.log {
            log.mark(label, &[]);
        }
    }

    /// Records which workload operation runs from now on.
    pub fn set_op(&mut self, op: usize) {
        self.current_op = op;
    }

    /// The workload operation running now (an engine that has one direct
    /// I/O per operation may use it as the request's id).
    pub fn current_op(&self) -> usize {
        self.current_op
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
    pub fn finish(mut self) -> Recording {
        if let (Store::Flat(flat), Some(log)) = (&mut self.store, &self.log) {
            LAST_LOG_ENTRIES.set(log.len().min(CARRIED_MAX / 64));
            if flat.capacity() <= CARRIED_MAX {
                SPARE_FLAT.set(std::mem::take(flat));
            }
        }
        Recording {
            log: self
                .log
                .unwrap_or_else(|| LogBuilder::new(self.bytes))
                .finish(),
            events: self.events,
            owners: self.owners,
        }
    }

    /// The chunks of the crash image read since the device was made over
    /// it (or since the last call), in increasing order, each once.
    /// Everything a deterministic target did on it (recovery, reading
    /// files back, its own check) is a function of these chunks' bytes
    /// alone: an image that holds the same bytes there gives the same
    /// outcome. `None` on a fresh device (not over a crash image).
    pub fn take_chunks_read(&mut self) -> Option<Vec<u64>> {
        match self.store {
            Store::Image(_) => Some(self.chunks_read.take()),
            Store::Flat(_) => None,
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

    /// Reads what a read bio would return now: every completed write.
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.check_range(sector, buf.len())?;
        let start = sector * SECTOR_SIZE as u64;
        match &self.store {
            Store::Flat(data) => {
                // Past the highest byte written, the device reads zeros.
                let start = start as usize;
                let have = data.len().saturating_sub(start).min(buf.len());
                if have > 0 {
                    buf[..have].copy_from_slice(&data[start..start + have]);
                }
                buf[have..].fill(0);
            }
            Store::Image(image) => {
                image.read(start, buf);
                self.chunks_read.note(start, buf.len() as u64);
            }
        }
        Ok(())
    }

    /// [`Disk::read`] of `len` bytes into a new buffer, copied without
    /// zeroing it first.
    pub fn read_vec(&mut self, sector: u64, len: usize) -> Result<Vec<u8>, DeviceError> {
        self.check_range(sector, len)?;
        let start = sector * SECTOR_SIZE as u64;
        let mut out = Vec::with_capacity(len);
        match &self.store {
            Store::Flat(data) => {
                let from = (start as usize).min(data.len());
                let have = (data.len() - from).min(len);
                out.extend_from_slice(&data[from..from + have]);
                out.resize(len, 0);
            }
            Store::Image(image) => {
                image.read_into(start, len, &mut out);
                self.chunks_read.note(start, len as u64);
            }
        }
        Ok(out)
    }

    /// Submits a bio; it completes later, through [`Disk::complete_next`].
    /// Returns its request id.
    pub fn submit(&mut self, bio: Bio) -> Result<u64, DeviceError> {
        let id = self.next_id;
        self.next_id += 1;
        let entry = match bio.kind {
            BioKind::Write {
                sector,
                data,
                flags,
            } => {
                self.check_range(sector, data.len())?;
                if let Some(log) = &mut self.log {
                    let logged = log.submit_write(
                        sector,
                        &data,
                        LogFlags {
                            fua: flags.fua,
                            preflush: flags.preflush,
                            metadata: flags.metadata,
                        },
                    );
                    debug_assert_eq!(logged, id, "log request ids follow the device's");
                }
                if let BioOwner::Dio { file, dio } = bio.owner {
                    if let Some(&seq) = self.dio_seq.get(&(file, dio)) {
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
            BioKind::Flush => {
                if let Some(log) = &mut self.log {
                    let logged = log.submit_flush();
                    debug_assert_eq!(logged, id, "log request ids follow the device's");
                }
                InFlight {
                    id,
                    owner: bio.owner,
                    write: None,
                    flushes: Some(self.volatile.iter().copied().collect()),
                }
            }
        };
        if self.log.is_some() {
            self.owners.insert(id, entry.owner);
        }
        self.in_flight.push(entry);
        Ok(id)
    }

    /// Completes one in-flight request, chosen by the schedule (the next
    /// pick, modulo the number in flight, oldest first; the picks repeat;
    /// with none, the oldest). Returns its id, `None` when idle.
    pub fn complete_next(&mut self) -> Option<u64> {
        if self.in_flight.is_empty() {
            return None;
        }
        let pick = match self.forced_pick.take() {
            Some(p) => p,
            None if self.schedule.is_empty() => 0,
            None => {
                // A short schedule is a standing policy ("always the
                // second oldest"), not a prefix of the run.
                let p = self.schedule[self.next_pick % self.schedule.len()];
                self.next_pick += 1;
                p
            }
        };
        let f = self.in_flight.remove(pick as usize % self.in_flight.len());
        if let Some(log) = &mut self.log {
            log.complete(f.id);
        }
        if let Some(flushed) = &f.flushes {
            for w in flushed {
                self.volatile.remove(w);
            }
        }
        if let Some((sector, data, fua)) = f.write {
            let start = sector * SECTOR_SIZE as u64;
            match &mut self.store {
                Store::Flat(bytes) => {
                    let start = start as usize;
                    if bytes.len() < start + data.len() {
                        bytes.resize(start + data.len(), 0);
                    }
                    bytes[start..start + data.len()].copy_from_slice(&data);
                }
                Store::Image(image) => image.write(start, &data),
            }
            if !fua {
                self.volatile.insert(f.id);
            }
        }
        Some(f.id)
    }

    /// Number of requests submitted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The target reports an acknowledgement or DIO milestone.
    pub fn event(&mut self, event: Event) {
        let pos = self.position();
        // Crash states are deduplicated per interval between marks, and
        // within one the earliest state is the strictest check: only
        // acknowledgements become marks.
        if event.is_ack() {
            self.acks += 1;
            if let Some(log) = &mut self.log {
                log.mark(&event.label(), &[]);
            }
        }
        match event {
            Event::DioSubmitted { file, dio, dsync } => {
                let seq = self.next_dio_seq;
                self.next_dio_seq += 1;
                self.dio_seq.insert((file, dio), seq);
                if dsync {
                    self.dsync_dios.entry(file).or_default().push(seq);
                }
            }
            Event::DioWaitReturned { file } => self.check_runtime_barrier(file),
            _ => {}
        }
        if self.log.is_some() {
            self.events.push(TimedEvent {
                pos,
                op: self.current_op,
                event,
            });
        }
    }

    /// Rule 6, at the instant `dio_wait` on `file` returns.
    fn check_runtime_barrier(&mut self, file: u32) {
        let mut problems = Vec::new();
        for f in &self.in_flight {
            if let BioOwner::Dio { file: of, dio } = f.owner {
                if of == file {
                    problems.push(format!(
                        "bio {} of direct I/O #{dio} is still in flight",
                        f.id
                    ));
                }
            }
        }
        if self.barrier_stable {
            for &seq in self.dsync_dios.get(&file).into_iter().flatten() {
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
                file,
                pos: self.position(),
                message: format!("dio_wait(f{file}) returned but {}", problems.join("; ")),
            });
        }
    }
}
