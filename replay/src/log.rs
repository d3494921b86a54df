//! The log model: what a recording block device saw.
//!
//! A log is a sequence of entries: write / flush / discard *submissions*,
//! their *completions*, and *marks* (a label plus an optional payload; the
//! harness records acknowledgements there). Submission and completion are
//! separate entries because the crash model depends on both: a completed
//! non-FUA write sits in the volatile cache, a submitted-not-completed one is
//! in flight, and a flush covers only the writes that completed before it was
//! *submitted* (see the `model` module).
//!
//! Storage is one byte arena plus a compact index: [`LogBuilder`] appends to
//! an owned arena (no per-write allocation beyond amortised growth), and a
//! parsed file keeps its arena memory-mapped so a multi-GiB log is never
//! copied into memory.

use std::sync::Arc;

/// The unit of the crash model and of sector numbers in the native log.
pub const SECTOR_SIZE: usize = 512;

/// Flags of a write request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct WriteFlags {
    /// Forced unit access: durable when it completes.
    pub fua: bool,
    /// The write is preceded by a cache flush (REQ_PREFLUSH).
    pub preflush: bool,
    /// A metadata hint (REQ_META); no effect on the crash model.
    pub metadata: bool,
}

impl WriteFlags {
    pub(crate) fn to_bits(self) -> u8 {
        u8::from(self.fua) | (u8::from(self.preflush) << 1) | (u8::from(self.metadata) << 2)
    }
    pub(crate) fn from_bits(bits: u8) -> Option<Self> {
        if bits & !7 != 0 {
            return None;
        }
        Some(WriteFlags {
            fua: bits & 1 != 0,
            preflush: bits & 2 != 0,
            metadata: bits & 4 != 0,
        })
    }
}

/// One entry of a log, borrowed from its arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRef<'a> {
    /// Submission of a write of `data` at 512-byte `sector`.
    Write {
        id: u64,
        sector: u64,
        data: &'a [u8],
        flags: WriteFlags,
    },
    /// Submission of an empty flush.
    Flush { id: u64 },
    /// Submission of a discard of `nr_sectors` 512-byte sectors. The crash
    /// model treats it as a write of zeros (the kernel's dm-log-writes also
    /// logs discards like cached writes).
    Discard {
        id: u64,
        sector: u64,
        nr_sectors: u64,
    },
    /// Completion of the request `id`.
    Complete { id: u64 },
    /// A mark.
    Mark { label: &'a str, payload: &'a [u8] },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Write = 1,
    Flush = 2,
    Discard = 3,
    Complete = 4,
    Mark = 5,
}

impl Kind {
    pub(crate) fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Write,
            2 => Kind::Flush,
            3 => Kind::Discard,
            4 => Kind::Complete,
            5 => Kind::Mark,
            _ => return None,
        })
    }
}

/// Most index entries a parser reserves up front: beyond this the index
/// grows as entries are actually read, so a file that lies about its entry
/// count (or a huge sparse one) costs no memory it does not hold.
pub(crate) const MAX_PREALLOCATED_ENTRIES: usize = 1 << 16;

/// Compact index record of one entry; the bytes live in the arena.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEntry {
    pub(crate) kind: Kind,
    pub(crate) flags: WriteFlags,
    pub(crate) id: u64,
    pub(crate) sector: u64,
    /// Discard length in sectors (0 otherwise).
    pub(crate) nr_sectors: u64,
    /// Arena offset of the mark label, or of the write data.
    pub(crate) off: usize,
    /// Mark label length (0 otherwise).
    pub(crate) label_len: usize,
    /// Write data or mark payload length.
    pub(crate) data_len: usize,
    /// Byte offset of the entry in its file (arena offset for built logs),
    /// for error messages.
    pub(crate) file_off: u64,
}

/// Where a log's bytes live.
#[derive(Debug)]
pub(crate) enum Arena {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Arena {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Arena::Owned(v) => v,
            Arena::Mapped(m) => m,
        }
    }
}

