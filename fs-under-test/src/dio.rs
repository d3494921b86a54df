//! Direct I/O, modelled on iomap (`iomap_dio_rw`, `iomap_dio_complete`),
//! and the DIO barrier `inode_dio_wait`.
//!
//! Submission takes `i_rwsem`, writes back and invalidates the page cache
//! over the range, maps the range (holes become *unwritten* extents),
//! raises `i_dio_count` (`inode_dio_begin`) and submits one bio per block.
//! When the last bio completes, completion converts the unwritten extents
//! and updates `i_size` in a transaction; for O_DSYNC it makes the write
//! stable (FUA fast path for pure overwrites, else journal force + cache
//! flush); then `inode_dio_end`; then the caller is acknowledged. A
//! synchronous DIO completes in the submitter's context; an AIO's completion
//! is queued work run by `poll` or by a wait loop. Each bug variant of this
//! path is one `if` at the place the kernel made the mistake.

use crate::block::{BioOwner, BlockDevice, WriteFlags, BLOCK_SIZE};
use crate::bugs::Bug;
use crate::error::FsError;
use crate::event::{FsEvent, Promise};
use crate::fs::{check_range, Barrier, Dio, DioHandle, Filesystem, Progress, Work};
use crate::layout::PTR_UNWRITTEN;
use crate::locks::{LockError, Task};

const BS: u64 = BLOCK_SIZE as u64;

impl<D: BlockDevice> Filesystem<D> {
    /// Direct write of `data` at `offset` (block-aligned offset and length,
    /// else `FsError::Invalid`). Synchronous: returns after the
    /// acknowledgement. `aio`: returns at once; `dio_done` tells when it is
    /// acknowledged.
    pub fn dio_write(
        &mut self,
        ino: u32,
        offset: u64,
        data: &[u8],
        dsync: bool,
        aio: bool,
    ) -> Result<DioHandle, FsError> {
        self.begin();
        let r = self.dio_write_inner(ino, offset, data, dsync, aio);
        self.finish(r)
    }

    /// Whether the DIO `h` has been acknowledged.
    pub fn dio_done(&self, h: DioHandle) -> bool {
        self.dios.get(&h.0).is_some_and(|d| d.acked)
    }

    /// The DIO barrier as an operation: waits in `inode_dio_wait` until
    /// `i_dio_count` of `ino` is zero.
    pub fn dio_wait(&mut self, ino: u32) -> Result<(), FsError> {
        self.begin();
        let r = (|| {
            self.check_ino(ino)?;
            self.inode_dio_wait(ino)?;
            self.emit(FsEvent::DioWaitReturned { ino });
            self.returned("dio_wait", Some(ino), Promise::Nothing);
            Ok(())
        })();
        self.finish(r)
    }

