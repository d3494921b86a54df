//! The filesystem object: mkfs, mount (with recovery and validation),
//! unmount, crash, the page cache and buffered I/O, fsync / fdatasync /
//! syncfs, truncate, and the bio plumbing every path shares.
//!
//! The journal lives in `journal.rs` and direct I/O in `dio.rs`; they are
//! further `impl Filesystem` blocks over the same state. Everything runs in
//! one thread: waiting means asking the device to complete the next bio
//! (`complete_one`), and DIO completion work is queued and run by `poll` or
//! by wait loops (`inode_dio_wait`), like Linux's completion workqueue.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::str::FromStr;

use crate::block::{
    Bio, BioId, BioKind, BioOwner, BlockDevice, WriteFlags, BLOCK_SIZE, SECTORS_PER_BLOCK,
};
use crate::bugs::{Bug, BugSet};
use crate::error::{DeadlockKind, DeadlockReport, FsError};
use crate::event::{FsEvent, Promise};
use crate::layout::{
    self, DiskInode, Geometry, JournalSuper, MAX_FILE_BLOCKS, MAX_FILE_SIZE, PTR_UNWRITTEN,
};
use crate::locks::{LockError, LockTracker, Task};

const BS: u64 = BLOCK_SIZE as u64;

/// Options of `mkfs`.
#[derive(Clone, Debug)]
pub struct MkfsOptions {
    /// Number of inodes (files `f0..f{inodes-1}`).
    pub inodes: u32,
    /// Length of the circular journal in blocks.
    pub journal_blocks: u32,
    /// Bug switches (none affects the format today; kept so a variant that
    /// lives in mkfs has a place).
    pub bugs: BugSet,
}

impl Default for MkfsOptions {
    fn default() -> Self {
        MkfsOptions {
            inodes: 8,
            journal_blocks: layout::DEFAULT_JOURNAL_BLOCKS,
            bugs: BugSet::NONE,
        }
    }
}

/// What `inode_dio_wait` promises (BUGS.md, "The barrier contract").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Barrier {
    /// Earlier DIO has finished its I/O and metadata update.
    Complete,
    /// Additionally, earlier O_DSYNC DIO is durable.
    #[default]
    Stable,
}

impl fmt::Display for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Barrier::Complete => "complete",
            Barrier::Stable => "stable",
        })
    }
}

impl FromStr for Barrier {
    type Err = FsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "complete" => Ok(Barrier::Complete),
            "stable" => Ok(Barrier::Stable),
            _ => Err(FsError::Invalid(format!(
                "unknown barrier contract `{s}` (complete|stable)"
            ))),
        }
    }
}

/// Options of `mount`.
#[derive(Clone, Debug)]
pub struct MountOptions {
    pub barrier: Barrier,
    pub bugs: BugSet,
    /// Bound on the work of mount (blocks read, inodes checked) and of each
    /// wait loop of an operation, so no image or schedule can loop forever.
    pub step_budget: u64,
    /// Recovery writes the replayed transactions home and empties the
    /// journal before mount returns (as jbd2 does), instead of leaving them
    /// for the next checkpoint. Off by default: mount then writes nothing.
    pub checkpoint_on_mount: bool,
    /// A planted recovery bug for brownout's own tests, not a catalogue
    /// variant: with `checkpoint_on_mount`, the journal is marked empty
    /// without flushing the blocks it replayed home first, so a crash
    /// during recovery loses them.
    pub recovery_skips_flush: bool,
    /// A planted bug for brownout's own tests: `create` marks the inode
    /// in use in memory only, so an fsync of a new empty file commits
    /// nothing and the file is gone after a crash.
    pub create_not_journaled: bool,
    /// A planted bug for brownout's own tests: recovery forgets the
    /// journal space its replayed transactions occupy, so the next commit
    /// overwrites them under a sequence number the next recovery does not
    /// expect there, and is lost in a second crash (a clean unmount still
    /// checkpoints everything: only crash-and-continue shows it).
    pub recovery_resets_journal_head: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            barrier: Barrier::Stable,
            bugs: BugSet::NONE,
            step_budget: 1 << 20,
            checkpoint_on_mount: false,
            recovery_skips_flush: false,
            create_not_journaled: false,
            recovery_resets_journal_head: false,
        }
    }
}

/// Names an asynchronous direct I/O request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DioHandle(pub u64);

/// One page-cache page: a whole block, always fully valid.
#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub data: Vec<u8>,
    pub dirty: bool,
}

/// What the filesystem remembers about a bio in flight.
#[derive(Clone, Debug)]
pub(crate) struct InflightBio {
    /// Device block written (None for a flush).
    pub dev_block: Option<u64>,
    /// (inode, file block) for data bios: the page-writeback / DIO
    /// serialisation key.
    pub file_block: Option<(u32, u32)>,
    pub owner: BioOwner,
    pub dio: Option<u64>,
}

/// The running transaction: what the next commit must write.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunningTx {
    /// Dirty metadata blocks (home block numbers).
    pub meta: BTreeSet<u64>,
    /// Inodes with metadata in this transaction.
    pub inodes: BTreeSet<u32>,
    /// Inodes whose block map changed (fdatasync must commit).
    pub map_dirty: BTreeSet<u32>,
    /// Inodes whose `i_size` changed.
    pub size_dirty: BTreeSet<u32>,
    /// Data blocks freed by this transaction: not reusable until it commits
    /// (jbd2 semantics), or a crash could show the old owner pointing at
    /// another file's new data.
    pub pending_free: BTreeSet<u64>,
}

impl RunningTx {
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }
}

/// Progress of one direct I/O request.
#[derive(Clone, Debug)]
pub(crate) struct Dio {
    pub ino: u32,
    pub offset: u64,
    pub len: u64,
    pub dsync: bool,
    pub aio: bool,
    /// Bios not yet completed.
    pub remaining: usize,
    /// The FUA fast path: data bios carry FUA and no sync is needed.
    pub fua: bool,
    /// (file block, pointer) of unwritten extents to convert at completion.
    pub unwritten: Vec<(u32, u32)>,
    pub converted: bool,
    pub size_done: bool,
    pub synced: bool,
    pub ended: bool,
    pub acked: bool,
    pub promise: Promise,
}

