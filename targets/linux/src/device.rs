//! The recording block device, kernel side: one FUSE file (`disk`) that a
//! loop device sits on. Opened with `direct_io`, every write the loop
//! device issues reaches this daemon, and a flush of the loop device
//! arrives as an fsync of the file. The FUSE thread only forwards those
//! requests, with their replies, to the thread that owns the brownout
//! [`Disk`] ([`Served`]): the disk is never shared, and a request is
//! answered only once it is in the log, so the log's order is the order
//! in which the kernel saw its requests complete.

use brownout::device::disk::{Bio, BioKind, BioOwner, Disk, WriteFlags, SECTOR_SIZE};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite,
    Request as FuseRequest,
};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::mpsc::Sender;
use std::time::{Duration, UNIX_EPOCH};

/// The one file's name in the FUSE mount.
pub const DEVICE_FILE: &str = "disk";
const FILE_INO: u64 = 2;
/// Attributes never change while a session lives.
const TTL: Duration = Duration::from_secs(3600);

/// A request for the disk's owner, or the worker's word that its system
/// call returned.
pub enum Request {
    Read {
        offset: u64,
        size: u32,
        reply: ReplyData,
    },
    Write {
        offset: u64,
        data: Vec<u8>,
        reply: ReplyWrite,
    },
    Fsync {
        reply: ReplyEmpty,
    },
    /// The system call the worker ran has returned.
    Done,
}

/// The FUSE file system: a root directory holding the device file.
pub struct DeviceFile {
    pub bytes: u64,
    pub to_owner: Sender<Request>,
}

impl DeviceFile {
    fn attr(&self, ino: u64) -> FileAttr {
        let file = ino == FILE_INO;
        FileAttr {
            ino: INodeNo(ino),
            size: if file { self.bytes } else { 0 },
            blocks: 0,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind: if file {
                FileType::RegularFile
            } else {
                FileType::Directory
            },
            perm: if file { 0o600 } else { 0o700 },
            nlink: if file { 1 } else { 2 },
            uid: 0,
            gid: 0,
            rdev: 0,
            flags: 0,
            blksize: SECTOR_SIZE as u32,
        }
    }
}

impl Filesystem for DeviceFile {
    fn lookup(&self, _req: &FuseRequest, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if u64::from(parent) == 1 && name == DEVICE_FILE {
            reply.entry(&TTL, &self.attr(FILE_INO), Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &FuseRequest, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match u64::from(ino) {
            1 | FILE_INO => reply.attr(&TTL, &self.attr(u64::from(ino))),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &FuseRequest, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // No page cache in between: every write of the loop device
        // arrives here when it is issued.
        reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
    }

    fn read(
        &self,
        _req: &FuseRequest,
        _ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        // A send fails only once the owner is gone (the session is being
        // torn down): the reply is dropped, which answers EIO.
        let _ = self.to_owner.send(Request::Read {
            offset,
            size,
            reply,
        });
    }

    fn write(
        &self,
        _req: &FuseRequest,
        _ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let _ = self.to_owner.send(Request::Write {
            offset,
            data: data.to_vec(),
            reply,
        });
    }

    fn fsync(
        &self,
        _req: &FuseRequest,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let _ = self.to_owner.send(Request::Fsync { reply });
    }

    fn flush(
        &self,
        _req: &FuseRequest,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) of the file, not a cache flush: nothing to record.
        reply.ok();
    }
}

/// The disk's owner: applies what the kernel asks to the brownout disk.
/// After a crash ([`Served::crash`]) the disk is frozen: later writes go to
/// an overlay that only later reads see, so the kernel can unmount while
/// the crash image stays what it was.
pub struct Served {
    pub disk: Disk,
    overlay: Option<BTreeMap<u64, Vec<u8>>>,
    /// The first request the disk refused (out of range, misaligned): a
    /// finding of the recorder's own, reported at the next operation.
    pub refused: Option<String>,
    /// The `lying-flush` bug switch: a flush is acknowledged and not
    /// recorded.
    pub lying_flush: bool,
}

impl Served {
    pub fn new(disk: Disk) -> Self {
        Served {
            disk,
            overlay: None,
            refused: None,
            lying_flush: false,
        }
    }

    /// Power loss: nothing the kernel writes from now on reaches the disk.
    pub fn crash(&mut self) {
        self.overlay.get_or_insert_with(BTreeMap::new);
    }

    pub fn handle(&mut self, request: Request) {
        match request {
            Request::Read {
                offset,
                size,
                reply,
            } => match self.read(offset, size) {
                Ok(data) => reply.data(&data),
                Err(e) => {
                    self.refused.get_or_insert(e);
                    reply.error(Errno::EIO);
                }
            },
            Request::Write {
                offset,
                data,
                reply,
            } => match self.write(offset, data) {
                Ok(n) => reply.written(n),
                Err(e) => {
                    self.refused.get_or_insert(e);
                    reply.error(Errno::EIO);
                }
            },
            Request::Fsync { reply } => {
                if self.overlay.is_none() && !self.lying_flush {
                    self.submit(BioKind::Flush)
                        .expect("a flush is always in range");
                }
                reply.ok();
            }
            Request::Done => unreachable!("the worker's Done is handled by the session"),
        }
    }

    fn submit(&mut self, kind: BioKind) -> Result<(), String> {
        // The kernel waits for each request it sends: it completes at
        // once, in the order the requests arrived.
        self.disk
            .submit(Bio {
                kind,
                owner: BioOwner::Other("kernel"),
            })
            .map_err(|e| e.to_string())?;
        self.disk.complete_next();
        Ok(())
    }

    fn write(&mut self, offset: u64, data: Vec<u8>) -> Result<u32, String> {
        let sector = SECTOR_SIZE as u64;
        if !offset.is_multiple_of(sector) || !data.len().is_multiple_of(SECTOR_SIZE) {
            return Err(format!(
                "the loop device wrote {} bytes at byte {offset}: not whole {SECTOR_SIZE}-byte sectors",
                data.len()
            ));
        }
        let n = data.len() as u32;
        match &mut self.overlay {
            Some(overlay) => {
                for (i, s) in data.chunks(SECTOR_SIZE).enumerate() {
                    overlay.insert(offset / sector + i as u64, s.to_vec());
                }
            }
            None => self.submit(BioKind::Write {
                sector: offset / sector,
                data,
                flags: WriteFlags::default(),
            })?,
        }
        Ok(n)
    }

    fn read(&mut self, offset: u64, size: u32) -> Result<Vec<u8>, String> {
        let sector = SECTOR_SIZE as u64;
        let end = (offset + u64::from(size)).min(self.disk.size_sectors() * sector);
        if offset >= end {
            return Ok(Vec::new());
        }
        // Whole sectors around the range: a reader of the file (fsck) may
        // ask for any byte range.
        let first = offset / sector;
        let last = end.div_ceil(sector);
        let mut buf = vec![0u8; ((last - first) * sector) as usize];
        self.disk.read(first, &mut buf).map_err(|e| e.to_string())?;
        if let Some(overlay) = &self.overlay {
            for (&s, data) in overlay.range(first..last) {
                let at = ((s - first) * sector) as usize;
                buf[at..at + SECTOR_SIZE].copy_from_slice(data);
            }
        }
        let skip = (offset - first * sector) as usize;
        buf.truncate(skip + (end - offset) as usize);
        buf.drain(..skip);
        Ok(buf)
    }
}