    fn dio_write_inner(
        &mut self,
        ino: u32,
        offset: u64,
        data: &[u8],
        dsync: bool,
        aio: bool,
    ) -> Result<DioHandle, FsError> {
        self.check_ino(ino)?;
        let len = data.len() as u64;
        if !offset.is_multiple_of(BS) || !len.is_multiple_of(BS) {
            return Err(FsError::Invalid(format!(
                "direct I/O at offset {offset} for {len} bytes is not {BLOCK_SIZE}-byte aligned"
            )));
        }
        check_range(offset, len)?;
        let id = self.next_dio;
        self.next_dio += 1;
        let handle = DioHandle(id);
        let end = offset + len;
        self.inode_lock(Task::Submitter, ino)?;
        let (first, last) = ((offset / BS) as u32, (end.max(offset + 1) - 1) / BS);
        let blocks: Vec<u32> = if len == 0 {
            Vec::new()
        } else {
            (first..=last as u32).collect()
        };

        // filemap_write_and_wait_range + invalidate_inode_pages2_range; and,
        // like sub-block DIO in XFS, wait for any write still in flight to
        // the same file blocks so two writes of a block never race.
        for fb in &blocks {
            if self.pages.get(&(ino, *fb)).is_some_and(|p| p.dirty) {
                self.write_page((ino, *fb), true)?;
            }
        }
        let keys: Vec<(u32, u32)> = blocks.iter().map(|fb| (ino, *fb)).collect();
        self.wait_until("writes to the DIO range", |fs| {
            keys.iter().all(|k| !fs.file_block_busy(*k))
        })?;
        for k in &keys {
            self.pages.remove(k);
        }

        // iomap_begin: map the range, allocating holes as unwritten extents.
        let inode = &self.inodes[ino as usize];
        let holes = blocks
            .iter()
            .filter(|fb| inode.map[**fb as usize] == 0)
            .count() as u64;
        let all_written = blocks
            .iter()
            .all(|fb| inode.map[*fb as usize] != 0 && inode.map[*fb as usize] & PTR_UNWRITTEN == 0);
        let within_eof = end <= inode.size;
        // IOMAP_F_DIRTY: the inode has metadata no commit has made stable.
        let meta_clean = !self.tx.inodes.contains(&ino);
        let old_size = inode.size;
        if holes > self.free_blocks() {
            self.inode_unlock(Task::Submitter, ino);
            return Err(FsError::NoSpace);
        }
        // The FUA fast path: only a pure overwrite of written blocks within
        // EOF of an inode without dirty metadata needs nothing but FUA.
        let fua = dsync
            && (all_written || self.bugs().contains(Bug::FuaOnUnwritten))
            && (within_eof || self.bugs().contains(Bug::FuaOnExtending))
            && meta_clean;
        let convert_early = self.bugs().contains(Bug::ConvertBeforeIo);
        let mut unwritten = Vec::new();
        for fb in &blocks {
            let mut ptr = self.inodes[ino as usize].map[*fb as usize];
            if ptr == 0 {
                ptr = self.alloc_block()? | PTR_UNWRITTEN;
                self.inodes[ino as usize].map[*fb as usize] = ptr;
                self.inode_dirty(ino, true, false);
            }
            if ptr & PTR_UNWRITTEN != 0 {
                if convert_early {
                    // convert-before-io: the extent is marked written at
                    // submission, before any data reached it.
                    self.inodes[ino as usize].map[*fb as usize] = ptr & !PTR_UNWRITTEN;
                    self.inode_dirty(ino, true, false);
                } else {
                    unwritten.push((*fb, ptr & !PTR_UNWRITTEN));
                }
            }
        }

        // inode_dio_begin.
        self.dio_count[ino as usize] += 1;
        self.emit(FsEvent::DioSubmitted {
            ino,
            dio: id,
            offset,
            len,
            dsync,
            aio,
        });
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
        self.dios.insert(
            id,
            Dio {
                ino,
                offset,
                len,
                dsync,
                aio,
                remaining: blocks.len(),
                fua,
                unwritten,
                converted: false,
                size_done: false,
                synced: false,
                ended: false,
                acked: false,
                promise: promise.clone(),
            },
        );
        let flags = WriteFlags {
            fua: fua && !self.bugs().contains(Bug::DsyncNoFlush),
            ..Default::default()
        };
        for (i, fb) in blocks.iter().enumerate() {
            let ptr = self.inodes[ino as usize].map[*fb as usize];
            let chunk = data[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE].to_vec();
            let block = self.data_block(ptr);
            self.submit_write(
                block,
                chunk,
                flags,
                BioOwner::Dio { ino, dio: id },
                Some((ino, *fb)),
                Some(id),
            )?;
        }

        if aio {
            self.inode_unlock(Task::Submitter, ino);
            if blocks.is_empty() {
                // No bio will ever complete it: complete now, as iomap does.
                self.work.push_back(Work::Complete(id));
            }
            self.returned("dio_write", Some(ino), Promise::Nothing);
            return Ok(handle);
        }

        // Synchronous DIO: wait for the bios and complete in the submitter's
        // context, after dropping i_rwsem (the btrfs fix), because the
        // O_DSYNC sync below goes through an fsync that takes it.
        // sync-dio-complete-under-ilock: complete while still holding it.
        let under_ilock = self.bugs().contains(Bug::SyncDioCompleteUnderIlock);
        if !under_ilock {
            self.inode_unlock(Task::Submitter, ino);
        }
        self.wait_until("synchronous DIO bios", |fs| {
            fs.dios.get(&id).is_none_or(|d| d.remaining == 0)
        })?;
        if self.complete_dio(Task::Submitter, id)? == Progress::Blocked {
            return Err(self.stall(
                "synchronous DIO completion",
                "completion blocked in the submitter",
            ));
        }
        if under_ilock {
            self.inode_unlock(Task::Submitter, ino);
        }
        self.returned("dio_write", Some(ino), promise);
        Ok(handle)
    }