/// Queued DIO completion work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// `iomap_dio_complete_work` for a DIO whose last bio completed.
    Complete(u64),
    /// The O_DSYNC sync and acknowledgement split off after `inode_dio_end`
    /// (only in the `dio-end-before-sync` variant).
    SyncAck(u64),
}

/// Whether a work step finished or must be retried (lock contention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    Done,
    Blocked,
}

/// A mounted filesystem over device `D`.
pub struct Filesystem<D: BlockDevice> {
    pub(crate) dev: D,
    pub(crate) opts: MountOptions,
    pub(crate) geo: Geometry,
    /// The block bitmap, all bitmap blocks back to back.
    pub(crate) bitmap: Vec<u8>,
    pub(crate) inodes: Vec<DiskInode>,
    /// `i_dio_count` per inode.
    pub(crate) dio_count: Vec<u32>,
    pub(crate) pages: BTreeMap<(u32, u32), Page>,
    pub(crate) tx: RunningTx,
    /// Committed metadata images not yet written to their home location.
    pub(crate) checkpoint_list: BTreeMap<u64, Vec<u8>>,
    /// Journal position of the tail (0..J), blocks used from it, next seq.
    pub(crate) j_tail: u64,
    pub(crate) j_used: u64,
    pub(crate) j_seq: u64,
    pub(crate) jsb_generation: u64,
    /// Slot (0 or 1) holding the current journal superblock; the next one
    /// goes to the other, so a torn write never destroys the current one.
    pub(crate) jsb_slot: usize,
    pub(crate) inflight: BTreeMap<BioId, InflightBio>,
    pub(crate) dios: BTreeMap<u64, Dio>,
    pub(crate) next_dio: u64,
    pub(crate) work: VecDeque<Work>,
    pub(crate) locks: LockTracker,
    pub(crate) steps: u64,
}

/// Drives `dev` until nothing is in flight (mkfs has no filesystem yet).
fn drain<D: BlockDevice>(dev: &mut D) {
    while dev.complete_next().is_some() {}
}

/// Formats `dev`. Completes all its I/O and flushes before returning.
pub fn mkfs<D: BlockDevice>(dev: &mut D, opts: &MkfsOptions) -> Result<(), FsError> {
    let blocks = dev.size_sectors() / SECTORS_PER_BLOCK;
    let geo = Geometry::compute(blocks, opts.inodes, opts.journal_blocks)?;
    let write = |dev: &mut D, block: u64, data: Vec<u8>| -> Result<(), FsError> {
        dev.submit(Bio {
            kind: BioKind::Write {
                sector: block * SECTORS_PER_BLOCK,
                data,
                flags: WriteFlags {
                    metadata: true,
                    ..Default::default()
                },
            },
            owner: BioOwner::Other,
        })?;
        Ok(())
    };
    // Zero the journal: a stale journal of an earlier filesystem on the
    // same device must not look like transactions of this one.
    write(
        dev,
        layout::JOURNAL_START,
        vec![0; (geo.journal_blocks * BS) as usize],
    )?;
    // Empty bitmap and inode table.
    write(
        dev,
        geo.bitmap_start,
        vec![0; ((geo.data_start - geo.bitmap_start) * BS) as usize],
    )?;
    let jsb = JournalSuper {
        generation: 1,
        tail: 0,
        seq: 1,
    };
    write(dev, layout::JSB_SLOTS[0], layout::encode_jsb(&jsb))?;
    write(dev, layout::JSB_SLOTS[1], vec![0; BLOCK_SIZE])?;
    drain(dev);
    // The superblock last, after a flush: a crash in mkfs leaves no
    // half-formatted filesystem that claims to be one.
    dev.submit(Bio {
        kind: BioKind::Write {
            sector: 0,
            data: layout::encode_superblock(&geo),
            flags: WriteFlags {
                fua: true,
                preflush: true,
                metadata: true,
            },
        },
        owner: BioOwner::Other,
    })?;
    drain(dev);
    Ok(())
}

impl<D: BlockDevice> Filesystem<D> {
    /// Mounts `dev`: reads the superblock, replays the journal from its
    /// tail, and validates the result. Never panics; a bad image is
    /// `FsError::Corrupt`, a runaway one `FsError::StepBudget`.
    pub fn mount(mut dev: D, opts: MountOptions) -> Result<Self, FsError> {
        let mut steps = 0u64;
        let budget = opts.step_budget;
        let mut tick = |n: u64| -> Result<(), FsError> {
            steps += n;
            if steps > budget {
                Err(FsError::StepBudget { steps })
            } else {
                Ok(())
            }
        };
        let dev_blocks = dev.size_sectors() / SECTORS_PER_BLOCK;
        if dev_blocks <= layout::JOURNAL_START {
            return Err(FsError::corrupt("device too small for a superblock", None));
        }
        let mut buf = vec![0u8; BLOCK_SIZE];
        dev.read(0, &mut buf)?;
        tick(1)?;
        let geo = layout::decode_superblock(&buf, dev_blocks)?;

        // The journal superblock: the valid slot with the highest generation.
        let mut jsb: Option<(usize, JournalSuper)> = None;
        for (i, slot) in layout::JSB_SLOTS.into_iter().enumerate() {
            dev.read(slot * SECTORS_PER_BLOCK, &mut buf)?;
            tick(1)?;
            if let Some(j) = layout::decode_jsb(&buf, geo.journal_blocks) {
                if jsb.is_none_or(|(_, cur)| j.generation > cur.generation) {
                    jsb = Some((i, j));
                }
            }
        }
        let (jsb_slot, jsb) = jsb.ok_or_else(|| {
            FsError::corrupt("no valid journal superblock", Some(layout::JSB_SLOTS[0]))
        })?;

        let scan = crate::journal::scan(&mut dev, &geo, &jsb, &opts.bugs, &mut tick)?;

        // Home metadata, then the replayed images on top.
        let meta_len = (geo.data_start - geo.bitmap_start) as usize * BLOCK_SIZE;
        let mut meta = vec![0u8; meta_len];
        dev.read(geo.bitmap_start * SECTORS_PER_BLOCK, &mut meta)?;
        tick(geo.data_start - geo.bitmap_start)?;
        for (home, image) in &scan.images {
            let at = ((home - geo.bitmap_start) * BS) as usize;
            meta[at..at + BLOCK_SIZE].copy_from_slice(image);
        }
        let bitmap_len = (geo.bitmap_blocks * BS) as usize;
        let bitmap = meta[..bitmap_len].to_vec();
        let mut inodes = Vec::with_capacity(geo.inodes as usize);
        for ino in 0..geo.inodes {
            let at = bitmap_len + ino as usize * layout::INODE_SIZE;
            inodes.push(layout::decode_inode(
                &meta[at..at + layout::INODE_SIZE],
                ino,
                geo.inode_block(ino),
            )?);
        }
        tick(u64::from(geo.inodes))?;
        validate(&geo, &bitmap, &inodes)?;
        tick(geo.data_blocks / 64 + 1)?;

        let mut fs = Filesystem {
            dev,
            geo,
            bitmap,
            dio_count: vec![0; inodes.len()],
            inodes,
            pages: BTreeMap::new(),
            tx: RunningTx::default(),
            // Replayed transactions stay in the journal until a checkpoint
            // writes them home: mount itself writes nothing.
            checkpoint_list: scan.images,
            j_tail: jsb.tail,
            j_used: if opts.recovery_resets_journal_head {
                0
            } else {
                scan.used
            },
            j_seq: scan.next_seq,
            jsb_generation: jsb.generation,
            jsb_slot,
            inflight: BTreeMap::new(),
            dios: BTreeMap::new(),
            next_dio: 0,
            work: VecDeque::new(),
            locks: LockTracker::default(),
            steps: 0,
            opts,
        };
        for ino in 0..fs.geo.inodes {
            fs.zero_eof_tail(ino)?;
        }
        if fs.opts.checkpoint_on_mount {
            let flush = !fs.opts.recovery_skips_flush;
            fs.checkpoint_with(flush)?;
        }
        Ok(fs)
    }

