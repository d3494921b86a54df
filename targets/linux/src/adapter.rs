//! The [`FsEngine`] over the running kernel: mkfs, mount, the workload's
//! operations as real system calls on the mounted filesystem, reads back
//! after recovery. Every call that may do I/O runs through
//! [`Session::serve`].

use crate::session::{MountError, Session};
use crate::tool;
use crate::Kind;
use brownout::device::disk::{Disk, Event};
use brownout::engine::fs::{FsEngine, FsError, SparseBytes};
use brownout::target::{
    BugSwitch, Contract, DeviceModel, FileUpdates, Limits, Names, Setting, Sizes, TargetInfo,
};
use brownout::workload::{FileId, Header, Op, FS_IN_PLACE_OPS, FS_SYSCALL_OPS};
use brownout::Vocabulary;
use nix::fcntl::{FallocateFlags, OFlag};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Duration;

/// How long mkfs may run.
const MKFS_DEADLINE: Duration = Duration::from_secs(60);

/// The operations of the in-place vocabulary the kernel targets leave
/// out: `writeback` and `complete` (the kernel schedules its I/O) and
/// `dio-wait`: the kernel's `inode_dio_wait` is no system call of its
/// own but runs inside the calls that need it (truncate, fallocate,
/// punch hole), and a direct write here returns or is reaped before the
/// next operation, so none is in flight when they run.
const LEFT_OUT: &[&str] = &["dio-wait", "writeback", "complete"];

/// A Linux filesystem on the running kernel.
pub struct Linux {
    pub kind: Kind,
    /// `Linux <release>` of the running kernel.
    version: String,
}

/// Per-workload settings: the mount options, the bug switch.
pub struct Config {
    mount_data: String,
    lying_flush: bool,
}

/// The one bug switch: not in the kernel (brownout plants none there) but
/// in the recording device, so that a test can see a lost acknowledged
/// write found on real kernel crash states.
pub const LYING_FLUSH: &str = "lying-flush";

/// How long a consistency check may run.
const FSCK_DEADLINE: Duration = Duration::from_secs(120);

/// A mounted filesystem: its session (device, loop, mount).
pub struct Mounted {
    session: Session,
}

impl Mounted {
    fn path(&self, file: FileId) -> PathBuf {
        self.session.mount_point().join(format!("f{file}"))
    }

    fn dir_path(&self, dir: u32) -> PathBuf {
        self.session.mount_point().join(format!("d{dir}"))
    }
}

impl Linux {
    pub fn new(kind: Kind) -> Self {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        Linux {
            kind,
            version: format!("Linux {release}"),
        }
    }

    /// Runs `call` (a system call on the mounted filesystem) while the
    /// device is served; the recorder's own refusals come first.
    fn call<R: Send>(
        &self,
        fs: &mut Mounted,
        what: &str,
        call: impl FnOnce() -> std::io::Result<R> + Send,
    ) -> Result<R, FsError> {
        let r = fs
            .session
            .serve(what, call)
            .map_err(|e| FsError::Other(e.to_string()))?;
        if let Some(refused) = fs.session.served.refused.take() {
            return Err(FsError::Other(format!(
                "the device refused a request: {refused}"
            )));
        }
        r.map_err(|e| match e.kind() {
            ErrorKind::NotFound => FsError::NotFound(what.to_string()),
            ErrorKind::InvalidInput => FsError::Invalid(format!("{what}: {e}")),
            _ => FsError::Other(format!("{what}: {e}")),
        })
    }

    /// `fallocate(2)` on `file` with `mode`.
    fn fallocate(
        &self,
        fs: &mut Mounted,
        file: FileId,
        mode: FallocateFlags,
        offset: u64,
        len: u64,
    ) -> Result<(), FsError> {
        let path = fs.path(file);
        let what = if mode.contains(FallocateFlags::FALLOC_FL_PUNCH_HOLE) {
            "punch-hole"
        } else {
            "fallocate"
        };
        // Both fit: the workload's offsets end below FILE_LIMIT (2^30).
        let (offset, len) = (offset as i64, len as i64);
        self.call(fs, what, move || {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            nix::fcntl::fallocate(&f, mode, offset, len).map_err(std::io::Error::from)
        })
    }
}