    /// `iomap_dio_complete` and what follows it, as a restartable sequence
    /// of steps (a step that finds `i_rwsem` held returns `Blocked` and the
    /// work item is retried later from where it stopped).
    pub(crate) fn complete_dio(&mut self, task: Task, id: u64) -> Result<Progress, FsError> {
        let Some(d) = self.dios.get(&id).cloned() else {
            return Ok(Progress::Done);
        };
        let ino = d.ino;
        let size_after_sync = self.bugs().contains(Bug::SizeAfterSync);
        if !d.converted {
            // ->end_io: convert unwritten extents and update i_size, in the
            // running transaction.
            for (fb, ptr) in &d.unwritten {
                let cur = self.inodes[ino as usize].map[*fb as usize];
                // Only if the extent is still ours (a truncate that did not
                // wait may have freed it).
                if cur == *ptr | PTR_UNWRITTEN {
                    self.inodes[ino as usize].map[*fb as usize] = *ptr;
                    self.inode_dirty(ino, true, false);
                }
            }
            if !size_after_sync {
                self.dio_update_size(ino, d.offset, d.len);
            }
            if let Some(x) = self.dios.get_mut(&id) {
                x.converted = true;
                x.size_done = !size_after_sync;
            }
        }
        // The barrier contract decides whether inode_dio_end comes before
        // the sync (complete) or after it (stable). dio-end-before-sync uses
        // the old order while claiming stable.
        let end_first =
            self.opts.barrier == Barrier::Complete || self.bugs().contains(Bug::DioEndBeforeSync);
        if d.dsync && end_first && !d.ended {
            self.inode_dio_end(task, id);
            if task == Task::Completion && self.opts.barrier == Barrier::Stable {
                // The sync and the acknowledgement run as separate work, so
                // a barrier can return in between.
                self.work.push_back(Work::SyncAck(id));
                return Ok(Progress::Done);
            }
        }
        if d.dsync && !d.synced {
            if self.dio_sync(task, id)? == Progress::Blocked {
                return Ok(Progress::Blocked);
            }
            if let Some(x) = self.dios.get_mut(&id) {
                x.synced = true;
            }
        }
        if !self.dios.get(&id).is_some_and(|x| x.size_done) {
            // size-after-sync: the new size lands in a transaction that the
            // acknowledged sync did not include.
            self.dio_update_size(ino, d.offset, d.len);
            if let Some(x) = self.dios.get_mut(&id) {
                x.size_done = true;
            }
        }
        if !self.dios.get(&id).is_some_and(|x| x.ended) {
            self.inode_dio_end(task, id);
        }
        if let Some(x) = self.dios.get_mut(&id) {
            x.acked = true;
        }
        self.emit(FsEvent::DioAcked {
            ino,
            dio: id,
            promise: d.promise,
        });
        Ok(Progress::Done)
    }

    fn dio_update_size(&mut self, ino: u32, offset: u64, len: u64) {
        // A zero-length request writes nothing and extends nothing.
        let end = offset + len;
        if len > 0 && end > self.inodes[ino as usize].size {
            self.inodes[ino as usize].size = end;
            self.inode_dirty(ino, false, true);
        }
    }