    /// Zeroes, in the page cache, what the block holding EOF has past EOF.
    /// A crash can leave data there (a write whose size update never became
    /// durable); a later extension would expose it as file content. Linux
    /// zeroes a page past `i_size` when it reads it in; here mount does it
    /// once for every file, without writing: the dirty page is written
    /// before any size change that covers it commits (ordered mode).
    fn zero_eof_tail(&mut self, ino: u32) -> Result<(), FsError> {
        let inode = &self.inodes[ino as usize];
        let size = inode.size;
        if !inode.exists || size.is_multiple_of(BS) {
            return Ok(());
        }
        let fb = (size / BS) as u32;
        let ptr = inode.map[fb as usize];
        if !maps_written(ptr) {
            return Ok(());
        }
        self.prepare_page(ino, fb)?;
        let page = self.page_mut((ino, fb))?;
        let tail = &mut page.data[(size % BS) as usize..];
        if tail.iter().any(|&b| b != 0) {
            tail.fill(0);
            page.dirty = true;
        }
        Ok(())
    }

    /// Clean unmount: drains direct I/O, writes back the page cache,
    /// commits, checkpoints, flushes, and waits for everything.
    pub fn unmount(mut self) -> Result<D, FsError> {
        self.begin();
        let r = self.unmount_inner();
        self.finish(r)?;
        Ok(self.dev)
    }

    fn unmount_inner(&mut self) -> Result<(), FsError> {
        for ino in 0..self.geo.inodes {
            if self.dio_count[ino as usize] > 0 {
                self.inode_dio_wait(ino)?;
            }
        }
        while !self.work.is_empty() {
            self.tick()?;
            if !self.run_work_pass()? {
                return Err(self.stall(
                    "completion work at unmount",
                    "queued DIO completion work cannot run",
                ));
            }
        }
        self.writeback_pages(None, usize::MAX, true)?;
        self.wait_until("writeback at unmount", |fs| {
            !fs.inflight
                .values()
                .any(|b| matches!(b.owner, BioOwner::Writeback { .. }))
        })?;
        self.journal_commit(true)?;
        self.checkpoint()?;
        self.flush(BioOwner::Other)?;
        self.wait_until("all I/O at unmount", |fs| fs.dev.in_flight() == 0)?;
        self.returned("unmount", None, Promise::Filesystem);
        Ok(())
    }

    /// Drops all in-memory state; bios in flight stay in flight on the device.
    pub fn crash(self) -> D {
        self.dev
    }

    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    pub fn inode_count(&self) -> u32 {
        self.geo.inodes
    }

    /// The geometry of the mounted filesystem.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// `i_dio_count` of `ino`: direct I/O submitted and not yet past
    /// `inode_dio_end` (0 for an unknown inode).
    pub fn i_dio_count(&self, ino: u32) -> u32 {
        self.dio_count.get(ino as usize).copied().unwrap_or(0)
    }

    /// Queued DIO completion work items (run by `poll` or a wait loop).
    pub fn pending_work(&self) -> usize {
        self.work.len()
    }

    pub fn exists(&self, ino: u32) -> bool {
        self.inodes.get(ino as usize).is_some_and(|i| i.exists)
    }

    /// `i_size` of `ino`.
    pub fn size(&self, ino: u32) -> Result<u64, FsError> {
        self.check_ino(ino)?;
        Ok(self.inodes[ino as usize].size)
    }

    /// Creates inode `ino` (files are named by index); fine if it exists.
    pub fn create(&mut self, ino: u32) -> Result<(), FsError> {
        self.begin();
        if ino >= self.geo.inodes {
            return Err(FsError::NotFound(ino));
        }
        if !self.inodes[ino as usize].exists {
            self.inodes[ino as usize] = DiskInode {
                exists: true,
                ..DiskInode::default()
            };
            if !self.opts.create_not_journaled {
                self.inode_dirty(ino, true, true);
            }
        }
        self.returned("create", Some(ino), Promise::Nothing);
        Ok(())
    }

