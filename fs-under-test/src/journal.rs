//! The metadata journal (jbd2-like, ordered mode): commit, checkpoint and
//! recovery.
//!
//! A transaction is a descriptor block listing home locations, the whole
//! images of those metadata blocks, and a commit record whose checksum
//! covers all of them. The commit record is written with PREFLUSH|FUA only
//! after the descriptor, the images and the ordered data completed and a
//! cache flush completed, so a durable commit record implies a durable
//! transaction; recovery still checks the checksum and
//! stops at the first transaction that does not verify. The journal is
//! circular: the tail advances (journal superblock rewritten) only after the
//! checkpointed blocks are durable at home, i.e. after a cache flush.

use std::collections::BTreeMap;

use crate::block::{BioId, BioOwner, BlockDevice, WriteFlags, BLOCK_SIZE, SECTORS_PER_BLOCK};
use crate::bugs::{Bug, BugSet};
use crate::error::FsError;
use crate::fs::Filesystem;
use crate::layout::{self, Geometry, JournalSuper};

/// What a recovery scan found.
pub(crate) struct Scan {
    /// Latest image of each metadata block written by a valid transaction.
    pub images: BTreeMap<u64, Vec<u8>>,
    /// Journal blocks from the tail that the valid transactions occupy.
    pub used: u64,
    /// Sequence number the next transaction gets.
    pub next_seq: u64,
}

fn read_block<D: BlockDevice>(dev: &mut D, block: u64) -> Result<Vec<u8>, FsError> {
    Ok(dev.read_vec(block * SECTORS_PER_BLOCK, BLOCK_SIZE)?)
}

/// Scans the journal from the tail recorded in `jsb`, transaction by
/// transaction, stopping at the first one that is missing, torn or stale.
/// Reads at most the journal's length.
pub(crate) fn scan<D: BlockDevice>(
    dev: &mut D,
    geo: &Geometry,
    jsb: &JournalSuper,
    bugs: &BugSet,
    tick: &mut impl FnMut(u64) -> Result<(), FsError>,
) -> Result<Scan, FsError> {
    let j = geo.journal_blocks;
    let at = |used: u64| layout::JOURNAL_START + (jsb.tail + used) % j;
    let mut images = BTreeMap::new();
    let mut used = 0u64;
    let mut seq = jsb.seq;
    while used + 3 <= j {
        tick(1)?;
        let desc = read_block(dev, at(used))?;
        let Some(homes) = layout::decode_descriptor(&desc, seq) else {
            break;
        };
        let n = homes.len() as u64;
        if used + n + 2 > j {
            break;
        }
        tick(n + 1)?;
        let mut blocks = Vec::with_capacity(homes.len());
        for i in 0..n {
            blocks.push(read_block(dev, at(used + 1 + i))?);
        }
        let commit = read_block(dev, at(used + 1 + n))?;
        let Some(sum) = layout::decode_commit(&commit, seq) else {
            break;
        };
        // commit-no-preflush: recovery trusts any commit record it finds.
        if !bugs.contains(Bug::CommitNoPreflush) {
            let refs: Vec<&[u8]> = blocks.iter().map(|b| b.as_slice()).collect();
            if layout::transaction_checksum(seq, &desc, &refs) != sum {
                break;
            }
        }
        for (home, image) in homes.iter().zip(blocks) {
            if !geo.meta_blocks().contains(home) {
                return Err(FsError::corrupt(
                    format!(
                        "journal transaction {seq} targets block {home} outside the metadata area"
                    ),
                    Some(at(used)),
                ));
            }
            images.insert(*home, image);
        }
        used += n + 2;
        seq += 1;
    }
    Ok(Scan {
        images,
        used,
        next_seq: seq,
    })
}