fn mount_error(e: MountError) -> FsError {
    FsError::Other(format!("mount: {e}"))
}

/// An asynchronous direct write through io_uring: submitted, then its
/// completion reaped (the kernel completes it on its own; for O_DSYNC the
/// sync runs in the completion work, the path of the seed's bug).
fn write_io_uring(
    file: std::fs::File,
    buf: Vec<u8>,
    range: std::ops::Range<usize>,
    offset: u64,
) -> std::io::Result<()> {
    use tokio_uring::buf::BoundedBuf;
    let ring = tokio_uring::Runtime::new(&tokio_uring::builder())?;
    ring.block_on(async move {
        let file = tokio_uring::fs::File::from_std(file);
        let (written, _) = file.write_all_at(buf.slice(range), offset).await;
        let closed = file.close().await;
        written.and(closed)
    })
}

/// Largest file size a workload may name. The oracle reads every file
/// whole at each crash state and keeps each continuation's starting files
/// in memory: at brownout's own limit (1 GiB), the sparse files of a wide
/// workload ran a 24 GiB machine out of memory with `--jobs 2` (a btrfs
/// campaign, seed 43), and reading a 1 GiB hole at each state is slow.
/// 64 MiB still takes data past the first levels of each filesystem's
/// block map (ext4's extent tree, XFS's bmap btree, btrfs's file extents).
const FILE_SIZE_MAX: u64 = 64 << 20;

/// Whether this process may set up an io_uring (a kernel built without
/// it, `kernel.io_uring_disabled`, a seccomp filter): where not, `aio` is
/// not declared, and a workload asking for it is refused up front.
fn io_uring_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| tokio_uring::Runtime::new(&tokio_uring::builder()).is_ok())
}

/// A buffer whose bytes start at a 4 KiB boundary (O_DIRECT wants the
/// memory aligned too), made without `unsafe`: a larger vector, sliced.
fn aligned_copy(data: &[u8]) -> (Vec<u8>, usize) {
    const ALIGN: usize = 4096;
    let mut v = vec![0u8; data.len() + ALIGN];
    let at = (ALIGN - v.as_ptr() as usize % ALIGN) % ALIGN;
    v[at..at + data.len()].copy_from_slice(data);
    (v, at)
}

impl FsEngine for Linux {
    type Config = Config;
    type Mounted = Mounted;

    fn info(&self) -> TargetInfo {
        let k = self.kind;
        TargetInfo {
            name: k.target_name(),
            version: self.version.clone(),
            device: DeviceModel::Disk,
            vocabulary: Vocabulary::Fs,
            ops: FS_IN_PLACE_OPS
                .iter()
                .copied()
                .filter(|op| !LEFT_OUT.contains(op))
                .chain(io_uring_available().then_some("aio"))
                .chain(k.misaligned_refused().then_some("misaligned"))
                .chain(FS_SYSCALL_OPS.iter().copied())
                .collect(),
            contract: Contract {
                acknowledges: "fsync(2), fdatasync(2), an O_DSYNC write(2) and syncfs(2) make the data and size they cover durable when they return (direct I/O without O_DSYNC only at the next of them); a change of a name (create, unlink, rename) is durable only after an fsync of the directory, syncfs or unmount (POSIX); a punched hole only after fsync or syncfs (fdatasync need not cover it); inode_dio_wait is the kernel's `complete` barrier (since 5.10), run inside truncate and fallocate",
                atomicity: "none promised for data beyond the sector; metadata through the filesystem's journal or copy on write",
                recovery_must_succeed: true,
                file_updates: FileUpdates::InPlace,
                names: Names::Directory,
                sizes: Sizes::Writeback,
            },
            bugs: vec![BugSwitch {
                name: LYING_FLUSH,
                summary: "the recording device acknowledges a cache flush without making anything durable (a disk whose write cache lies): fsync returns, its data can still be lost",
            }],
            settings: k
                .settings()
                .iter()
                .map(|&(name, summary, _)| Setting { name, summary })
                .collect(),
            limits: Limits {
                files_max: brownout::workload::MAX_FILES,
                file_size_max: FILE_SIZE_MAX,
                keys_max: 0,
                value_len_max: 0,
                device_bytes: k.device_bytes(),
                tear_bytes: k.sector_bytes(),
                changes_per_commit_max: 0,
                nondurable_commits: false,
                put_overwrites: true,
            },
        }
    }