    /// Buffered write through the page cache; with `dsync` (O_DSYNC) it
    /// returns only once the range and what is needed to read it back are
    /// stable.
    pub fn write(
        &mut self,
        ino: u32,
        offset: u64,
        data: &[u8],
        dsync: bool,
    ) -> Result<(), FsError> {
        self.begin();
        let r = self.buffered_write(ino, offset, data, dsync);
        self.finish(r)
    }

    fn buffered_write(
        &mut self,
        ino: u32,
        offset: u64,
        data: &[u8],
        dsync: bool,
    ) -> Result<(), FsError> {
        self.check_ino(ino)?;
        let len = data.len() as u64;
        check_range(offset, len)?;
        if len == 0 {
            self.returned("write", Some(ino), Promise::Nothing);
            return Ok(());
        }
        self.inode_lock(Task::Submitter, ino)?;
        let end = offset + len;
        let (first, last) = ((offset / BS) as u32, ((end - 1) / BS) as u32);
        // A buffered write over a range with direct I/O in progress waits
        // for it first (the serialisation ext4 and XFS apply to unaligned
        // or overlapping I/O), so a page never zero-fills over DIO data.
        if self
            .dios
            .values()
            .any(|d| d.ino == ino && !d.ended && d.offset < end && offset < d.offset + d.len)
        {
            self.inode_dio_wait(ino)?;
        }
        let holes = (first..=last)
            .filter(|fb| self.inodes[ino as usize].map[*fb as usize] == 0)
            .count() as u64;
        if holes > self.free_blocks() {
            self.inode_unlock(Task::Submitter, ino);
            return Err(FsError::NoSpace);
        }
        let old_size = self.inodes[ino as usize].size;
        for fb in first..=last {
            self.prepare_page(ino, fb)?;
            let block_start = u64::from(fb) * BS;
            let from = offset.max(block_start);
            let to = end.min(block_start + BS);
            let page = self.page_mut((ino, fb))?;
            page.data[(from - block_start) as usize..(to - block_start) as usize]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
            page.dirty = true;
        }
        if end > old_size {
            self.inodes[ino as usize].size = end;
            self.inode_dirty(ino, false, true);
        }
        if dsync {
            self.generic_write_sync(ino, first, last)?;
        }
        self.inode_unlock(Task::Submitter, ino);
        let promise = match (dsync, end > old_size) {
            (false, _) => Promise::Nothing,
            (true, false) => Promise::Data { ino, offset, len },
            (true, true) => Promise::DataAndSize {
                ino,
                offset,
                len,
                size: end,
            },
        };
        self.returned("write", Some(ino), promise);
        Ok(())
    }

    /// The O_DSYNC sync of a buffered write (`generic_write_sync`).
    fn generic_write_sync(&mut self, ino: u32, first: u32, last: u32) -> Result<(), FsError> {
        self.writeback_range(ino, first, last)?;
        if self.bugs().contains(Bug::DsyncNoFlush) {
            // The lost sync: acknowledged once the data write completed,
            // with neither a journal commit, a FUA nor a cache flush.
            return Ok(());
        }
        if self.tx.map_dirty.contains(&ino) || self.tx.size_dirty.contains(&ino) {
            self.journal_commit(true)?;
        } else {
            self.flush(BioOwner::Other)?;
        }
        Ok(())
    }

    /// Makes sure the page of (`ino`, `fb`) is in the cache, allocating the
    /// block if it is a hole and converting it if it is unwritten: a page
    /// cache page always stands for a written block.
    pub(crate) fn prepare_page(&mut self, ino: u32, fb: u32) -> Result<(), FsError> {
        if self.pages.contains_key(&(ino, fb)) {
            return Ok(());
        }
        let ptr = self.inodes[ino as usize].map[fb as usize];
        let data = if ptr == 0 {
            let p = self.alloc_block()?;
            self.inodes[ino as usize].map[fb as usize] = p;
            self.inode_dirty(ino, true, false);
            vec![0; BLOCK_SIZE]
        } else if ptr & PTR_UNWRITTEN != 0 {
            self.inodes[ino as usize].map[fb as usize] = ptr & !PTR_UNWRITTEN;
            self.inode_dirty(ino, true, false);
            vec![0; BLOCK_SIZE]
        } else {
            self.read_block(self.data_block(ptr))?
        };
        self.pages.insert((ino, fb), Page { data, dirty: false });
        Ok(())
    }

    /// Reads up to `len` bytes at `offset`, clipped at EOF. Page cache
    /// first; holes and unwritten extents read as zeroes.
    pub fn read(&mut self, ino: u32, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        self.begin();
        let r = self.read_inner(ino, offset, len);
        self.finish(r)
    }

    fn read_inner(&mut self, ino: u32, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        self.check_ino(ino)?;
        let size = self.inodes[ino as usize].size;
        let end = offset.saturating_add(len).min(size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut pos = offset;
        while pos < end {
            let fb = (pos / BS) as u32;
            let block_start = u64::from(fb) * BS;
            let to = end.min(block_start + BS);
            let range = (pos - block_start) as usize..(to - block_start) as usize;
            if let Some(p) = self.pages.get(&(ino, fb)) {
                out.extend_from_slice(&p.data[range]);
            } else {
                let ptr = self.inodes[ino as usize].map[fb as usize];
                if !maps_written(ptr) {
                    out.resize(out.len() + range.len(), 0);
                } else {
                    let block = self.read_block(self.data_block(ptr))?;
                    out.extend_from_slice(&block[range]);
                }
            }
            pos = to;
        }
        self.returned("read", Some(ino), Promise::Nothing);
        Ok(out)
    }

    /// The byte ranges of `ino` below its size that may hold non-zero
    /// bytes, ascending and disjoint (`SEEK_DATA`/`SEEK_HOLE`): blocks in
    /// the page cache or mapped to written blocks. The rest reads as
    /// zeroes, by the same test (`maps_written`) [`Filesystem::read`]
    /// makes, so a reader may skip it.
    pub fn data_ranges(&self, ino: u32) -> Result<Vec<(u64, u64)>, FsError> {
        self.check_ino(ino)?;
        let inode = &self.inodes[ino as usize];
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for fb in 0..inode.size.div_ceil(BS) as u32 {
            let ptr = inode.map[fb as usize];
            let data = self.pages.contains_key(&(ino, fb)) || maps_written(ptr);
            if !data {
                continue;
            }
            let (start, end) = (u64::from(fb) * BS, (u64::from(fb) + 1) * BS);
            match ranges.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => ranges.push((start, end)),
            }
        }
        if let Some(last) = ranges.last_mut() {
            last.1 = last.1.min(inode.size);
        }
        Ok(ranges)
    }