impl<D: BlockDevice> Filesystem<D> {
    /// Commits the running transaction (`journal_force`). Ordered mode
    /// first: the dirty pages of every inode in the transaction are written
    /// and waited for, so new blocks hold their data before the metadata
    /// that points at them. Returns whether anything was committed.
    pub(crate) fn journal_commit(&mut self, preflush: bool) -> Result<bool, FsError> {
        if self.tx.is_empty() {
            return Ok(false);
        }
        // commit-before-data: skip the ordered-data writeout and wait.
        if !self.bugs().contains(Bug::CommitBeforeData) {
            let inos: Vec<u32> = self.tx.inodes.iter().copied().collect();
            for ino in &inos {
                self.writeback_pages(Some(*ino), usize::MAX, true)?;
            }
            self.wait_until("ordered data before commit", |fs| {
                !fs.inflight.values().any(|b| match b.owner {
                    BioOwner::Writeback { ino } => inos.contains(&ino),
                    _ => false,
                })
            })?;
        }
        let homes: Vec<u64> = self.tx.meta.iter().copied().collect();
        let size = homes.len() as u64 + 2;
        if self.j_used + size > self.geo.journal_blocks {
            self.checkpoint()?;
        }
        let seq = self.j_seq;
        let images: Vec<Vec<u8>> = homes.iter().map(|h| self.meta_image(*h)).collect();
        let desc = layout::encode_descriptor(seq, &homes);
        let refs: Vec<&[u8]> = images.iter().map(|b| b.as_slice()).collect();
        let sum = layout::transaction_checksum(seq, &desc, &refs);

        // Descriptor and images, in runs of contiguous journal blocks.
        let mut body = Vec::with_capacity(images.len() + 1);
        body.push(desc);
        body.extend(images.iter().cloned());
        let mut ids: Vec<BioId> = Vec::new();
        let mut i = 0usize;
        while i < body.len() {
            let pos = (self.j_tail + self.j_used + i as u64) % self.geo.journal_blocks;
            let run = (body.len() - i).min((self.geo.journal_blocks - pos) as usize);
            let data: Vec<u8> = body[i..i + run].concat();
            let flags = WriteFlags {
                metadata: true,
                ..Default::default()
            };
            ids.push(self.submit_write(
                layout::JOURNAL_START + pos,
                data,
                flags,
                BioOwner::Journal,
                None,
                None,
            )?);
            i += run;
        }
        self.wait_until("journal blocks", |fs| {
            ids.iter().all(|id| !fs.inflight.contains_key(id))
        })?;

        // The commit record: the journal blocks and the ordered data must be
        // durable before it, and FUA makes it durable itself. The flush is
        // waited for before the record is even submitted (not only carried
        // as PREFLUSH), so that no crash state, however weak the device's
        // ordering of an in-flight PREFLUSH write, shows the record without
        // the data it vouches for.
        let preflush = preflush && !self.bugs().contains(Bug::CommitNoPreflush);
        if preflush {
            self.flush(BioOwner::Journal)?;
        }
        let pos = (self.j_tail + self.j_used + size - 1) % self.geo.journal_blocks;
        let flags = WriteFlags {
            fua: true,
            preflush,
            metadata: true,
        };
        let id = self.submit_write(
            layout::JOURNAL_START + pos,
            layout::encode_commit(seq, &sum),
            flags,
            BioOwner::Journal,
            None,
            None,
        )?;
        self.wait_until("commit record", |fs| !fs.inflight.contains_key(&id))?;

        self.j_used += size;
        self.j_seq += 1;
        for (h, img) in homes.into_iter().zip(images) {
            self.checkpoint_list.insert(h, img);
        }
        // Blocks freed by this transaction become allocatable only now.
        self.tx = Default::default();
        Ok(true)
    }

    /// Writes committed metadata to its home locations, flushes, and only
    /// then advances the journal tail, freeing the journal space.
    pub(crate) fn checkpoint(&mut self) -> Result<(), FsError> {
        // checkpoint-no-flush: the tail moves while the home copies may
        // still sit in the volatile cache.
        let flush = !self.bugs().contains(Bug::CheckpointNoFlush);
        self.checkpoint_with(flush)
    }

    /// [`Self::checkpoint`], flushing the home copies before the tail moves
    /// only when `flush`.
    pub(crate) fn checkpoint_with(&mut self, flush: bool) -> Result<(), FsError> {
        if self.j_used == 0 {
            return Ok(());
        }
        let list = std::mem::take(&mut self.checkpoint_list);
        let mut ids = Vec::with_capacity(list.len());
        for (home, image) in list {
            let flags = WriteFlags {
                metadata: true,
                ..Default::default()
            };
            ids.push(self.submit_write(home, image, flags, BioOwner::Checkpoint, None, None)?);
        }
        self.wait_until("checkpoint writes", |fs| {
            ids.iter().all(|id| !fs.inflight.contains_key(id))
        })?;
        if flush {
            self.flush(BioOwner::Checkpoint)?;
        }
        let new_tail = (self.j_tail + self.j_used) % self.geo.journal_blocks;
        let generation = self.jsb_generation + 1;
        let jsb = JournalSuper {
            generation,
            tail: new_tail,
            seq: self.j_seq,
        };
        // Alternate slots: a torn write leaves the previous generation,
        // whose tail is still valid because the space is not reused until
        // this write completed (FUA: durable then).
        let slot_index = 1 - self.jsb_slot;
        let slot = layout::JSB_SLOTS[slot_index];
        let flags = WriteFlags {
            fua: true,
            metadata: true,
            ..Default::default()
        };
        let id = self.submit_write(
            slot,
            layout::encode_jsb(&jsb),
            flags,
            BioOwner::Checkpoint,
            None,
            None,
        )?;
        self.wait_until("journal superblock", |fs| !fs.inflight.contains_key(&id))?;
        self.jsb_generation = generation;
        self.jsb_slot = slot_index;
        self.j_tail = new_tail;
        self.j_used = 0;
        Ok(())
    }
}
