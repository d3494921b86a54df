//! The reference model the oracle holds a filesystem to.
//!
//! From a workload and the positions at which its operations started,
//! ended and were acknowledged (log positions), the model says which values
//! each byte, and which sizes each file, may legitimately hold at a crash at
//! log position `p`, and at run time (read your writes).
//!
//! Each byte has a history of *modifications* (writes, and the zeroes of a
//! truncate), each with a start and an end position. A *promise* (an
//! acknowledged O_DSYNC write, fsync, fdatasync, syncfs, remount, or the
//! `dio_wait` barrier under `barrier = stable`) covering the byte and
//! acknowledged before `p` makes every modification that ended before a
//! newer one that the promise covers *superseded*: it may no longer be
//! seen. A byte may hold the value of any modification that started before
//! `p` and is not superseded (DESIGN.md rules 2, 4 and 5); sizes likewise
//! (rule 3). Concurrency (in-flight AIO) falls out: a modification whose
//! interval overlaps a newer one is not superseded by it.

use crate::engine::fs::{Piece, SparseBytes};
use crate::target::{Names, Sizes};
use crate::workload::{pattern, pattern_byte, write_id, FileId, Op, Workload, FILE_LIMIT};
use std::collections::BTreeMap;

/// Per segment of a file, the modifications whose value may show there
/// after a crash at some position ([`Model::data_plan`]): everything the
/// model's verdict on the file's bytes depends on besides the bytes. Many
/// crash positions share one ([`FileModel::plan_epoch`] tells which), so
/// bytes already allowed under it need no second comparison. Flat: `lo,
/// hi, n` and the `n` modification indices, segment after segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataPlan(Vec<u64>);

/// A position no execution reaches: "never happened".
pub const NEVER: usize = usize::MAX;

/// What a modification wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// Zeroes: the initial hole, or what a truncate leaves past the new EOF.
    Zero,
    /// The pattern of write `wid` (operation `wid - 1`).
    Write { wid: u32 },
    /// What the file held when the workload started (a continuation after
    /// a crash: the recovered state), zeros past it.
    Base,
}

/// A file as a continuation after a crash found it: the recovered state,
/// all of it durable (the crash image is the media).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseFile {
    pub exists: bool,
    pub data: Vec<u8>,
}

/// One modification of a byte range of a file.
#[derive(Clone, Debug)]
pub struct Mod {
    pub lo: u64,
    pub hi: u64,
    pub value: Value,
    /// The operation, `None` for the initial state.
    pub op: Option<usize>,
    pub start: usize,
    pub end: usize,
}

/// What a promise holds stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Covers {
    /// Exactly the modification with this index (an O_DSYNC write's own
    /// data).
    Own(usize),
    /// Every modification of the range that ended at or before `cut`
    /// (fsync: everything that completed before it was called).
    EndedBy(usize),
    /// The same but for punched holes (fdatasync: a hole is the block
    /// map's change, not data, and no filesystem documents that
    /// fdatasync makes it durable).
    DataEndedBy(usize),
}

/// Who made a promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The acknowledgement of this operation.
    Ack(usize),
    /// The `dio_wait` of this operation, under `barrier = stable`.
    Barrier(usize),
}