thread_local! {
    /// The largest arena a built log left behind on this thread, for the
    /// next one ([`LogBuilder::reusing`]): a fuzz campaign builds a log of
    /// megabytes thousands of times a second, and fresh memory costs a
    /// page fault and the kernel's zeroing of every page it touches (a
    /// tenth of a short execution), where memory already touched costs
    /// nothing.
    static SPARE_ARENA: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The largest arena kept aside for reuse: one rare huge log must not pin
/// its memory for the rest of a campaign.
const SPARE_ARENA_MAX: usize = 64 << 20;

impl Drop for Arena {
    fn drop(&mut self) {
        if let Arena::Owned(v) = self {
            if v.capacity() > SPARE_ARENA_MAX {
                return;
            }
            let v = std::mem::take(v);
            // A thread being torn down keeps nothing.
            let _ = SPARE_ARENA.try_with(|spare| {
                let kept = spare.take();
                spare.set(if v.capacity() > kept.capacity() {
                    v
                } else {
                    kept
                });
            });
        }
    }
}

/// Where a log came from, when that matters for a faithful export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The entries are already in dm-log-writes logging order (the log was
    /// imported from dm-log-writes): export writes them as they are instead
    /// of re-deriving the kernel's flush ordering, which makes
    /// dm-log-writes -> dm-log-writes byte-exact.
    pub dm_order: bool,
    /// The sector size of the dm-log-writes log this came from (0: none).
    pub dm_sectorsize: u32,
    /// The entry count the dm-log-writes superblock declared.
    pub dm_declared_entries: u64,
    /// Well-formed dm-log-writes entries found after the declared count
    /// (the kernel updates the count only after a FUA or mark entry, so a
    /// log not closed cleanly has some).
    pub dm_trailing_entries: u64,
    /// Whether those were replayed (`--include-trailing`) or left out.
    pub dm_trailing_included: bool,
}

/// An immutable log. Cheap to clone (the arena is shared).
#[derive(Clone, Debug)]
pub struct Log {
    pub(crate) arena: Arc<Arena>,
    pub(crate) entries: Arc<[RawEntry]>,
    pub(crate) device_bytes: u64,
    pub(crate) provenance: Provenance,
}

impl Log {
    /// Size of the recorded device in bytes.
    pub fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    /// Number of entries (the last log position).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Provenance information kept for exports.
    pub fn provenance(&self) -> Provenance {
        self.provenance
    }

    /// Entry `i`. Panics if `i >= len()` (a caller bug, like slice indexing).
    pub fn entry(&self, i: usize) -> EntryRef<'_> {
        self.view(&self.entries[i])
    }

    /// All entries in order.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        self.entries.iter().map(move |e| self.view(e))
    }

    /// The marks with their entry positions, in order.
    pub fn marks(&self) -> impl Iterator<Item = (usize, &str, &[u8])> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == Kind::Mark)
            .filter_map(move |(i, e)| match self.view(e) {
                EntryRef::Mark { label, payload } => Some((i, label, payload)),
                _ => None,
            })
    }

    /// Same log with another device size (dm-log-writes logs do not record
    /// it). The size is validated when the log is analysed.
    pub fn with_device_bytes(mut self, device_bytes: u64) -> Log {
        self.device_bytes = device_bytes;
        self
    }

    pub(crate) fn raw(&self, i: usize) -> &RawEntry {
        &self.entries[i]
    }

    pub(crate) fn view<'a>(&'a self, e: &RawEntry) -> EntryRef<'a> {
        let bytes = self.arena.bytes();
        match e.kind {
            Kind::Write => EntryRef::Write {
                id: e.id,
                sector: e.sector,
                data: &bytes[e.off..e.off + e.data_len],
                flags: e.flags,
            },
            Kind::Flush => EntryRef::Flush { id: e.id },
            Kind::Discard => EntryRef::Discard {
                id: e.id,
                sector: e.sector,
                nr_sectors: e.nr_sectors,
            },
            Kind::Complete => EntryRef::Complete { id: e.id },
            Kind::Mark => {
                let label_bytes = &bytes[e.off..e.off + e.label_len];
                // Labels are validated as UTF-8 when the entry is created or
                // parsed; an empty label is the safe fallback should that
                // invariant ever break.
                let label = std::str::from_utf8(label_bytes).unwrap_or("");
                let p = e.off + e.label_len;
                EntryRef::Mark {
                    label,
                    payload: &bytes[p..p + e.data_len],
                }
            }
        }
    }

    /// Write data of a write entry (empty for other kinds).
    pub(crate) fn data_of(&self, e: &RawEntry) -> &[u8] {
        if e.kind == Kind::Write {
            &self.arena.bytes()[e.off..e.off + e.data_len]
        } else {
            &[]
        }
    }
}