    fn available(&self) -> Result<(), String> {
        crate::missing(self.kind).map_or(Ok(()), Err)
    }

    fn release(&self) {
        crate::session::release();
    }

    fn configure(&self, header: &Header, _step_budget: u64) -> Config {
        let options: Vec<&str> = self
            .kind
            .mount_options()
            .iter()
            .copied()
            .chain(
                self.kind
                    .settings()
                    .iter()
                    .filter(|(name, _, _)| header.settings.contains(name))
                    .map(|&(_, _, option)| option),
            )
            .collect();
        Config {
            mount_data: options.join(","),
            lying_flush: header.bugs.contains(LYING_FLUSH),
        }
    }

    fn mkfs(&self, _config: &Config, disk: &mut Disk) -> Result<(), FsError> {
        let lent = std::mem::replace(disk, Disk::stand_in());
        let mut session = Session::start(lent, self.kind.sector_bytes())
            .map_err(|e| FsError::Other(e.to_string()))?;
        let (program, args) = self.kind.mkfs();
        let args = tool::args(args, session.loop_path());
        let r = session.serve("mkfs", || tool::run(program, &args, MKFS_DEADLINE));
        let refused = session.served.refused.take();
        *disk = session.close();
        match (r, refused) {
            (Err(e), _) => Err(FsError::Other(e.to_string())),
            (Ok(Err(e)), _) => Err(FsError::Other(e)),
            (Ok(Ok(_)), Some(refused)) => Err(FsError::Other(format!(
                "the device refused a request of mkfs: {refused}"
            ))),
            (Ok(Ok(_)), None) => Ok(()),
        }
    }

    fn mount(&self, config: &Config, disk: Disk) -> Result<Mounted, FsError> {
        let mut session = Session::start(disk, self.kind.sector_bytes())
            .map_err(|e| FsError::Other(e.to_string()))?;
        session
            .mount(self.kind.fstype(), &config.mount_data)
            .map_err(mount_error)?;
        // After mkfs (which must reach the disk whole) and this mount's
        // recovery: the workload's flushes are the ones that lie.
        session.served.lying_flush = config.lying_flush;
        Ok(Mounted { session })
    }

    fn unmount(&self, mut fs: Mounted) -> Result<Disk, FsError> {
        fs.session
            .unmount()
            .map_err(|e| FsError::Other(format!("unmount: {e}")))?;
        Ok(fs.session.close())
    }

    fn crash(&self, mut fs: Mounted) -> Disk {
        fs.session.served.crash();
        fs.session.close()
    }