    /// The O_DSYNC part of DIO completion (`generic_write_sync`).
    fn dio_sync(&mut self, task: Task, id: u64) -> Result<Progress, FsError> {
        let Some(d) = self.dios.get(&id).cloned() else {
            return Ok(Progress::Done);
        };
        if self.bugs().contains(Bug::DsyncNoFlush) {
            // The lost sync: no FUA was set, and nothing is done here.
            return Ok(Progress::Done);
        }
        if d.fua {
            // Data bios carried FUA and no metadata changed.
            return Ok(Progress::Done);
        }
        // The synchronous path syncs through an fsync that takes i_rwsem
        // (btrfs_sync_file); the completion work must not (XFS's log force),
        // except in dsync-fsync-takes-ilock.
        let take_ilock = task == Task::Submitter || self.bugs().contains(Bug::DsyncFsyncTakesIlock);
        if take_ilock {
            match self.locks.lock(task, d.ino) {
                Ok(()) => {}
                Err(LockError::WouldBlock) => return Ok(Progress::Blocked),
                Err(LockError::Deadlock(r)) => return Err(FsError::Deadlock(r)),
            }
        }
        // journal force + cache flush.
        let r = if self.tx.inodes.contains(&d.ino) {
            self.journal_commit(true).map(|_| ())
        } else {
            self.flush(BioOwner::Other)
        };
        if take_ilock {
            self.inode_unlock(task, d.ino);
        }
        r.map(|()| Progress::Done)
    }

    /// `inode_dio_end`: this DIO no longer counts in `i_dio_count`.
    fn inode_dio_end(&mut self, task: Task, id: u64) {
        let Some(d) = self.dios.get_mut(&id) else {
            return;
        };
        if d.ended {
            return;
        }
        d.ended = true;
        let ino = d.ino;
        let c = &mut self.dio_count[ino as usize];
        *c = c.saturating_sub(1);
        self.locks.set_dio_ref(task, None);
        self.emit(FsEvent::DioEnd { ino, dio: id });
    }

    /// Runs one queued work item in the completion task.
    fn run_work(&mut self, w: Work) -> Result<Progress, FsError> {
        let id = match w {
            Work::Complete(id) | Work::SyncAck(id) => id,
        };
        // The worker holds a reference on i_dio_count until inode_dio_end.
        let r = self.dios.get(&id).filter(|d| !d.ended).map(|d| (d.ino, id));
        self.locks.set_dio_ref(Task::Completion, r);
        let p = self.complete_dio(Task::Completion, id);
        self.locks.set_dio_ref(Task::Completion, None);
        p
    }

    /// Runs every work item queued now (not those they queue); blocked ones
    /// stay queued. Returns whether any made progress.
    pub(crate) fn run_work_pass(&mut self) -> Result<bool, FsError> {
        let items: Vec<Work> = self.work.drain(..).collect();
        let mut progress = false;
        let mut blocked = Vec::new();
        for (i, w) in items.iter().enumerate() {
            match self.run_work(*w) {
                Ok(Progress::Done) => progress = true,
                Ok(Progress::Blocked) => blocked.push(*w),
                Err(e) => {
                    // Keep what did not run, for whoever looks next.
                    let rest: Vec<Work> = items[i + 1..].to_vec();
                    for w in blocked.into_iter().chain(rest).rev() {
                        self.work.push_front(w);
                    }
                    return Err(e);
                }
            }
        }
        for w in blocked.into_iter().rev() {
            self.work.push_front(w);
        }
        Ok(progress)
    }

    /// `inode_dio_wait`: sleeps until `i_dio_count` of `ino` is zero,
    /// running completion work and completing bios meanwhile.
    #[track_caller]
    pub(crate) fn inode_dio_wait(&mut self, ino: u32) -> Result<(), FsError> {
        self.locks.begin_dio_wait(Task::Submitter, ino);
        let r = loop {
            if self.dio_count[ino as usize] == 0 {
                break Ok(());
            }
            if let Err(e) = self.tick() {
                break Err(e);
            }
            if !self.work.is_empty() {
                match self.run_work_pass() {
                    Ok(true) => continue,
                    // A blocked item may still have reached inode_dio_end.
                    Ok(false) if self.dio_count[ino as usize] == 0 => continue,
                    Ok(false) => {}
                    Err(e) => break Err(e),
                }
            }
            match self.complete_one() {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            break Err(self.stall(
                &format!("i_dio_count(ino {ino})"),
                "inode_dio_wait: nothing in flight and no runnable completion work",
            ));
        };
        self.locks.end_dio_wait(Task::Submitter);
        r
    }
}