/// Builds a log in memory while a workload runs (the harness's recording
/// device). Cheap: all data in one arena, one compact index record per entry.
#[derive(Debug, Clone)]
pub struct LogBuilder {
    arena: Vec<u8>,
    entries: Vec<RawEntry>,
    device_bytes: u64,
    /// Per request id: false = submitted, true = completed. Ids are dense.
    completed: Vec<bool>,
}

impl LogBuilder {
    /// A new, empty log of a device of `device_bytes` bytes.
    pub fn new(device_bytes: u64) -> Self {
        LogBuilder {
            arena: Vec::new(),
            entries: Vec::new(),
            device_bytes,
            completed: Vec::new(),
        }
    }

    /// [`LogBuilder::new`] for a log rebuilt thousands of times a second:
    /// its arena is the one a log this thread built and dropped before
    /// left (already grown and touched), and it has room for `entries`
    /// entries before it grows (growing copies everything recorded so
    /// far).
    pub fn reusing(device_bytes: u64, entries: usize) -> Self {
        let mut arena = SPARE_ARENA.try_with(|s| s.take()).unwrap_or_default();
        arena.clear();
        LogBuilder {
            arena,
            entries: Vec::with_capacity(entries),
            device_bytes,
            completed: Vec::with_capacity(entries),
        }
    }

    fn push(&mut self, kind: Kind, flags: WriteFlags, id: u64, sector: u64, nr_sectors: u64) {
        self.entries.push(RawEntry {
            kind,
            flags,
            id,
            sector,
            nr_sectors,
            off: self.arena.len(),
            label_len: 0,
            data_len: 0,
            file_off: self.arena.len() as u64,
        });
    }

    fn new_id(&mut self) -> u64 {
        let id = self.completed.len() as u64;
        self.completed.push(false);
        id
    }

    /// Records the submission of a write; returns its request id (ids are
    /// unique per log, assigned in submission order).
    pub fn submit_write(&mut self, sector: u64, data: &[u8], flags: WriteFlags) -> u64 {
        let id = self.new_id();
        self.push(Kind::Write, flags, id, sector, 0);
        if let Some(e) = self.entries.last_mut() {
            e.data_len = data.len();
        }
        self.arena.extend_from_slice(data);
        id
    }

    /// Records the submission of an empty flush.
    pub fn submit_flush(&mut self) -> u64 {
        let id = self.new_id();
        self.push(Kind::Flush, WriteFlags::default(), id, 0, 0);
        id
    }

    /// Records the submission of a discard.
    pub fn submit_discard(&mut self, sector: u64, nr_sectors: u64) -> u64 {
        let id = self.new_id();
        self.push(Kind::Discard, WriteFlags::default(), id, sector, nr_sectors);
        id
    }

    /// Records the completion of request `id`. A completion of an unknown or
    /// already completed id is a caller bug and is ignored (not recorded), so
    /// a built log is always well formed.
    pub fn complete(&mut self, id: u64) {
        match usize::try_from(id)
            .ok()
            .and_then(|i| self.completed.get_mut(i))
        {
            Some(done) if !*done => {
                *done = true;
                self.push(Kind::Complete, WriteFlags::default(), id, 0, 0);
            }
            _ => {}
        }
    }

    /// Records a mark.
    pub fn mark(&mut self, label: &str, payload: &[u8]) {
        self.push(Kind::Mark, WriteFlags::default(), 0, 0, 0);
        if let Some(e) = self.entries.last_mut() {
            e.label_len = label.len();
            e.data_len = payload.len();
        }
        self.arena.extend_from_slice(label.as_bytes());
        self.arena.extend_from_slice(payload);
    }

    /// Entries so far (= the current log position).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything recorded, keeping the allocations (for the next
    /// fuzz execution).
    pub fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.completed.clear();
    }

    /// The finished, immutable log.
    pub fn finish(self) -> Log {
        Log {
            arena: Arc::new(Arena::Owned(self.arena)),
            entries: self.entries.into(),
            device_bytes: self.device_bytes,
            provenance: Provenance::default(),
        }
    }
}