    fn disk_mut<'a>(&self, fs: &'a mut Mounted) -> &'a mut Disk {
        &mut fs.session.served.disk
    }

    fn apply(&self, fs: &mut Mounted, op: &Op, data: &[u8]) -> Result<(), FsError> {
        match *op {
            Op::Create { file } => {
                let path = fs.path(file);
                self.call(fs, "create", move || {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(path)
                        .map(drop)
                })
            }
            Op::Write {
                file,
                offset,
                dsync,
                ..
            } => {
                let path = fs.path(file);
                let flags = if dsync { OFlag::O_DSYNC.bits() } else { 0 };
                self.call(fs, "write", move || {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(flags)
                        .open(path)?;
                    f.write_all_at(data, offset)
                })
            }
            Op::DioWrite {
                file,
                offset,
                dsync,
                aio,
                ..
            } => {
                let path = fs.path(file);
                let mut flags = OFlag::O_DIRECT;
                flags.set(OFlag::O_DSYNC, dsync);
                let (buf, at) = aligned_copy(data);
                let len = data.len();
                // One direct I/O per operation: its index is the id.
                let disk = &mut fs.session.served.disk;
                let dio = disk.current_op() as u64;
                disk.event(Event::DioSubmitted { file, dio, dsync });
                self.call(fs, "dio-write", move || {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(flags.bits())
                        .open(path)?;
                    match aio {
                        false => f.write_all_at(&buf[at..at + len], offset),
                        true => write_io_uring(f, buf, at..at + len, offset),
                    }
                })?;
                // The call returned (or its completion was reaped): by then
                // the kernel ran inode_dio_end, and the caller holds the
                // acknowledgement. Marking both here is late by the
                // kernel's own bookkeeping, never early.
                let disk = &mut fs.session.served.disk;
                disk.event(Event::DioEnd { file, dio });
                disk.event(Event::DioAcked { file, dio });
                Ok(())
            }
            Op::Fsync { file } | Op::Fdatasync { file } => {
                let path = fs.path(file);
                let all = matches!(op, Op::Fsync { .. });
                self.call(fs, "fsync", move || {
                    let f = std::fs::File::open(path)?;
                    match all {
                        true => f.sync_all(),
                        false => f.sync_data(),
                    }
                })
            }
            Op::Truncate { file, size } => {
                let path = fs.path(file);
                self.call(fs, "truncate", move || {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)?
                        .set_len(size)
                })
            }
            Op::Fallocate {
                file,
                offset,
                len,
                keep_size,
            } => {
                let mut mode = FallocateFlags::empty();
                mode.set(FallocateFlags::FALLOC_FL_KEEP_SIZE, keep_size);
                self.fallocate(fs, file, mode, offset, len)
            }
            Op::PunchHole { file, offset, len } => {
                let mode =
                    FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
                self.fallocate(fs, file, mode, offset, len)
            }
            Op::Unlink { file } => {
                let path = fs.path(file);
                self.call(fs, "unlink", move || std::fs::remove_file(path))
            }
            Op::Rename { from, to } => {
                let (from, to) = (fs.path(from), fs.path(to));
                self.call(fs, "rename", move || std::fs::rename(from, to))
            }
            Op::Mkdir { dir } => {
                let path = fs.dir_path(dir);
                // Like `create`, a no-op where it exists.
                self.call(fs, "mkdir", move || match std::fs::create_dir(path) {
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                    r => r,
                })
            }
            Op::DirFsync => {
                let root = fs.session.mount_point();
                self.call(fs, "dir-fsync", move || {
                    std::fs::File::open(root)?.sync_all()
                })
            }
            Op::Syncfs => {
                let root = fs.session.mount_point();
                self.call(fs, "syncfs", move || {
                    let dir = std::fs::File::open(root)?;
                    nix::unistd::syncfs(&dir).map_err(std::io::Error::from)
                })
            }
            _ => Err(FsError::Invalid(format!(
                "`{}` is not in the {} target's vocabulary",
                op.keyword(),
                self.kind.target_name()
            ))),
        }
    }

    fn check_recovered(&self, _config: &Config, fs: &mut Mounted) -> Result<(), FsError> {
        // Freeze the image recovery left (what the unmount writes goes to
        // the overlay, for fsck's eyes only), unmount cleanly, then check.
        fs.session.served.crash();
        fs.session
            .unmount()
            .map_err(|e| FsError::Other(format!("unmount after recovery: {e}")))?;
        let (program, args) = self.kind.fsck();
        let args = tool::args(args, fs.session.loop_path());
        let r = fs
            .session
            .serve("fsck", || tool::run(program, &args, FSCK_DEADLINE))
            .map_err(|e| FsError::Other(e.to_string()))?;
        r.map(drop).map_err(|complaint| {
            // The first lines say what is wrong; the rest is detail.
            let lines: Vec<&str> = complaint.lines().take(6).collect();
            FsError::Other(lines.join(" / "))
        })
    }

    fn read(
        &self,
        fs: &mut Mounted,
        file: FileId,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, FsError> {
        let path = fs.path(file);
        self.call(fs, "read", move || {
            let f = std::fs::File::open(path)?;
            let mut buf = vec![0u8; len as usize];
            let mut done = 0;
            while done < buf.len() {
                match f.read_at(&mut buf[done..], offset + done as u64)? {
                    0 => break,
                    n => done += n,
                }
            }
            buf.truncate(done);
            Ok(buf)
        })
    }

    /// The data ranges `SEEK_DATA`/`SEEK_HOLE` name, read; the rest is a
    /// hole, which reads as zeroes (the kernel may call a hole data, never
    /// data a hole). Files reach 64 MiB, of which a crash state's read-back
    /// is mostly holes. The filesystem under test is trusted no further
    /// than a spot check: each hole's first and last block are read. On
    /// anything unexpected (`read_data`), the whole file is read as `read`
    /// does.
    fn read_sparse(
        &self,
        fs: &mut Mounted,
        file: FileId,
        size: u64,
    ) -> Result<SparseBytes, FsError> {
        let path = fs.path(file);
        match self.call(fs, "read", move || read_data(&path, size))? {
            Some(bytes) => Ok(bytes),
            None => self.read(fs, file, 0, size).map(SparseBytes::dense),
        }
    }

    fn dir_exists(&self, fs: &mut Mounted, dir: u32) -> Result<bool, FsError> {
        let path = fs.dir_path(dir);
        match self.call(fs, "stat", move || std::fs::metadata(path)) {
            Ok(m) => Ok(m.is_dir()),
            Err(FsError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn size(&self, fs: &mut Mounted, file: FileId) -> Result<Option<u64>, FsError> {
        let path = fs.path(file);
        match self.call(fs, "stat", move || std::fs::metadata(path).map(|m| m.len())) {
            Ok(size) => Ok(Some(size)),
            Err(FsError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The first `size` bytes of the file at `path`, holes left out; `None`
/// where the filesystem cannot say, or says something the read-back
/// cannot trust (any seek error, a data range that does not move on, a
/// file of another size than `size`, a short read, or a hole whose first
/// or last block does not read as zeroes): the caller then reads every
/// byte.
fn read_data(path: &std::path::Path, size: u64) -> std::io::Result<Option<SparseBytes>> {
    use nix::errno::Errno;
    use nix::unistd::{lseek, Whence};
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() != size {
        return Ok(None);
    }
    // `Some(Some(offset))`, `Some(None)` for "no data from here" (ENXIO),
    // `None` for any other failure.
    let seek = |at: u64, whence: Whence| -> Option<Option<u64>> {
        match lseek(&f, i64::try_from(at).ok()?, whence) {
            Ok(o) => u64::try_from(o).ok().map(Some),
            Err(Errno::ENXIO) => Some(None),
            Err(_) => None,
        }
    };
    let read = |at: u64, len: u64| -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; len as usize];
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], at + done as u64)? {
                0 => return Ok(None),
                n => done += n,
            }
        }
        Ok(Some(buf))
    };
    // A spot check of the filesystem's word: the first and last block of
    // a hole read as zeroes (where stale bytes beside data would show).
    let hole_reads_zero = |lo: u64, hi: u64| -> std::io::Result<bool> {
        for at in [lo, hi.saturating_sub(4096).max(lo)] {
            let len = (hi - at).min(4096);
            match read(at, len)? {
                Some(b) if b.iter().all(|&x| x == 0) => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    };
    let mut extents = Vec::new();
    let mut at = 0;
    while at < size {
        let start = match seek(at, Whence::SeekData) {
            None => return Ok(None),
            Some(Some(start)) if start < at => return Ok(None),
            Some(Some(start)) if start < size => start,
            Some(_) => size, // the rest is a hole
        };
        if start > at && !hole_reads_zero(at, start)? {
            return Ok(None);
        }
        if start == size {
            break;
        }
        let end = match seek(start, Whence::SeekHole) {
            None => return Ok(None),
            Some(end) => end.unwrap_or(size).min(size),
        };
        if end <= start {
            return Ok(None); // not a data range after all
        }
        match read(start, end - start)? {
            Some(bytes) => extents.push((start, bytes)),
            None => return Ok(None),
        }
        at = end;
    }
    Ok(Some(SparseBytes::from_extents(size, extents)))
}