    /// fsync: data, then everything the inode's metadata needs, then a
    /// cache flush (the commit record's PREFLUSH, or an explicit flush).
    pub fn fsync(&mut self, ino: u32) -> Result<(), FsError> {
        self.begin();
        let r = self.fsync_inner(ino, false);
        self.finish(r)
    }

    /// fdatasync: like fsync, but metadata only where needed to read the
    /// data back: the block map and `i_size`.
    pub fn fdatasync(&mut self, ino: u32) -> Result<(), FsError> {
        self.begin();
        let r = self.fsync_inner(ino, true);
        self.finish(r)
    }

    fn fsync_inner(&mut self, ino: u32, datasync: bool) -> Result<(), FsError> {
        self.check_ino(ino)?;
        // Like btrfs_sync_file, the fsync entry point takes i_rwsem.
        self.inode_lock(Task::Submitter, ino)?;
        self.writeback_range(ino, 0, MAX_FILE_BLOCKS as u32 - 1)?;
        let need_commit = if datasync {
            let size_needed =
                self.tx.size_dirty.contains(&ino) && !self.bugs().contains(Bug::FdatasyncSkipsSize);
            self.tx.map_dirty.contains(&ino) || size_needed
        } else {
            self.tx.inodes.contains(&ino)
        };
        // fsync-no-flush: the log force does not imply a data-device cache
        // flush (XFS before 2bf1ec0ff067).
        let flush = !self.bugs().contains(Bug::FsyncNoFlush);
        if need_commit {
            self.journal_commit(flush)?;
        } else if flush {
            self.flush(BioOwner::Other)?;
        }
        self.inode_unlock(Task::Submitter, ino);
        let size = self.inodes[ino as usize].size;
        self.returned(
            if datasync { "fdatasync" } else { "fsync" },
            Some(ino),
            Promise::File { ino, size },
        );
        Ok(())
    }