impl Source {
    pub fn op(self) -> usize {
        match self {
            Source::Ack(op) | Source::Barrier(op) => op,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DataPromise {
    pub lo: u64,
    pub hi: u64,
    /// In force for crashes at positions `>= ack`.
    pub ack: usize,
    pub covers: Covers,
    pub source: Source,
}

/// A size the file took, with the interval in which it took it.
#[derive(Clone, Debug)]
pub struct SizeMod {
    pub size: u64,
    pub op: Option<usize>,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug)]
pub struct SizePromise {
    pub ack: usize,
    pub covers: Covers,
    pub source: Source,
}

/// "The size is at least `min`": what an acknowledged O_DSYNC write
/// promises (its data must be readable), unless a truncate below `min`
/// started after the write did.
#[derive(Clone, Debug)]
pub struct SizeFloor {
    pub min: u64,
    pub ack: usize,
    /// Start of the write that made the promise.
    pub start: usize,
    pub source: Source,
}

/// Start, end and acknowledgement positions of one operation, as the
/// executor recorded them.
#[derive(Clone, Debug, Default)]
pub struct OpTimes {
    /// Log position when the operation was called.
    pub start: usize,
    /// Log position when it returned (`NEVER` if it did not).
    pub end: usize,
    /// Whether it succeeded (an expected error leaves no trace).
    pub ok: bool,
    /// For direct I/O: when `inode_dio_end` ran and when the caller was
    /// acknowledged (`NEVER` if not yet).
    pub dio_end: usize,
    pub dio_ack: usize,
}

#[cfg(test)]
impl OpTimes {
    /// Operations that succeeded, each (called, returned) as given, its
    /// direct I/O (if any) ending and acknowledged on return: times for
    /// tests of the model.
    pub(crate) fn spans(spec: &[(usize, usize)]) -> Vec<OpTimes> {
        spec.iter()
            .map(|&(start, end)| OpTimes {
                start,
                end,
                ok: true,
                dio_end: end,
                dio_ack: end,
            })
            .collect()
    }
}

/// Everything the model needs about one file.
#[derive(Clone, Debug, Default)]
pub struct FileModel {
    pub mods: Vec<Mod>,
    pub promises: Vec<DataPromise>,
    pub sizes: Vec<SizeMod>,
    pub size_promises: Vec<SizePromise>,
    pub floors: Vec<SizeFloor>,
    /// Truncates: (start, new size), for voiding size floors.
    truncates: Vec<(usize, u64)>,
    /// The mods that are punched holes (what fdatasync leaves unpromised).
    holes: Vec<usize>,
    /// Elementary segments: every mod and promise covers each wholly or
    /// not at all.
    bounds: Vec<u64>,
    /// Where the file's first successful `create` started (0 when it
    /// existed before the workload; `NEVER`: not created): before it, the
    /// file must not exist.
    pub created: usize,
    /// From this position on the file must exist, and the promise that
    /// made its creation durable (fsync of the file, syncfs, remount).
    pub create_durable: Option<(usize, Source)>,
}

/// A change of what a name refers to, from `start` to `end`.
#[derive(Clone, Debug)]
pub struct NameEvent {
    pub start: usize,
    pub end: usize,
    /// The inode it names from then on (`None`: no file).
    pub target: Option<usize>,
    /// From when on the change is durable, and who made it so.
    pub durable: Option<(usize, Source)>,
}

/// One name's history: what `f{n}` referred to, oldest first (the first
/// event is the start of the workload, durable).
#[derive(Clone, Debug)]
pub struct NameModel {
    pub events: Vec<NameEvent>,
}

impl NameModel {
    fn push(&mut self, t: &OpTimes, target: Option<usize>) {
        self.events.push(NameEvent {
            start: t.start,
            end: t.end,
            target,
            durable: None,
        });
    }

    /// Operation `i` at `t` (syncfs, a directory fsync) makes every change
    /// that ended before it started durable when it returns.
    fn make_durable(&mut self, t: &OpTimes, i: usize) {
        for e in self.events.iter_mut().filter(|e| e.durable.is_none()) {
            if e.end <= t.start {
                e.durable = Some((t.end, Source::Ack(i)));
            }
        }
    }

    /// What the name may refer to after a crash at `p`, newest first: the
    /// newest change durable by `p` and every change started after it.
    /// With the promise that made the oldest of them durable.
    pub fn candidates(&self, p: usize) -> (Vec<Option<usize>>, Option<Source>) {
        let d = self
            .events
            .iter()
            .rposition(|e| e.durable.is_some_and(|(ack, _)| ack <= p))
            .unwrap_or(0);
        let mut out = vec![self.events[d].target];
        for e in &self.events[d + 1..] {
            if e.start < p && !out.contains(&e.target) {
                out.push(e.target);
            }
        }
        out.reverse();
        let source = self.events[d]
            .durable
            .map(|(_, s)| s)
            .filter(|s| s.op() != usize::MAX);
        (out, source)
    }
}

/// The model of a whole execution.
#[derive(Clone, Debug)]
pub struct Model {
    /// By inode (see [`Model::build_over`]).
    pub files: Vec<FileModel>,
    /// By name: what each `f{n}` referred to, for the namespace checks.
    pub entries: Vec<NameModel>,
    /// By directory: whether `d{n}` exists (its target is `Some`).
    pub dirs: Vec<NameModel>,
    /// By operation: the inode its file named when it ran.
    pub op_inode: Vec<Option<usize>>,
    /// Whether a name was unlinked, renamed or created again: then a
    /// name's file is judged by [`NameModel::candidates`], not by its own
    /// creation.
    pub renames: bool,
    /// Pattern bytes of each write, by write id ([`write_id`] of its
    /// index in the whole workload).
    data: BTreeMap<u32, std::sync::Arc<[u8]>>,
    /// The files before the workload (empty: none existed).
    base: Vec<BaseFile>,
    /// In a continuation (crash and continue): the index, in the whole
    /// workload, of this model's operation 0, and the operations that ran
    /// before the crash. Its writes' bytes are the whole workload's (no
    /// earlier write's bytes can pass for a continuation write's), a
    /// finding numbers operations as the reproducer does, and bytes a
    /// second crash brings back from before the first are named.
    pub continuation: Option<Earlier>,
    /// When a creation is durable (the target's contract).
    pub names: Names,
    /// Which sizes a crash may leave (the target's contract).
    pub sizes: Sizes,
}

/// What a continuation's model knows of the run before its crash.
#[derive(Clone, Debug, Default)]
pub struct Earlier {
    /// The whole workload's index of the continuation's operation 0.
    pub op_offset: usize,
    /// The operations that ran before the crash (the whole workload's
    /// first `op_offset`): their writes' bytes are pure functions of
    /// them, made only when a finding is described.
    pub ops: Vec<Op>,
}

/// Where bytes came from ([`Model::identify`]).
#[derive(Clone, Debug)]
pub struct Identified {
    pub file: FileId,
    pub offset: u64,
    /// The operation, numbered as in the whole workload.
    pub op: usize,
    pub text: String,
    /// Written before the crash a continuation recovered from.
    pub before_crash: bool,
}

/// An O_DSYNC direct write being tracked: (op index, start position,
/// first byte, end byte, index of its data modification).
type DsyncDio = (usize, usize, u64, u64, usize);

/// Allowed values of one segment at one crash position.
#[derive(Clone, Debug)]
pub struct SegmentVerdict {
    /// Mods whose values may be seen.
    pub allowed: Vec<usize>,
    /// The newest superseding mod (`None`: nothing superseded).
    pub superseder: Option<(usize, Source)>,
}

impl Model {
    /// Builds the model of `workload` given the recorded times of its
    /// operations (`times.len()` may be shorter than the workload: the
    /// operations run so far). `barrier_stable`: whether `dio_wait` promises
    /// O_DSYNC DIO data stable.
    pub fn build(workload: &Workload, times: &[OpTimes], barrier_stable: bool) -> Model {
        Self::build_over(
            workload,
            times,
            barrier_stable,
            (&[], None),
            (Names::FileFsync, Sizes::Stepwise),
        )
    }

    /// [`Model::build`] for a workload that starts on existing files
    /// (`base`, by file index; missing entries: no file): a continuation
    /// after a crash, whose recovered state is durable and owed, and
    /// whose operations (`earlier`) ran before it.
    pub fn build_over(
        workload: &Workload,
        times: &[OpTimes],
        barrier_stable: bool,
        (base, earlier): (&[BaseFile], Option<&Earlier>),
        (names, sizes): (Names, Sizes),
    ) -> Model {
        let first_op = earlier.map_or(0, |e| e.op_offset);
        let nfiles = workload.header.files as usize;
        let base_of = |file: usize| base.get(file).filter(|b| b.exists);
        // Files by inode: inode `f` is the first file named `f{f}` (what
        // the workload started with, or its first create); a name created
        // again after an unlink or a rename gets a new inode past them.
        let mut files: Vec<FileModel> = (0..nfiles)
            .map(|file| FileModel::initial(base_of(file)))
            .collect();
        // Creates that may still be volatile, per inode: their end.
        let mut pending_create: Vec<Option<usize>> = vec![None; nfiles];
        // The namespace as the operations run: each name's inode, whether
        // inode `f` was given out, and each name's history.
        let mut bound: Vec<Option<usize>> = (0..nfiles).map(|f| base_of(f).map(|_| f)).collect();
        let mut given: Vec<bool> = bound.iter().map(Option::is_some).collect();
        let mut entries: Vec<NameModel> = bound
            .iter()
            .map(|&target| NameModel {
                events: vec![NameEvent {
                    start: 0,
                    end: 0,
                    target,
                    durable: Some((0, Source::Ack(usize::MAX))),
                }],
            })
            .collect();
        let mut op_inode: Vec<Option<usize>> = vec![None; workload.ops.len()];
        // Directories: none at the start of a fresh filesystem. A
        // continuation's base holds files only, so there a directory may
        // or may not exist until a `mkdir` makes it and a directory fsync
        // makes that durable (an event that never ends is never made
        // durable).
        let mut dirs: Vec<NameModel> = (0..crate::workload::files::DIRS)
            .map(|dir| {
                let mut events = vec![NameEvent {
                    start: 0,
                    end: 0,
                    target: None,
                    durable: Some((0, Source::Ack(usize::MAX))),
                }];
                if !base.is_empty() {
                    events.push(NameEvent {
                        start: 0,
                        end: NEVER,
                        target: Some(dir as usize),
                        durable: None,
                    });
                }
                NameModel { events }
            })
            .collect();
        let mut data = BTreeMap::new();
        // Size changes take effect at some moment between their start and
        // end (a buffered write or truncate while it runs, a DIO by
        // inode_dio_end); `possible_sizes` works out what each may yield.
        let mut size_events: Vec<SizeEvent> = Vec::new();
        // O_DSYNC direct writes per file: (op, start, lo, hi, mod index).
        let mut dsync_dios: Vec<Vec<DsyncDio>> = vec![Vec::new(); nfiles];

        for (i, (op, t)) in workload.ops.iter().zip(times).enumerate() {
            if !t.ok {
                continue;
            }
            let wid = write_id(first_op + i);
            // The inode the operation's file names (a create of a free
            // name makes one); none: an operation on no file.
            let ino = match *op {
                Op::Create { file } if bound[file as usize].is_none() => {
                    let ino = if given[file as usize] {
                        files.push(FileModel::initial(None));
                        pending_create.push(None);
                        dsync_dios.push(Vec::new());
                        files.len() - 1
                    } else {
                        given[file as usize] = true;
                        file as usize
                    };
                    files[ino].created = t.start;
                    pending_create[ino] = Some(t.end);
                    bound[file as usize] = Some(ino);
                    entries[file as usize].push(t, Some(ino));
                    Some(ino)
                }
                _ => op.file().and_then(|f| bound[f as usize]),
            };
            op_inode[i] = ino;
            let Some(ino) = ino.or(op.file().is_none().then_some(usize::MAX)) else {
                continue; // a name bound to nothing: the operation failed
            };
            // A size change of this operation's file, in effect by `end`.
            let size_event = |change, end| SizeEvent {
                op: i,
                file: ino,
                change,
                start: t.start,
                end,
            };
            match *op {
                Op::Write {
                    file,
                    offset,
                    len,
                    dsync,
                } => {
                    let f = &mut files[ino];
                    data.insert(wid, pattern(file, offset, len, wid));
                    f.mods.push(Mod {
                        lo: offset,
                        hi: offset + len,
                        value: Value::Write { wid },
                        op: Some(i),
                        start: t.start,
                        end: t.end,
                    });
                    let m = f.mods.len() - 1;
                    size_events.push(size_event(SizeChange::AtLeast(offset + len), t.end));
                    if dsync && t.end != NEVER {
                        f.promises.push(DataPromise {
                            lo: offset,
                            hi: offset + len,
                            ack: t.end,
                            covers: Covers::Own(m),
                            source: Source::Ack(i),
                        });
                        f.floors.push(SizeFloor {
                            min: offset + len,
                            ack: t.end,
                            start: t.start,
                            source: Source::Ack(i),
                        });
                    }
                }
                Op::DioWrite {
                    file,
                    offset,
                    len,
                    dsync,
                    misaligned: false,
                    ..
                } => {
                    let f = &mut files[ino];
                    data.insert(wid, pattern(file, offset, len, wid));
                    f.mods.push(Mod {
                        lo: offset,
                        hi: offset + len,
                        value: Value::Write { wid },
                        op: Some(i),
                        start: t.start,
                        end: t.dio_end,
                    });
                    let m = f.mods.len() - 1;
                    size_events.push(size_event(SizeChange::AtLeast(offset + len), t.dio_end));
                    if dsync {
                        if t.dio_ack != NEVER {
                            f.promises.push(DataPromise {
                                lo: offset,
                                hi: offset + len,
                                ack: t.dio_ack,
                                covers: Covers::Own(m),
                                source: Source::Ack(i),
                            });
                            f.floors.push(SizeFloor {
                                min: offset + len,
                                ack: t.dio_ack,
                                start: t.start,
                                source: Source::Ack(i),
                            });
                        }
                        dsync_dios[ino].push((i, t.start, offset, offset + len, m));
                    }
                }
                Op::Truncate { size, .. } => {
                    let f = &mut files[ino];
                    f.mods.push(Mod {
                        lo: size,
                        hi: FILE_LIMIT,
                        value: Value::Zero,
                        op: Some(i),
                        start: t.start,
                        end: t.end,
                    });
                    f.truncates.push((t.start, size));
                    size_events.push(size_event(SizeChange::Set(size), t.end));
                }
                Op::Fallocate {
                    offset,
                    len,
                    keep_size: false,
                    ..
                } => {
                    // New space reads as zeros, which the file holds past
                    // its size already: only the size changes.
                    size_events.push(size_event(SizeChange::AtLeast(offset + len), t.end));
                }
                Op::PunchHole { offset, len, .. } => {
                    let f = &mut files[ino];
                    f.mods.push(Mod {
                        lo: offset,
                        hi: offset + len,
                        value: Value::Zero,
                        op: Some(i),
                        start: t.start,
                        end: t.end,
                    });
                    f.holes.push(f.mods.len() - 1);
                }
                // The directory exists from now on (made, or there already).
                Op::Mkdir { dir } => dirs[dir as usize].push(t, Some(dir as usize)),
                Op::Unlink { file } => {
                    bound[file as usize] = None;
                    entries[file as usize].push(t, None);
                }
                Op::Rename { from, to } => {
                    bound[from as usize] = None;
                    bound[to as usize] = Some(ino);
                    entries[from as usize].push(t, None);
                    entries[to as usize].push(t, Some(ino));
                }
                Op::Fsync { file } | Op::Fdatasync { file } if t.end != NEVER => {
                    // fsync (not fdatasync) makes a completed create durable.
                    if matches!(op, Op::Fsync { .. }) && names == Names::FileFsync {
                        make_create_durable(&mut files, &mut pending_create, ino, t, i);
                        entries[file as usize].make_durable(t, i);
                    }
                    let f = &mut files[ino];
                    match op {
                        Op::Fsync { .. } => f.promise_all(t.start, t.end, Source::Ack(i)),
                        _ => f.promise_data(t.start, t.end, Source::Ack(i)),
                    }
                }
                Op::Syncfs | Op::Remount | Op::DirFsync if t.end != NEVER => {
                    for ino in 0..files.len() {
                        make_create_durable(&mut files, &mut pending_create, ino, t, i);
                    }
                    for entry in entries.iter_mut().chain(dirs.iter_mut()) {
                        entry.make_durable(t, i);
                    }
                    if !matches!(op, Op::DirFsync) {
                        for f in files.iter_mut() {
                            f.promise_all(t.start, t.end, Source::Ack(i));
                        }
                    }
                }
                Op::DioWait { .. } if barrier_stable && t.end != NEVER => {
                    let f = &mut files[ino];
                    for &(_, start, lo, hi, m) in &dsync_dios[ino] {
                        if start < t.start {
                            f.promises.push(DataPromise {
                                lo,
                                hi,
                                ack: t.end,
                                covers: Covers::Own(m),
                                source: Source::Barrier(i),
                            });
                            f.floors.push(SizeFloor {
                                min: hi,
                                ack: t.end,
                                start,
                                source: Source::Barrier(i),
                            });
                        }
                    }
                }
                _ => {}
            }
        }

        for (ino, f) in files.iter_mut().enumerate() {
            let changes: Vec<SizeEvent> = size_events
                .iter()
                .filter(|e| e.file == ino)
                .copied()
                .collect();
            let initial = f.sizes[0].size;
            for (c, values) in changes.iter().zip(possible_sizes(&changes, initial)) {
                for size in values {
                    f.sizes.push(SizeMod {
                        size,
                        op: Some(c.op),
                        start: c.start,
                        end: c.end,
                    });
                }
            }
        }
        for f in files.iter_mut() {
            let mut bounds: Vec<u64> = vec![0, FILE_LIMIT];
            for m in &f.mods {
                bounds.extend([m.lo, m.hi]);
            }
            for p in &f.promises {
                bounds.extend([p.lo, p.hi]);
            }
            bounds.sort_unstable();
            bounds.dedup();
            f.bounds = bounds;
        }
        let renames = workload
            .ops
            .iter()
            .zip(times)
            .any(|(op, t)| t.ok && matches!(op, Op::Unlink { .. } | Op::Rename { .. }));
        Model {
            files,
            entries,
            dirs,
            op_inode,
            renames,
            data,
            base: base.to_vec(),
            names,
            sizes,
            continuation: earlier.cloned(),
        }
    }

    /// The bytes file (inode) `ino` held before the workload.
    fn base_bytes(&self, ino: usize) -> &[u8] {
        self.base.get(ino).map_or(&[], |b| &b.data[..])
    }

    /// The value mod `m` of file (inode) `ino` gives byte `offset`.
    pub fn byte(&self, ino: usize, m: &Mod, offset: u64) -> u8 {
        match m.value {
            Value::Zero => 0,
            Value::Base => self
                .base_bytes(ino)
                .get(offset as usize)
                .copied()
                .unwrap_or(0),
            Value::Write { wid } => match (m.op, self.data.get(&wid)) {
                (Some(_), Some(d)) => d[(offset - m.lo) as usize],
                _ => pattern_byte(ino as FileId, offset, wid),
            },
        }
    }

    /// The bytes mod `m` gives `lo..hi` (inside the mod's range).
    fn slice_matches(&self, ino: usize, m: &Mod, lo: u64, observed: &[u8]) -> bool {
        match m.value {
            Value::Base => {
                let base = self.base_bytes(ino);
                let lo = lo as usize;
                let have = base.len().saturating_sub(lo).min(observed.len());
                (have == 0 || observed[..have] == base[lo..lo + have])
                    && observed[have..]
                        .chunks(512)
                        .all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
            }
            // OR-folded in chunks: vectorised, where `all` stops per byte
            // (holes of large files are megabytes).
            Value::Zero => observed
                .chunks(512)
                .all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0),
            Value::Write { wid } => {
                let d = &self.data[&wid];
                let a = (lo - m.lo) as usize;
                d[a..a + observed.len()] == *observed
            }
        }
    }
}

/// An fsync, syncfs or remount `t` (operation `i`) that started after
/// `file`'s create returned makes the creation durable at its return.
fn make_create_durable(
    files: &mut [FileModel],
    pending: &mut [Option<usize>],
    ino: usize,
    t: &OpTimes,
    i: usize,
) {
    let Some(end) = pending[ino] else {
        return;
    };
    if end <= t.start {
        files[ino].create_durable = Some((t.end, Source::Ack(i)));
        pending[ino] = None;
    }
}

#[derive(Clone, Copy, Debug)]
enum SizeChange {
    /// A write: the size becomes at least this.
    AtLeast(u64),
    /// A truncate: the size becomes this.
    Set(u64),
}

/// A change of a file's size that takes effect at some moment in
/// `start..=end`.
#[derive(Clone, Copy, Debug)]
struct SizeEvent {
    op: usize,
    /// The inode.
    file: usize,
    change: SizeChange,
    start: usize,
    end: usize,
}

/// The sizes each change may leave, given that changes whose intervals
/// overlap may take effect in either order: the value before a change is
/// that left by any change that may be the one just before it (or the
/// initial 0 if none must precede it). Computed as a fixpoint; the values
/// are drawn from a finite set, so it ends.
fn possible_sizes(changes: &[SizeEvent], initial: u64) -> Vec<Vec<u64>> {
    let before = |a: &SizeEvent, b: &SizeEvent| a.end <= b.start;
    let n = changes.len();
    // may_precede[c] = changes that may take effect just before c.
    let may_precede: Vec<Vec<usize>> = (0..n)
        .map(|c| {
            (0..n)
                .filter(|&p| {
                    p != c
                        && changes[p].start < changes[c].end
                        && !before(&changes[c], &changes[p])
                        && !(0..n).any(|m| {
                            m != p
                                && m != c
                                && before(&changes[p], &changes[m])
                                && before(&changes[m], &changes[c])
                        })
                })
                .collect()
        })
        .collect();
    let first_possible: Vec<bool> = (0..n)
        .map(|c| !(0..n).any(|p| p != c && before(&changes[p], &changes[c])))
        .collect();
    let apply = |c: &SizeEvent, v: u64| match c.change {
        SizeChange::AtLeast(e) => v.max(e),
        SizeChange::Set(s) => s,
    };
    let mut values: Vec<Vec<u64>> = vec![Vec::new(); n];
    loop {
        let mut changed = false;
        for c in 0..n {
            let mut priors: Vec<u64> = may_precede[c]
                .iter()
                .flat_map(|&p| values[p].iter().copied())
                .collect();
            if first_possible[c] {
                priors.push(initial);
            }
            for v in priors {
                let r = apply(&changes[c], v);
                if !values[c].contains(&r) {
                    values[c].push(r);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for v in values.iter_mut() {
        v.sort_unstable();
    }
    values
}

impl FileModel {
    /// A file before the workload: what `base` held, durable (a
    /// continuation after a crash), or none yet (zeroes, size 0, not
    /// created).
    fn initial(base: Option<&BaseFile>) -> FileModel {
        FileModel {
            mods: vec![Mod {
                lo: 0,
                hi: FILE_LIMIT,
                value: base.map_or(Value::Zero, |_| Value::Base),
                op: None,
                start: 0,
                end: 0,
            }],
            sizes: vec![SizeMod {
                size: base.map_or(0, |b| b.data.len() as u64),
                op: None,
                start: 0,
                end: 0,
            }],
            created: if base.is_some() { 0 } else { NEVER },
            create_durable: base.map(|_| (0, Source::Ack(usize::MAX))),
            ..FileModel::default()
        }
    }

    fn promise_all(&mut self, cut: usize, ack: usize, source: Source) {
        self.promises.push(DataPromise {
            lo: 0,
            hi: FILE_LIMIT,
            ack,
            covers: Covers::EndedBy(cut),
            source,
        });
        self.size_promises.push(SizePromise {
            ack,
            covers: Covers::EndedBy(cut),
            source,
        });
    }

    /// fdatasync's promise: [`FileModel::promise_all`] but for punched
    /// holes.
    fn promise_data(&mut self, cut: usize, ack: usize, source: Source) {
        self.promise_all(cut, ack, source);
        let data = self.promises.last_mut().expect("pushed above");
        data.covers = Covers::DataEndedBy(cut);
    }

    /// The newest modification of `lo..hi` that a promise in force at
    /// crash position `p` holds stable (its start position), and who
    /// promised it. `with_barrier`: count `dio_wait` promises.
    fn superseder(
        &self,
        lo: u64,
        hi: u64,
        p: usize,
        with_barrier: bool,
        runtime_cut: Option<usize>,
    ) -> Option<(usize, Source)> {
        let mut best: Option<(usize, usize, Source)> = None; // (start, mod, source)
        let mut consider = |m: usize, source: Source| {
            let start = self.mods[m].start;
            if best.is_none_or(|(s, _, _)| start > s) {
                best = Some((start, m, source));
            }
        };
        // The mods (past the initial state) holding the whole segment, in
        // index order, found once: a range promise walks only these, not
        // every mod of the file (the judgement was promises x mods per
        // segment, the largest part of it on long workloads).
        let covering = std::cell::OnceCell::<Vec<usize>>::new();
        let covering = || {
            covering.get_or_init(|| {
                (1..self.mods.len())
                    .filter(|&m| self.mods[m].lo <= lo && hi <= self.mods[m].hi)
                    .collect()
            })
        };
        for pr in &self.promises {
            if pr.ack > p || pr.hi <= lo || pr.lo >= hi {
                continue;
            }
            if !with_barrier && matches!(pr.source, Source::Barrier(_)) {
                continue;
            }
            match pr.covers {
                Covers::Own(m) => consider(m, pr.source),
                Covers::EndedBy(cut) | Covers::DataEndedBy(cut) => {
                    let data_only = matches!(pr.covers, Covers::DataEndedBy(_));
                    for &m in covering() {
                        if self.mods[m].end <= cut && !(data_only && self.holes.contains(&m)) {
                            consider(m, pr.source);
                        }
                    }
                }
            }
        }
        // At run time everything that completed is visible: an implicit
        // promise covering every modification that ended by now.
        if let Some(cut) = runtime_cut {
            for &m in covering() {
                let md = &self.mods[m];
                if md.end <= cut {
                    consider(m, Source::Ack(md.op.unwrap_or(0)));
                }
            }
        }
        best.map(|(_, m, s)| (m, s))
    }

    /// What [`Model::data_plan`] of this file depends on of the crash
    /// position `p`: how many of its promises are in force (acknowledged
    /// by `p`) and how many of its modifications had started. Both sets
    /// only grow with `p`, so two positions with the same counts have the
    /// same sets, and the same plan for the same length.
    pub fn plan_epoch(&self, p: usize) -> (usize, usize) {
        (
            self.promises.iter().filter(|pr| pr.ack <= p).count(),
            self.mods.iter().filter(|m| m.start < p).count(),
        )
    }

    /// Mods of segment `lo..hi` that may be seen at crash position `p`.
    fn allowed(&self, lo: u64, hi: u64, p: usize, superseder: Option<usize>) -> Vec<usize> {
        let threshold = superseder.map(|m| self.mods[m].start);
        self.mods
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.lo <= lo
                    && hi <= m.hi
                    && (*i == 0 || m.start < p)
                    && threshold.is_none_or(|t| m.end > t)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Segments covering `from..to`.
    fn segments(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.bounds
            .windows(2)
            .map(|w| (w[0], w[1]))
            .filter(move |&(lo, hi)| hi > from && lo < to)
            .map(move |(lo, hi)| (lo.max(from), hi.min(to)))
    }

    /// Sizes the file may have after a crash at `p`, and the floor the
    /// acknowledged O_DSYNC writes put under it (with who promised it).
    pub fn allowed_sizes(
        &self,
        p: usize,
        with_barrier: bool,
        runtime_cut: Option<usize>,
    ) -> (Vec<u64>, Option<(u64, Source)>) {
        let mut threshold: Option<usize> = None;
        if let Some(cut) = runtime_cut {
            for s in self.sizes.iter().skip(1) {
                if s.end <= cut {
                    threshold = Some(threshold.map_or(s.start, |t| t.max(s.start)));
                }
            }
        }
        for pr in &self.size_promises {
            if pr.ack > p {
                continue;
            }
            if let Covers::EndedBy(cut) | Covers::DataEndedBy(cut) = pr.covers {
                for s in self.sizes.iter().skip(1) {
                    if s.end <= cut {
                        threshold = Some(threshold.map_or(s.start, |t| t.max(s.start)));
                    }
                }
            }
        }
        let mut sizes: Vec<u64> = self
            .sizes
            .iter()
            .enumerate()
            .filter(|(i, s)| (*i == 0 || s.start < p) && threshold.is_none_or(|t| s.end > t))
            .map(|(_, s)| s.size)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut floor: Option<(u64, Source)> = None;
        for fl in &self.floors {
            if fl.ack > p || (!with_barrier && matches!(fl.source, Source::Barrier(_))) {
                continue;
            }
            let voided = self
                .truncates
                .iter()
                .any(|&(start, size)| start > fl.start && start < p && size < fl.min);
            if !voided && floor.is_none_or(|(m, _)| fl.min > m) {
                floor = Some((fl.min, fl.source));
            }
        }
        (sizes, floor)
    }
}

/// A byte range that holds a value the model does not allow.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub lo: u64,
    pub hi: u64,
    pub verdict: SegmentVerdict,
    /// The verdict without the `dio_wait` promises: if the observed bytes
    /// are allowed by it, the barrier is what broke (rule 4).
    pub allowed_without_barrier: bool,
    /// The mod of this file whose bytes were observed, if any.
    pub observed_mod: Option<usize>,
}

impl Model {
    /// Checks the contents of file (inode) `ino` (its first `observed.len()` bytes)
    /// against what a crash at `p` allows; returns the first bad range.
    /// `runtime_cut`: check a read at run time, when everything that ended
    /// by that position is visible (rule 8); `p` is then `NEVER - 1`.
    pub fn check_data(
        &self,
        ino: usize,
        base: u64,
        observed: &[u8],
        p: usize,
        runtime_cut: Option<usize>,
    ) -> Option<Mismatch> {
        let f = &self.files[ino];
        for (lo, hi) in f.segments(base, base + observed.len() as u64) {
            let sup = f.superseder(lo, hi, p, true, runtime_cut);
            let allowed = f.allowed(lo, hi, p, sup.map(|s| s.0));
            let bytes = &observed[(lo - base) as usize..(hi - base) as usize];
            if self.segment_ok(ino, f, &allowed, lo, bytes) {
                continue;
            }
            // Narrow to the first bad byte run for the report.
            let at = |o: u64| observed[(o - base) as usize];
            let bad_byte = |o: u64| {
                !allowed
                    .iter()
                    .any(|&m| self.byte(ino, &f.mods[m], o) == at(o))
            };
            let bad = (lo..hi).find(|&o| bad_byte(o)).unwrap_or(lo);
            let mut end = bad + 1;
            while end < hi && bad_byte(end) {
                end += 1;
            }
            let run = &observed[(bad - base) as usize..(end - base) as usize];
            let observed_mod = (0..f.mods.len()).rev().find(|&m| {
                let md = &f.mods[m];
                md.lo <= bad && end <= md.hi && self.slice_matches(ino, md, bad, run)
            });
            let sup_nb = f.superseder(lo, hi, p, false, runtime_cut);
            let allowed_nb = f.allowed(lo, hi, p, sup_nb.map(|s| s.0));
            let allowed_without_barrier = self.segment_ok(ino, f, &allowed_nb, lo, bytes);
            return Some(Mismatch {
                lo: bad,
                hi: end,
                verdict: SegmentVerdict {
                    allowed,
                    superseder: sup,
                },
                allowed_without_barrier,
                observed_mod,
            });
        }
        None
    }

    /// Whether a crash at `p` allows the recovered bytes `observed` of
    /// file (inode) `ino`: [`Model::check_data`]'s verdict without its
    /// report, and without filling or scanning the holes (a hole matches
    /// a value where that value's bytes are zero).
    pub fn data_allowed(&self, ino: usize, observed: &SparseBytes, p: usize) -> bool {
        self.data_allowed_by(ino, observed, &self.data_plan(ino, observed.len(), p))
    }

    /// What [`Model::data_allowed`] holds the first `len` bytes of file
    /// `ino` to at a crash at `p`: per segment, the modifications whose
    /// value may show there.
    pub fn data_plan(&self, ino: usize, len: u64, p: usize) -> DataPlan {
        let f = &self.files[ino];
        let mut plan = DataPlan::default();
        for (lo, hi) in f.segments(0, len) {
            let sup = f.superseder(lo, hi, p, true, None);
            let allowed = f.allowed(lo, hi, p, sup.map(|s| s.0));
            plan.0.extend([lo, hi, allowed.len() as u64]);
            plan.0.extend(allowed.iter().map(|&m| m as u64));
        }
        plan
    }

    /// [`Model::data_allowed`] under a plan of [`Model::data_plan`]: the
    /// verdict is a function of the bytes and the plan alone.
    pub fn data_allowed_by(&self, ino: usize, observed: &SparseBytes, plan: &DataPlan) -> bool {
        let f = &self.files[ino];
        let mut allowed: Vec<usize> = Vec::new();
        let mut words = plan.0.iter().map(|&w| w as usize);
        while let (Some(lo), Some(hi), Some(n)) = (words.next(), words.next(), words.next()) {
            allowed.clear();
            allowed.extend(words.by_ref().take(n));
            // `segment_ok` judges byte by byte: a segment is allowed
            // piece by piece.
            let ok = observed
                .pieces(lo as u64, hi as u64)
                .all(|(at, piece)| match piece {
                    Piece::Bytes(bytes) => self.segment_ok(ino, f, &allowed, at, bytes),
                    Piece::Zeros(n) => self.zeros_ok(ino, f, &allowed, at, n),
                });
            if !ok {
                return false;
            }
        }
        true
    }

    /// [`Model::segment_ok`] on `n` zero bytes at `lo`.
    fn zeros_ok(&self, ino: usize, f: &FileModel, allowed: &[usize], lo: u64, n: usize) -> bool {
        covered(n, |k| {
            allowed
                .iter()
                .map(|&m| self.zero_match(ino, &f.mods[m], lo + k as u64, n - k))
                .max()
                .unwrap_or(0)
        })
    }

    /// How many of the `n` bytes at `lo` (inside the mod's range) the
    /// value of mod `m` gives as zero, from the first on.
    fn zero_match(&self, ino: usize, m: &Mod, lo: u64, n: usize) -> usize {
        match m.value {
            Value::Zero => n,
            Value::Base => {
                let base = self.base_bytes(ino);
                let from = (lo as usize).min(base.len());
                let have = (base.len() - from).min(n);
                let run = zero_run(&base[from..from + have]);
                match run < have {
                    true => run,
                    false => n,
                }
            }
            Value::Write { wid } => match (m.op, self.data.get(&wid)) {
                (Some(_), Some(d)) => {
                    let a = (lo - m.lo) as usize;
                    zero_run(&d[a..a + n])
                }
                _ => (0..n as u64)
                    .take_while(|&k| pattern_byte(ino as FileId, lo + k, wid) == 0)
                    .count(),
            },
        }
    }

    fn segment_ok(
        &self,
        ino: usize,
        f: &FileModel,
        allowed: &[usize],
        lo: u64,
        bytes: &[u8],
    ) -> bool {
        covered(bytes.len(), |k| {
            allowed
                .iter()
                .map(|&m| self.matching_run(ino, &f.mods[m], lo + k as u64, &bytes[k..]))
                .max()
                .unwrap_or(0)
        })
    }

    /// How many bytes of `observed` (at `lo`, inside the mod's range) the
    /// value of mod `m` matches from the first on.
    fn matching_run(&self, ino: usize, m: &Mod, lo: u64, observed: &[u8]) -> usize {
        match m.value {
            Value::Zero => zero_run(observed),
            Value::Base => {
                let base = self.base_bytes(ino);
                let from = (lo as usize).min(base.len());
                let have = (base.len() - from).min(observed.len());
                let run = common_run(&base[from..from + have], &observed[..have]);
                match run < have {
                    true => run,
                    false => have + zero_run(&observed[have..]),
                }
            }
            Value::Write { wid } => match (m.op, self.data.get(&wid)) {
                (Some(_), Some(d)) => {
                    let a = (lo - m.lo) as usize;
                    common_run(&d[a..a + observed.len()], observed)
                }
                _ => observed
                    .iter()
                    .enumerate()
                    .take_while(|&(k, &b)| pattern_byte(ino as FileId, lo + k as u64, wid) == b)
                    .count(),
            },
        }
    }

    /// Finds which write of the workload (any file) the bytes `observed`
    /// look like, for reports: (file, offset, operation).
    pub fn identify(&self, workload: &Workload, observed: &[u8]) -> Option<Identified> {
        if observed.is_empty() || observed.iter().all(|&b| b == 0) {
            return None;
        }
        let probe = &observed[..observed.len().min(64)];
        let find = |d: &[u8]| d.windows(probe.len()).position(|w| w == probe);
        for (&wid, d) in &self.data {
            let op = wid as usize - 1 - self.op_number(0);
            let (file, at) = match workload.ops[op] {
                Op::Write { file, offset, .. } | Op::DioWrite { file, offset, .. } => {
                    (file, offset)
                }
                _ => continue,
            };
            if let Some(k) = find(d) {
                return Some(Identified {
                    file,
                    offset: at + k as u64,
                    op: self.op_number(op),
                    text: workload.ops[op].to_string(),
                    before_crash: false,
                });
            }
        }
        let earlier = self.continuation.as_ref().map_or(&[][..], |c| &c.ops[..]);
        earlier.iter().enumerate().find_map(|(op, o)| match *o {
            Op::Write {
                file, offset, len, ..
            }
            | Op::DioWrite {
                file, offset, len, ..
            } => find(&pattern(file, offset, len, write_id(op))).map(|k| Identified {
                file,
                offset: offset + k as u64,
                op,
                text: o.to_string(),
                before_crash: true,
            }),
            _ => None,
        })
    }

    /// Operation `op` of this model's workload as the whole workload
    /// numbers it (they differ in a continuation).
    pub fn op_number(&self, op: usize) -> usize {
        op + self.continuation.as_ref().map_or(0, |c| c.op_offset)
    }
}

/// Whether `n` bytes are each matched by some allowed value, given
/// `longest(k)`: the longest run from byte `k` that one allowed value
/// matches. Usually one value holds them all (the first step). Otherwise
/// concurrent writes interleave, or a torn or partly persisted write
/// mixes old and new; taking at every point the value with the longest
/// run covers the bytes exactly when every byte is matched (each step
/// advances by at least one byte, and a byte no value matches stops it),
/// in memcmp steps rather than byte by byte.
fn covered(n: usize, longest: impl Fn(usize) -> usize) -> bool {
    let mut k = 0;
    while k < n {
        let run = longest(k);
        if run == 0 {
            return false;
        }
        k += run;
    }
    true
}

/// Length of the common prefix of two equally long slices: compared in
/// page strides, then in 64-byte blocks inside the first page that
/// differs, then byte by byte (whole files are compared at every crash
/// state; a memcmp call per 64 bytes cost more than the comparing).
fn common_run(a: &[u8], b: &[u8]) -> usize {
    debug_assert_eq!(a.len(), b.len());
    let mut k = 0;
    for block in [PAGE, LINE] {
        while k + block <= a.len() && a[k..k + block] == b[k..k + block] {
            k += block;
        }
    }
    k + a[k..]
        .iter()
        .zip(&b[k..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Length of the run of zero bytes at the start of `b`, found in strides
/// like [`common_run`], each a memcmp against zeros (holes of large files
/// are megabytes).
fn zero_run(b: &[u8]) -> usize {
    let mut k = 0;
    for block in [PAGE, LINE] {
        while k + block <= b.len() && b[k..k + block] == ZEROS[..block] {
            k += block;
        }
    }
    k + b[k..].iter().take_while(|&&x| x == 0).count()
}

/// Stride sizes of `common_run` and `zero_run`.
const PAGE: usize = 4096;
const LINE: usize = 64;
static ZEROS: [u8; PAGE] = [0; PAGE];

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(text: &str) -> Workload {
        Workload::parse(&format!("files: 1\n{text}")).unwrap()
    }

    /// In a continuation, a write's bytes are those of its index in the
    /// whole workload: the same write before the crash (same file, offset
    /// and index among its own operations) cannot pass for it, and is
    /// named as the reproducer numbers it.
    #[test]
    fn a_continuation_write_is_told_from_the_same_write_before_the_crash() {
        let before = workload("create f0\nwrite f0 0 64\n");
        // The same index (1) in both: before write ids came from the whole
        // workload, both wrote the same bytes.
        let rest = workload("read f0 0 1\nwrite f0 0 64\n");
        let earlier = Earlier {
            op_offset: 2,
            ops: before.ops.clone(),
        };
        let base = [BaseFile {
            exists: true,
            data: Vec::new(),
        }];
        let m = Model::build_over(
            &rest,
            &OpTimes::spans(&[(1, 2), (3, 4)]),
            true,
            (&base, Some(&earlier)),
            (Names::FileFsync, Sizes::Stepwise),
        );
        let old = pattern(0, 0, 64, write_id(1));
        let new = pattern(0, 0, 64, write_id(3));
        assert_ne!(old, new);
        let named = m.identify(&rest, &new).unwrap();
        assert_eq!((named.op, named.before_crash), (3, false));
        let named = m.identify(&rest, &old).unwrap();
        assert_eq!((named.op, named.before_crash), (1, true));
        assert_eq!(m.op_number(0), 2);
    }

    /// The write ids a crash at `p` allows at byte `offset` of f0.
    fn allowed_at(m: &Model, offset: u64, p: usize) -> Vec<Option<u32>> {
        let f = &m.files[0];
        let sup = f.superseder(offset, offset + 1, p, true, None);
        f.allowed(offset, offset + 1, p, sup.map(|s| s.0))
            .into_iter()
            .map(|i| match f.mods[i].value {
                Value::Zero | Value::Base => None,
                Value::Write { wid } => Some(wid),
            })
            .collect()
    }

    #[test]
    fn dsync_write_is_promised_after_its_ack_only() {
        let w = workload("create f0\nwrite f0 0 4096 dsync\n");
        let m = Model::build(&w, &OpTimes::spans(&[(10, 11), (11, 20)]), true);
        assert_eq!(allowed_at(&m, 0, 11), vec![None]); // not started
        assert_eq!(allowed_at(&m, 0, 15), vec![None, Some(2)]); // in progress
        assert_eq!(allowed_at(&m, 0, 20), vec![Some(2)]); // acknowledged
        assert_eq!(m.files[0].allowed_sizes(15, true, None).0, vec![0, 4096]);
        let (_, floor) = m.files[0].allowed_sizes(20, true, None);
        assert_eq!(floor.map(|f| f.0), Some(4096));
    }

    #[test]
    fn fsync_covers_what_completed_before_it() {
        let w = workload("create f0\nwrite f0 0 4096\nfsync f0\nwrite f0 0 4096\n");
        let m = Model::build(
            &w,
            &OpTimes::spans(&[(1, 2), (2, 3), (3, 9), (9, 10)]),
            true,
        );
        assert_eq!(allowed_at(&m, 0, 8), vec![None, Some(2)]);
        assert_eq!(allowed_at(&m, 0, 9), vec![Some(2)]);
        assert_eq!(allowed_at(&m, 0, 10), vec![Some(2), Some(4)]);
        assert_eq!(m.files[0].allowed_sizes(9, true, None).0, vec![4096]);
    }

    #[test]
    fn in_flight_aio_is_not_covered_by_fsync() {
        let w = workload("create f0\nwrite f0 0 4096\ndio-write f0 0 4096 aio\nfsync f0\n");
        let mut t = OpTimes::spans(&[(1, 2), (2, 3), (3, 4), (4, 9)]);
        t[2].dio_end = 20; // completes after the fsync
        t[2].dio_ack = 21;
        let m = Model::build(&w, &t, true);
        assert_eq!(allowed_at(&m, 0, 9), vec![Some(2), Some(3)]);
    }

    #[test]
    fn truncate_then_fsync_forbids_the_cut_bytes() {
        let w = workload("create f0\nwrite f0 0 8192\ntruncate f0 100\nfsync f0\n");
        let m = Model::build(&w, &OpTimes::spans(&[(1, 2), (2, 3), (3, 4), (4, 9)]), true);
        assert_eq!(allowed_at(&m, 200, 9), vec![None]);
        assert_eq!(allowed_at(&m, 50, 9), vec![Some(2)]);
        assert_eq!(m.files[0].allowed_sizes(9, true, None).0, vec![100]);
        // Before the fsync, the old bytes and sizes are still allowed.
        assert_eq!(allowed_at(&m, 200, 8), vec![None, Some(2), None]);
        assert_eq!(
            m.files[0].allowed_sizes(8, true, None).0,
            vec![0, 100, 8192]
        );
    }

    #[test]
    fn punched_hole_is_promised_by_fsync_not_fdatasync() {
        for (sync, after) in [("fsync", vec![None]), ("fdatasync", vec![Some(2), None])] {
            let w = workload(&format!(
                "create f0\nwrite f0 0 8192\nfsync f0\npunch-hole f0 100 5000\n{sync} f0\n"
            ));
            let m = Model::build(
                &w,
                &OpTimes::spans(&[(1, 2), (2, 3), (3, 4), (4, 5), (5, 9)]),
                true,
            );
            // Outside the hole the write stays; inside, the hole is
            // allowed before the sync and owed after an fsync only.
            assert_eq!(allowed_at(&m, 50, 9), vec![Some(2)], "{sync}");
            assert_eq!(allowed_at(&m, 200, 8), vec![Some(2), None], "{sync}");
            assert_eq!(allowed_at(&m, 200, 9), after, "{sync}");
            // The size does not change.
            assert_eq!(m.files[0].allowed_sizes(9, true, None).0, vec![8192]);
        }
    }

    #[test]
    fn fallocate_grows_the_size_unless_keep_size() {
        let w =
            workload("create f0\nfallocate f0 0 10000\nfallocate f0 0 20000 keep-size\nfsync f0\n");
        let m = Model::build(&w, &OpTimes::spans(&[(1, 2), (2, 3), (3, 4), (4, 9)]), true);
        assert_eq!(m.files[0].allowed_sizes(2, true, None).0, vec![0]);
        assert_eq!(m.files[0].allowed_sizes(8, true, None).0, vec![0, 10000]);
        assert_eq!(m.files[0].allowed_sizes(9, true, None).0, vec![10000]);
        assert_eq!(allowed_at(&m, 5000, 9), vec![None]);
    }

    fn names_model(text: &str, spec: &[(usize, usize)]) -> Model {
        let w = Workload::parse(&format!("files: 2\n{text}")).unwrap();
        Model::build_over(
            &w,
            &OpTimes::spans(spec),
            true,
            (&[], None),
            (Names::Directory, Sizes::Writeback),
        )
    }

    #[test]
    fn a_rename_moves_the_file_and_is_durable_at_a_directory_fsync() {
        let m = names_model(
            "create f0\nwrite f0 0 4096\nsyncfs\nrename f0 f1\ndir-fsync\n",
            &[(1, 2), (2, 3), (3, 4), (4, 5), (5, 9)],
        );
        assert!(m.renames);
        // Before the rename: f0 is the file, f1 nothing.
        assert_eq!(m.entries[0].candidates(4).0, vec![Some(0)]);
        assert_eq!(m.entries[1].candidates(4).0, vec![None]);
        // Renamed, not yet durable: either.
        assert_eq!(m.entries[0].candidates(8).0, vec![None, Some(0)]);
        assert_eq!(m.entries[1].candidates(8).0, vec![Some(0), None]);
        // After the directory fsync: only the new name.
        let (f1, source) = m.entries[1].candidates(9);
        assert_eq!(f1, vec![Some(0)]);
        assert_eq!(source.map(Source::op), Some(4));
        assert_eq!(m.entries[0].candidates(9).0, vec![None]);
        // The data went with the file: syncfs promised it.
        assert_eq!(allowed_at(&m, 0, 9), vec![Some(2)]);
    }

    #[test]
    fn a_name_created_again_is_a_new_file() {
        let m = names_model(
            "create f0\nwrite f0 0 4096\nfsync f0\nunlink f0\ncreate f0\nwrite f0 0 100\n",
            &[(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7)],
        );
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.op_inode[1], Some(0));
        assert_eq!(m.op_inode[5], Some(2));
        // Nothing about names made durable: the first create is not
        // either (only syncfs or a directory fsync would).
        assert_eq!(m.entries[0].candidates(9).0, vec![Some(2), Some(0), None]);
        // The new file holds only its own write (and zeroes).
        assert_eq!(m.files[2].allowed_sizes(9, true, None).0, vec![0, 100]);
    }

    #[test]
    fn a_directory_exists_once_made_and_durable_at_a_directory_fsync() {
        let m = names_model("mkdir d1\ndir-fsync\n", &[(1, 2), (2, 9)]);
        assert_eq!(m.dirs[1].candidates(1).0, vec![None]);
        assert_eq!(m.dirs[1].candidates(8).0, vec![Some(1), None]);
        assert_eq!(m.dirs[1].candidates(9).0, vec![Some(1)]);
        assert_eq!(m.dirs[0].candidates(9).0, vec![None]);
        // After a crash (a continuation), a directory may be there or not
        // until one is made and that is made durable.
        let w = Workload::parse("files: 1\nmkdir d1\ndir-fsync\n").unwrap();
        let base = [BaseFile::default()];
        let c = Model::build_over(
            &w,
            &OpTimes::spans(&[(1, 2), (2, 9)]),
            true,
            (&base, None),
            (Names::Directory, Sizes::Writeback),
        );
        assert_eq!(c.dirs[0].candidates(9).0, vec![Some(0), None]);
        assert_eq!(c.dirs[1].candidates(9).0, vec![Some(1)]);
    }

    #[test]
    fn dio_wait_promises_only_under_stable() {
        let w = workload("create f0\ndio-write f0 0 4096 dsync aio\ndio-wait f0\n");
        let mut t = OpTimes::spans(&[(1, 2), (2, 5), (5, 9)]);
        t[1].dio_end = 7;
        t[1].dio_ack = NEVER; // not yet acknowledged
        let stable = Model::build(&w, &t, true);
        assert_eq!(allowed_at(&stable, 0, 9), vec![Some(2)]);
        let complete = Model::build(&w, &t, false);
        assert_eq!(allowed_at(&complete, 0, 9), vec![None, Some(2)]);
    }

    /// Every zero page of `dense` left out, as a hole-skipping read
    /// would return it.
    fn holes_out(dense: &[u8]) -> SparseBytes {
        let mut extents: Vec<(u64, Vec<u8>)> = Vec::new();
        for (k, page) in dense.chunks(4096).enumerate() {
            if page.iter().all(|&b| b == 0) {
                continue;
            }
            let at = (k * 4096) as u64;
            match extents.last_mut() {
                Some((o, b)) if *o + b.len() as u64 == at => b.extend_from_slice(page),
                _ => extents.push((at, page.to_vec())),
            }
        }
        SparseBytes::from_extents(dense.len() as u64, extents)
    }

    /// `check_data`'s verdict on file 0's bytes `dense` at `p`, asserting
    /// that `data_allowed` gives the same on them read with holes and read
    /// whole.
    fn same_verdict(m: &Model, dense: &[u8], p: usize, case: &str) -> bool {
        let verdict = m.check_data(0, 0, dense, p, None).is_none();
        let len = dense.len();
        assert_eq!(
            m.data_allowed(0, &holes_out(dense), p),
            verdict,
            "p {p}, len {len}, {case}"
        );
        assert_eq!(
            m.data_allowed(0, &SparseBytes::dense(dense.to_vec()), p),
            verdict,
            "p {p}, len {len}, {case}, read whole"
        );
        verdict
    }

    /// `data_allowed` on a sparse read says what `check_data` says on the
    /// same bytes read whole, at every position, for files in which each
    /// write either landed or not, over holes and past a truncate.
    #[test]
    fn the_sparse_verdict_is_the_dense_one() {
        let w = workload(
            "create f0\nwrite f0 0 100\nfsync f0\nwrite f0 20000 50\ntruncate f0 9000\n\
             fsync f0\nwrite f0 50000 4096\nwrite f0 4000 200\nfsync f0\n",
        );
        let spans: Vec<(usize, usize)> = (1..=w.ops.len()).map(|k| (k, k + 1)).collect();
        let m = Model::build(&w, &OpTimes::spans(&spans), true);
        let writes: [(usize, u64, u64); 4] = [
            (1, 0, 100),
            (3, 20000, 50),
            (6, 50000, 4096),
            (7, 4000, 200),
        ];
        let mut checked = [0usize; 2];
        for p in 0..=w.ops.len() + 1 {
            for len in [0u64, 100, 9000, 20050, 54096] {
                for landed in 0..16u32 {
                    let mut dense = vec![0u8; len as usize];
                    for (k, &(op, offset, n)) in writes.iter().enumerate() {
                        if landed & (1 << k) == 0 || offset + n > len {
                            continue;
                        }
                        let bytes = pattern(0, offset, n, write_id(op));
                        dense[offset as usize..(offset + n) as usize].copy_from_slice(&bytes);
                    }
                    let verdict = same_verdict(&m, &dense, p, &format!("landed {landed:b}"));
                    checked[usize::from(verdict)] += 1;
                }
            }
        }
        // Both verdicts occur: the comparison is not vacuous.
        assert!(checked.iter().all(|&n| n > 0), "{checked:?}");
    }

    /// The same over a continuation's base file (what recovery left before
    /// it), shorter than some observed lengths and longer than others,
    /// with zero runs of its own: a hole must match the base where the
    /// base is zero, or past its end.
    #[test]
    fn the_sparse_verdict_is_the_dense_one_over_a_base() {
        let mut data = vec![0u8; 12_000];
        data[..100].fill(7);
        data[8192..8300].fill(9);
        let base = [BaseFile { exists: true, data }];
        let rest =
            workload("write f0 20000 50\nfsync f0\ntruncate f0 9000\nwrite f0 40 20\nfsync f0\n");
        let earlier = Earlier {
            op_offset: 1,
            ops: vec![Op::Create { file: 0 }],
        };
        let spans: Vec<(usize, usize)> = (1..=rest.ops.len()).map(|k| (k, k + 1)).collect();
        let m = Model::build_over(
            &rest,
            &OpTimes::spans(&spans),
            true,
            (&base, Some(&earlier)),
            (Names::FileFsync, Sizes::Stepwise),
        );
        let mut checked = [0usize; 2];
        for p in 0..=rest.ops.len() + 1 {
            for len in [100u64, 9000, 12_000, 20_050] {
                for variant in 0..8u32 {
                    let mut dense = vec![0u8; len as usize];
                    if variant & 1 != 0 {
                        let n = dense.len().min(base[0].data.len());
                        dense[..n].copy_from_slice(&base[0].data[..n]);
                    }
                    for (k, &(op, offset, n)) in
                        [(0usize, 20000u64, 50u64), (3, 40, 20)].iter().enumerate()
                    {
                        if variant & (2 << k) != 0 && offset + n <= len {
                            let bytes = pattern(0, offset, n, write_id(op + earlier.op_offset));
                            dense[offset as usize..(offset + n) as usize].copy_from_slice(&bytes);
                        }
                    }
                    let verdict = same_verdict(&m, &dense, p, &format!("variant {variant:b}"));
                    checked[usize::from(verdict)] += 1;
                }
            }
        }
        assert!(checked.iter().all(|&n| n > 0), "{checked:?}");
    }

    #[test]
    fn runtime_reads_see_completed_writes() {
        let w = workload("create f0\nwrite f0 0 4096\nwrite f0 100 10\n");
        let m = Model::build(&w, &OpTimes::spans(&[(1, 2), (2, 3), (3, 4)]), true);
        let mut data = pattern(0, 0, 4096, 2).to_vec();
        data[100..110].copy_from_slice(&pattern(0, 100, 10, 3));
        assert!(m.check_data(0, 0, &data, NEVER - 1, Some(4)).is_none());
        // The older write's bytes where the newer one completed: rule 8.
        let old = pattern(0, 0, 4096, 2);
        let bad = m.check_data(0, 0, &old, NEVER - 1, Some(4)).unwrap();
        assert_eq!((bad.lo, bad.hi), (100, 110));
        assert_eq!(
            m.files[0].allowed_sizes(NEVER - 1, true, Some(4)).0,
            vec![4096]
        );
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn overlapping_size_changes_may_apply_in_either_order() {
        let ev = |op, change, start, end| SizeEvent {
            op,
            file: 0,
            change,
            start,
            end,
        };
        // An AIO extending to 28672 completes while a buffered write
        // extends to 8192: the write may have seen either size.
        let changes = [
            ev(1, SizeChange::AtLeast(28672), 5, 20),
            ev(2, SizeChange::AtLeast(8192), 8, 12),
        ];
        assert_eq!(
            possible_sizes(&changes, 0),
            vec![vec![28672], vec![8192, 28672]]
        );
        // Sequential changes have one outcome each.
        let changes = [
            ev(1, SizeChange::AtLeast(8192), 1, 2),
            ev(2, SizeChange::Set(100), 2, 3),
            ev(3, SizeChange::AtLeast(4096), 3, 4),
        ];
        assert_eq!(
            possible_sizes(&changes, 0),
            vec![vec![8192], vec![100], vec![4096]]
        );
    }
}