    /// Writes back the dirty pages of `ino` in file blocks `first..=last`
    /// and waits for all of the inode's page writeback.
    fn writeback_range(&mut self, ino: u32, first: u32, last: u32) -> Result<(), FsError> {
        let keys: Vec<(u32, u32)> = self
            .pages
            .range((ino, first)..=(ino, last))
            .filter(|(_, p)| p.dirty)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.write_page(key, true)?;
        }
        self.wait_until("page writeback", |fs| {
            !fs.inflight
                .values()
                .any(|b| b.owner == BioOwner::Writeback { ino })
        })
    }

    /// Changes `i_size`: takes `i_rwsem`, waits for direct I/O
    /// (`inode_dio_wait`) and page writeback, zeroes the tail of the new last
    /// block, and frees the blocks past it in a transaction that it commits
    /// so the space is reusable at once.
    pub fn truncate(&mut self, ino: u32, size: u64) -> Result<(), FsError> {
        self.begin();
        let r = self.truncate_inner(ino, size);
        self.finish(r)
    }

    fn truncate_inner(&mut self, ino: u32, size: u64) -> Result<(), FsError> {
        self.check_ino(ino)?;
        if size > MAX_FILE_SIZE {
            return Err(FsError::FileTooBig {
                offset: size,
                len: 0,
                max: MAX_FILE_SIZE,
            });
        }
        self.inode_lock(Task::Submitter, ino)?;
        if !self.bugs().contains(Bug::TruncateNoDioWait) {
            self.inode_dio_wait(ino)?;
        }
        // truncate_inode_pages waits for pages under writeback.
        self.wait_until("writeback before truncate", |fs| {
            !fs.inflight
                .values()
                .any(|b| b.owner == BioOwner::Writeback { ino })
        })?;
        let old = self.inodes[ino as usize].size;
        let mut freed = false;
        let keep = size.div_ceil(BS) as u32;
        if size < old
            && !size.is_multiple_of(BS)
            && !self.bugs().contains(Bug::TruncateTailNotZeroed)
        {
            // Zero the tail of the new last block through the page cache;
            // the page is written before the truncate commits (ordered
            // mode), so a later extension reads zeroes.
            let fb = (size / BS) as u32;
            let ptr = self.inodes[ino as usize].map[fb as usize];
            if maps_written(ptr) {
                self.prepare_page(ino, fb)?;
                let page = self.page_mut((ino, fb))?;
                page.data[(size % BS) as usize..].fill(0);
                page.dirty = true;
            }
        }
        // Everything past the new EOF goes, also blocks an extending DIO
        // allocated beyond the old EOF (xfs_itruncate_extents does the same).
        let drop: Vec<(u32, u32)> = self
            .pages
            .range((ino, keep)..=(ino, u32::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in drop {
            self.pages.remove(&k);
        }
        for fb in keep as usize..MAX_FILE_BLOCKS {
            let ptr = self.inodes[ino as usize].map[fb];
            if ptr != 0 {
                self.inodes[ino as usize].map[fb] = 0;
                self.free_block(ptr);
                freed = true;
            }
        }
        if freed {
            self.inode_dirty(ino, true, false);
        }
        if size != old {
            self.inodes[ino as usize].size = size;
            self.inode_dirty(ino, false, true);
        }
        if freed {
            self.journal_commit(true)?;
        }
        self.inode_unlock(Task::Submitter, ino);
        self.returned("truncate", Some(ino), Promise::Nothing);
        Ok(())
    }

    /// Submits writeback of dirty pages (of `ino`, or all), at most
    /// `max_pages`; does not wait. Pages already under writeback are
    /// skipped, like WB_SYNC_NONE writeback.
    pub fn writeback(&mut self, ino: Option<u32>, max_pages: Option<usize>) -> Result<(), FsError> {
        self.begin();
        let r = (|| {
            if let Some(ino) = ino {
                self.check_ino(ino)?;
            }
            self.writeback_pages(ino, max_pages.unwrap_or(usize::MAX), false)?;
            self.returned("writeback", ino, Promise::Nothing);
            Ok(())
        })();
        self.finish(r)
    }

    /// Everything stable: writeback of every dirty page, a commit (or a
    /// flush).
    pub fn syncfs(&mut self) -> Result<(), FsError> {
        self.begin();
        let r = (|| {
            self.writeback_pages(None, usize::MAX, true)?;
            self.wait_until("writeback in syncfs", |fs| {
                !fs.inflight
                    .values()
                    .any(|b| matches!(b.owner, BioOwner::Writeback { .. }))
            })?;
            if !self.journal_commit(true)? {
                self.flush(BioOwner::Other)?;
            }
            self.returned("syncfs", None, Promise::Filesystem);
            Ok(())
        })();
        self.finish(r)
    }

    /// Completes one in-flight bio (the device's choice) and runs the
    /// completion work it triggers. `None` when nothing was in flight.
    pub fn poll(&mut self) -> Result<Option<BioId>, FsError> {
        self.begin();
        let r = (|| {
            let id = self.complete_one()?;
            while !self.work.is_empty() {
                self.tick()?;
                if !self.run_work_pass()? {
                    break;
                }
            }
            self.returned("poll", None, Promise::Nothing);
            Ok(id)
        })();
        self.finish(r)
    }

    // ----- page cache -------------------------------------------------

    /// Submits writeback of dirty pages of `ino` (or all). With `sync`, a
    /// page under writeback is waited for and written again; without, it
    /// is skipped.
    pub(crate) fn writeback_pages(
        &mut self,
        ino: Option<u32>,
        max: usize,
        sync: bool,
    ) -> Result<(), FsError> {
        let keys: Vec<(u32, u32)> = self
            .pages
            .iter()
            .filter(|(k, p)| p.dirty && ino.is_none_or(|i| i == k.0))
            .map(|(k, _)| *k)
            .collect();
        let mut n = 0;
        for key in keys {
            if n >= max {
                break;
            }
            if self.write_page(key, sync)? {
                n += 1;
            }
        }
        Ok(())
    }

    /// Writes one page back. A second write of a block is never in flight
    /// beside the first (PG_writeback): wait for it, or skip the page.
    pub(crate) fn write_page(&mut self, key: (u32, u32), sync: bool) -> Result<bool, FsError> {
        if self.file_block_busy(key) {
            if !sync {
                return Ok(false);
            }
            self.wait_until("page under writeback", |fs| !fs.file_block_busy(key))?;
        }
        let Some(page) = self.pages.get(&key) else {
            return Ok(false);
        };
        if !page.dirty {
            return Ok(false);
        }
        let ptr = self.inodes[key.0 as usize].map[key.1 as usize];
        if !maps_written(ptr) {
            // Cannot happen: a cached page always maps a written block.
            return Err(FsError::corrupt(
                format!(
                    "dirty page of inode {} block {} is not mapped",
                    key.0, key.1
                ),
                None,
            ));
        }
        let data = page.data.clone();
        let block = self.data_block(ptr);
        self.submit_write(
            block,
            data,
            WriteFlags::default(),
            BioOwner::Writeback { ino: key.0 },
            Some(key),
            None,
        )?;
        if let Some(p) = self.pages.get_mut(&key) {
            p.dirty = false;
        }
        Ok(true)
    }

    /// A page that `prepare_page` just made sure of.
    fn page_mut(&mut self, key: (u32, u32)) -> Result<&mut Page, FsError> {
        self.pages.get_mut(&key).ok_or_else(|| {
            FsError::corrupt(
                format!("page cache lost inode {} block {}", key.0, key.1),
                None,
            )
        })
    }

    pub(crate) fn file_block_busy(&self, key: (u32, u32)) -> bool {
        self.inflight.values().any(|b| b.file_block == Some(key))
    }

    // ----- block allocation -------------------------------------------

    fn bit(&self, idx: u64) -> bool {
        self.bitmap[(idx / 8) as usize] & (1 << (idx % 8)) != 0
    }

    fn set_bit(&mut self, idx: u64, on: bool) {
        let byte = &mut self.bitmap[(idx / 8) as usize];
        if on {
            *byte |= 1 << (idx % 8);
        } else {
            *byte &= !(1 << (idx % 8));
        }
        self.tx.meta.insert(self.geo.bitmap_block(idx));
    }

    /// Free data blocks that may be allocated now.
    pub(crate) fn free_blocks(&self) -> u64 {
        // Clear bits counted a byte at a time (every write asks, and the
        // bitmap has thousands of bits), less the blocks freed by the
        // running transaction, which stay taken until it commits.
        let n = self.geo.data_blocks;
        let whole = (n / 8) as usize;
        let clear_in_whole: u64 = self.bitmap[..whole]
            .iter()
            .map(|b| u64::from(b.count_zeros()))
            .sum();
        let clear_in_tail = (whole as u64 * 8..n).filter(|&i| !self.bit(i)).count() as u64;
        let pending = self
            .tx
            .pending_free
            .range(..n)
            .filter(|&&i| !self.bit(i))
            .count() as u64;
        clear_in_whole + clear_in_tail - pending
    }

    /// Allocates the lowest free data block (lowest first, so freed blocks
    /// are reused soon and reuse bugs show). Returns its block pointer.
    pub(crate) fn alloc_block(&mut self) -> Result<u32, FsError> {
        let idx = (0..self.geo.data_blocks)
            .find(|i| !self.bit(*i) && !self.tx.pending_free.contains(i))
            .ok_or(FsError::NoSpace)?;
        self.set_bit(idx, true);
        Ok(idx as u32 + 1)
    }

    pub(crate) fn free_block(&mut self, ptr: u32) {
        let idx = u64::from(ptr & !PTR_UNWRITTEN) - 1;
        self.set_bit(idx, false);
        self.tx.pending_free.insert(idx);
    }

    /// Device block of a block pointer.
    pub(crate) fn data_block(&self, ptr: u32) -> u64 {
        self.geo.data_start + u64::from(ptr & !PTR_UNWRITTEN) - 1
    }

    /// Records that inode `ino`'s metadata changed in the running
    /// transaction.
    pub(crate) fn inode_dirty(&mut self, ino: u32, map: bool, size: bool) {
        self.tx.meta.insert(self.geo.inode_block(ino));
        self.tx.inodes.insert(ino);
        if map {
            self.tx.map_dirty.insert(ino);
        }
        if size {
            self.tx.size_dirty.insert(ino);
        }
    }

    // ----- bios and waiting -------------------------------------------

    pub(crate) fn submit_write(
        &mut self,
        block: u64,
        data: Vec<u8>,
        flags: WriteFlags,
        owner: BioOwner,
        file_block: Option<(u32, u32)>,
        dio: Option<u64>,
    ) -> Result<BioId, FsError> {
        let id = self.dev.submit(Bio {
            kind: BioKind::Write {
                sector: block * SECTORS_PER_BLOCK,
                data,
                flags,
            },
            owner,
        })?;
        self.inflight.insert(
            id,
            InflightBio {
                dev_block: Some(block),
                file_block,
                owner,
                dio,
            },
        );
        Ok(id)
    }

    /// An empty flush, waited for.
    pub(crate) fn flush(&mut self, owner: BioOwner) -> Result<(), FsError> {
        let id = self.dev.submit(Bio {
            kind: BioKind::Flush,
            owner,
        })?;
        self.inflight.insert(
            id,
            InflightBio {
                dev_block: None,
                file_block: None,
                owner,
                dio: None,
            },
        );
        self.wait_until("cache flush", |fs| !fs.inflight.contains_key(&id))
    }

    /// Completes one bio. The last bio of an AIO DIO queues its completion
    /// work (run later by `poll` or a wait loop, never here, so that no
    /// completion runs in the middle of another path's I/O).
    pub(crate) fn complete_one(&mut self) -> Result<Option<BioId>, FsError> {
        let Some(id) = self.dev.complete_next() else {
            return Ok(None);
        };
        if let Some(bio) = self.inflight.remove(&id) {
            if let Some(d) = bio
                .dio
                .and_then(|dio| self.dios.get_mut(&dio).map(|d| (dio, d)))
            {
                let (dio, d) = d;
                d.remaining = d.remaining.saturating_sub(1);
                if d.remaining == 0 && d.aio {
                    self.work.push_back(Work::Complete(dio));
                }
            }
        }
        Ok(Some(id))
    }

    /// Completes bios until `cond` holds. Nothing in flight while it does
    /// not is a deadlock, reported, never a hang.
    pub(crate) fn wait_until(
        &mut self,
        what: &str,
        cond: impl Fn(&Self) -> bool,
    ) -> Result<(), FsError> {
        while !cond(self) {
            self.tick()?;
            if self.complete_one()?.is_none() {
                return Err(self.stall(what, "nothing in flight can satisfy the wait"));
            }
        }
        Ok(())
    }

    /// Waits for (`ino`-independent) writes to device `block` and reads it.
    pub(crate) fn read_block(&mut self, block: u64) -> Result<Vec<u8>, FsError> {
        self.wait_until("write in flight to a block being read", |fs| {
            !fs.inflight.values().any(|b| b.dev_block == Some(block))
        })?;
        Ok(self.dev.read_vec(block * SECTORS_PER_BLOCK, BLOCK_SIZE)?)
    }

    #[track_caller]
    pub(crate) fn stall(&self, lock: &str, why: &str) -> FsError {
        let here = std::panic::Location::caller();
        FsError::Deadlock(DeadlockReport {
            kind: DeadlockKind::Stall,
            lock: lock.to_string(),
            holder: None,
            holder_location: None,
            requester: Task::Submitter.to_string(),
            requester_location: format!("{}:{}:{}", here.file(), here.line(), here.column()),
            cycle: vec![why.to_string()],
        })
    }

    pub(crate) fn tick(&mut self) -> Result<(), FsError> {
        self.steps += 1;
        if self.steps > self.opts.step_budget {
            return Err(FsError::StepBudget { steps: self.steps });
        }
        Ok(())
    }

    /// `inode_lock` through the tracker, for the given task.
    #[track_caller]
    pub(crate) fn inode_lock(&mut self, task: Task, ino: u32) -> Result<(), FsError> {
        match self.locks.lock(task, ino) {
            Ok(()) => Ok(()),
            Err(LockError::Deadlock(r)) => Err(FsError::Deadlock(r)),
            // The submitter only runs when no completion holds a lock.
            Err(LockError::WouldBlock) => Err(self.stall(
                &format!("i_rwsem(ino {ino})"),
                "lock held by a task that cannot run",
            )),
        }
    }

    pub(crate) fn inode_unlock(&mut self, task: Task, ino: u32) {
        self.locks.unlock(task, ino);
    }

    // ----- helpers ----------------------------------------------------

    pub(crate) fn bugs(&self) -> BugSet {
        self.opts.bugs
    }

    pub(crate) fn check_ino(&self, ino: u32) -> Result<(), FsError> {
        if self.exists(ino) {
            Ok(())
        } else {
            Err(FsError::NotFound(ino))
        }
    }

    pub(crate) fn emit(&mut self, e: FsEvent) {
        self.dev.event(&e);
    }

    pub(crate) fn returned(&mut self, op: &str, ino: Option<u32>, promise: Promise) {
        self.emit(FsEvent::Returned {
            op: op.to_string(),
            ino,
            promise,
        });
    }

    /// Start of a public operation: a fresh step budget.
    pub(crate) fn begin(&mut self) {
        self.steps = 0;
    }

    /// End of a public operation: on error, drop the submitter's locks and
    /// waits so the error does not poison later operations.
    pub(crate) fn finish<T>(&mut self, r: Result<T, FsError>) -> Result<T, FsError> {
        if r.is_err() {
            self.locks.release_all(Task::Submitter);
            self.locks.release_all(Task::Completion);
        }
        r
    }

    /// The image of metadata block `block` as it is in memory now.
    pub(crate) fn meta_image(&self, block: u64) -> Vec<u8> {
        if block < self.geo.itable_start {
            let at = ((block - self.geo.bitmap_start) * BS) as usize;
            self.bitmap[at..at + BLOCK_SIZE].to_vec()
        } else {
            let mut b = vec![0u8; BLOCK_SIZE];
            let first = (block - self.geo.itable_start) as usize * layout::INODES_PER_BLOCK;
            for (i, slot) in b.chunks_mut(layout::INODE_SIZE).enumerate() {
                if let Some(ino) = self.inodes.get(first + i) {
                    layout::encode_inode(ino, slot);
                }
            }
            b
        }
    }
}

/// Offset + length within the maximum file size.
pub(crate) fn check_range(offset: u64, len: u64) -> Result<(), FsError> {
    match offset.checked_add(len) {
        Some(end) if end <= MAX_FILE_SIZE => Ok(()),
        _ => Err(FsError::FileTooBig {
            offset,
            len,
            max: MAX_FILE_SIZE,
        }),
    }
}

/// Whether a block-map pointer maps a written block: what a read returns
/// from disk; a hole (0) and an unwritten extent read as zeroes.
fn maps_written(ptr: u32) -> bool {
    ptr != 0 && ptr & PTR_UNWRITTEN == 0
}

/// Mount-time consistency check after recovery: sizes within limits, block
/// pointers inside the data area, no block referenced twice, the bitmap
/// agreeing with the block maps.
fn validate(geo: &Geometry, bitmap: &[u8], inodes: &[DiskInode]) -> Result<(), FsError> {
    // The bitmap the block maps imply, bit for bit as on disk: compared
    // with the one on disk a byte at a time (mount must stay fast: this
    // runs at every mount of every crash state).
    let mut referenced = vec![0u8; (geo.data_blocks as usize).div_ceil(8)];
    for (ino, inode) in inodes.iter().enumerate() {
        let block = Some(geo.inode_block(ino as u32));
        if !inode.exists {
            if inode.size != 0 || inode.map.iter().any(|p| *p != 0) {
                return Err(FsError::corrupt(
                    format!("free inode {ino} has size or blocks"),
                    block,
                ));
            }
            continue;
        }
        if inode.size > MAX_FILE_SIZE {
            return Err(FsError::corrupt(
                format!("inode {ino}: size {} exceeds the maximum", inode.size),
                block,
            ));
        }
        for (fb, ptr) in inode.map.iter().enumerate() {
            if *ptr == 0 {
                continue;
            }
            let idx = u64::from(ptr & !PTR_UNWRITTEN);
            if idx == 0 || idx > geo.data_blocks {
                return Err(FsError::corrupt(
                    format!("inode {ino} block {fb}: pointer {ptr:#x} outside the data area"),
                    block,
                ));
            }
            let (byte, bit) = (((idx - 1) / 8) as usize, 1u8 << ((idx - 1) % 8));
            if referenced[byte] & bit != 0 {
                return Err(FsError::corrupt(
                    format!(
                        "inode {ino} block {fb}: data block {} referenced twice",
                        idx - 1
                    ),
                    block,
                ));
            }
            referenced[byte] |= bit;
        }
    }
    let n = geo.data_blocks;
    // The bits of byte `byte` that stand for data blocks.
    let mask = |byte: usize| u8::MAX >> (8 - (n - byte as u64 * 8).min(8));
    let mismatch = (referenced.iter().enumerate())
        .map(|(byte, &want)| (byte, bitmap[byte] & mask(byte), want))
        .find(|&(_, have, want)| have != want);
    if let Some((byte, have, want)) = mismatch {
        let k = (have ^ want).trailing_zeros() as usize;
        let i = byte * 8 + k;
        let on = have & (1 << k) != 0;
        let is_referenced = want & (1 << k) != 0;
        return Err(FsError::corrupt(
            format!(
                "bitmap says data block {i} is {} but it is {}",
                if on { "used" } else { "free" },
                if is_referenced {
                    "referenced"
                } else {
                    "unreferenced"
                }
            ),
            Some(geo.bitmap_block(i as u64)),
        ));
    }
    // Bits past the data area must be clear: the partial byte bit by bit,
    // then whole bytes (mount must stay fast).
    let full_from = n.div_ceil(8);
    let partial = (n..(full_from * 8).min(bitmap.len() as u64 * 8))
        .any(|i| bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0);
    // An OR of every byte, not a search for the first set one: it
    // vectorises, and this tail is most of the bitmap on small devices.
    let tail_set = bitmap
        .get(full_from as usize..)
        .is_some_and(|t| t.iter().fold(0, |any, b| any | b) != 0);
    if partial || tail_set {
        return Err(FsError::corrupt(
            "bitmap bits set past the data area",
            Some(geo.bitmap_block(n)),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;

    /// The free-block count is the definition's, bit by bit: clear in the
    /// bitmap and not freed by the running transaction.
    #[test]
    fn free_blocks_counts_clear_bits_less_pending_frees() {
        let by_bits = |fs: &Filesystem<MemDevice>| {
            (0..fs.geo.data_blocks)
                .filter(|i| !fs.bit(*i) && !fs.tx.pending_free.contains(i))
                .count() as u64
        };
        let mut dev = MemDevice::new(259 * 4096);
        mkfs(&mut dev, &MkfsOptions::default()).unwrap();
        let mut fs = Filesystem::mount(dev, MountOptions::default()).unwrap();
        assert_ne!(fs.geo.data_blocks % 8, 0);
        assert_eq!(fs.free_blocks(), by_bits(&fs));
        fs.create(0).unwrap();
        fs.dio_write(0, 0, &[1u8; 12 * 4096], false, false).unwrap();
        fs.dio_wait(0).unwrap();
        assert_eq!(fs.free_blocks(), by_bits(&fs));
        let mut saw_pending = false;
        for size in [9 * 4096, 4 * 4096 + 7, 0] {
            // Free blocks in the running transaction, by hand, as a
            // truncate does before it commits.
            let ptrs: Vec<u32> = fs.inodes[0].map[(size as usize).div_ceil(4096)..12]
                .iter()
                .copied()
                .filter(|&p| p != 0)
                .collect();
            for p in ptrs {
                fs.free_block(p);
            }
            saw_pending |= !fs.tx.pending_free.is_empty();
            assert_eq!(fs.free_blocks(), by_bits(&fs), "size {size}");
        }
        assert!(saw_pending);
    }
}
