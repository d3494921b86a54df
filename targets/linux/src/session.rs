//! One recording device in use: a FUSE mount serving the device file, a
//! loop device over it, and (while a filesystem is mounted) the kernel
//! mount. Every system call that may make the kernel do I/O on the device
//! runs on a worker thread through [`Session::serve`], while this thread
//! answers the device's requests; so the disk has one owner and nothing
//! waits on itself.
//!
//! The FUSE mount and the loop device (a [`Slot`]) cost more to set up
//! than a mount with recovery, so they are kept in a pool and reused:
//! each session installs its own disk in a free slot. Nothing holds the
//! loop device open between sessions, and each session ends by dropping
//! the loop device's page cache (`Session::drop_cache`): no state sees
//! another's blocks. [`release`] tears the pool
//! down; the command line calls it when it ends, tests call it
//! themselves.
//!
//! Hygiene: every call has a deadline. A call past it aborts the FUSE
//! connection (a forced unmount of the FUSE mount does that), which fails
//! every request still pending, so the call returns; the slot is then
//! thrown away.

use crate::device::{DeviceFile, Request, Served, DEVICE_FILE};
use crate::tool;
use brownout::device::disk::{Disk, SECTOR_SIZE};
use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::Duration;

/// How long one system call may keep the device busy before brownout
/// gives up on it. Generous: a mount with recovery takes milliseconds.
const CALL_DEADLINE: Duration = Duration::from_secs(60);

/// How often an unmount is tried again while the mount is busy (5 ms
/// apart).
const UNMOUNT_TRIES: u32 = 400;

/// What went wrong with the session's own plumbing (not the filesystem).
#[derive(Debug)]
pub enum SessionError {
    /// Setting up the FUSE mount or the loop device failed.
    Setup(String),
    /// A call ran past [`CALL_DEADLINE`]; the connection was aborted.
    Stuck(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Setup(m) => write!(f, "setting up the recording device: {m}"),
            SessionError::Stuck(m) => write!(
                f,
                "{m} did not return in {} s (the device was cut off)",
                CALL_DEADLINE.as_secs()
            ),
        }
    }
}

/// A FUSE-served device file of one size with a loop device of one
/// sector size over it.
struct Slot {
    bytes: u64,
    sector: u64,
    dir: tempfile::TempDir,
    fuse: fuser::BackgroundSession,
    loop_path: PathBuf,
    to_owner: Sender<Request>,
    requests: Receiver<Request>,
}

/// Idle slots.
static POOL: Mutex<Vec<Slot>> = Mutex::new(Vec::new());

impl Slot {
    fn take(bytes: u64, sector: u64) -> Result<Slot, SessionError> {
        let idle = {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            let at = pool
                .iter()
                .position(|s| s.bytes == bytes && s.sector == sector);
            at.map(|i| pool.swap_remove(i))
        };
        match idle {
            Some(slot) => Ok(slot),
            None => Slot::new(bytes, sector),
        }
    }

    fn new(bytes: u64, sector: u64) -> Result<Slot, SessionError> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(sweep_dead);
        let (to_owner, requests) = channel();
        let dir = tempfile::Builder::new()
            .prefix(&dir_prefix(std::process::id()))
            .tempdir()
            .map_err(|e| SessionError::Setup(format!("a temporary directory: {e}")))?;
        for sub in ["dev", "mnt"] {
            std::fs::create_dir(dir.path().join(sub))
                .map_err(|e| SessionError::Setup(format!("{}: {e}", dir.path().display())))?;
        }
        let mut config = fuser::Config::default();
        config.mount_options = vec![fuser::MountOption::FSName("brownout".into())];
        let fuse = fuser::spawn_mount(
            DeviceFile {
                bytes,
                to_owner: to_owner.clone(),
            },
            dir.path().join("dev"),
            &config,
        )
        .map_err(|e| SessionError::Setup(format!("mounting the FUSE device file: {e}")))?;
        let mut slot = Slot {
            bytes,
            sector,
            dir,
            fuse,
            loop_path: PathBuf::new(),
            to_owner,
            requests,
        };
        // Attaching reads nothing, but answer the device anyway (a zeroed
        // one) in case the kernel looks. losetup picks a free device and
        // retries if another worker takes it first; LOOP_CONFIGURE with a
        // sector size is one call there.
        let mut served = Served::new(Disk::new(bytes, Vec::new(), false));
        let file = slot.dir.path().join("dev").join(DEVICE_FILE);
        let args: Vec<std::ffi::OsString> = vec![
            "--find".into(),
            "--show".into(),
            "--sector-size".into(),
            sector.to_string().into(),
            file.into(),
        ];
        let r = slot.serve(&mut served, "losetup", || {
            tool::run("losetup", &args, CALL_DEADLINE)
        });
        match r {
            Ok(Ok(out)) if out.trim().starts_with("/dev/loop") => {
                slot.loop_path = PathBuf::from(out.trim());
                Ok(slot)
            }
            Ok(Ok(out)) => {
                slot.destroy();
                Err(SessionError::Setup(format!(
                    "losetup printed {:?}, not a loop device",
                    out.trim()
                )))
            }
            Ok(Err(e)) => {
                slot.destroy();
                Err(SessionError::Setup(e))
            }
            Err(e) => {
                slot.destroy();
                Err(e)
            }
        }
    }

    /// Runs `call` on a worker thread while this thread serves the device
    /// to `served`, until it returns.
    fn serve<R: Send>(
        &self,
        served: &mut Served,
        what: &str,
        call: impl FnOnce() -> R + Send,
    ) -> Result<R, SessionError> {
        let done = self.to_owner.clone();
        std::thread::scope(|s| {
            let worker = s.spawn(move || {
                // Done is sent even if the call panics, or this thread
                // would wait for it forever.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
                let _ = done.send(Request::Done);
                r
            });
            let mut aborted = false;
            loop {
                match self.requests.recv_timeout(CALL_DEADLINE) {
                    Ok(Request::Done) => break,
                    Ok(request) => served.handle(request),
                    Err(RecvTimeoutError::Timeout) if !aborted => {
                        aborted = true;
                        abort_connection(&self.dir.path().join("dev"));
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        unreachable!("the slot holds a sender")
                    }
                }
            }
            let r = match worker.join() {
                Ok(Ok(r)) => r,
                Ok(Err(panic)) | Err(panic) => std::panic::resume_unwind(panic),
            };
            match aborted {
                false => Ok(r),
                true => Err(SessionError::Stuck(what.to_string())),
            }
        })
    }

    /// Detaches the loop device, unmounts the FUSE file, removes the
    /// directories. Nothing is mounted on the loop device any more.
    fn destroy(self) {
        let mut served = Served::new(Disk::new(self.bytes, Vec::new(), false));
        served.crash();
        if !self.loop_path.as_os_str().is_empty() {
            let args = vec!["--detach".into(), self.loop_path.clone().into_os_string()];
            let _ = self.serve(&mut served, "detaching the loop device", || {
                tool::run("losetup", &args, CALL_DEADLINE)
            });
        }
        let Slot {
            dir,
            fuse,
            requests,
            to_owner,
            ..
        } = self;
        // Nothing may use the device any more: abort the connection first,
        // so that the FUSE thread ends even if a lazily unmounted
        // filesystem still holds the file. Answer (emptily) whatever
        // still arrives while it ends.
        abort_connection(&dir.path().join("dev"));
        std::thread::scope(|s| {
            let ending = s.spawn(move || {
                let _ = fuse.umount_and_join();
                let _ = to_owner.send(Request::Done);
            });
            while let Ok(request) = requests.recv_timeout(CALL_DEADLINE) {
                match request {
                    Request::Done => break,
                    request => served.handle(request),
                }
            }
            let _ = ending.join();
        });
        let _ = dir.close();
    }
}

/// The start of the name of every directory (device file, mount point)
/// process `pid` makes: leftovers are found by it.
pub fn dir_prefix(pid: u32) -> String {
    format!("brownout-linux-{pid}-")
}

/// Tears down what brownout processes that no longer run left behind
/// (killed by SIGKILL, say): kernel mounts on their mount points, their
/// loop devices and FUSE mounts, found by the process id in the
/// directory names. Never anything of a live process or not brownout's.
fn sweep_dead() {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let dead_dirs: std::collections::BTreeSet<PathBuf> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|at| {
            let at = Path::new(at);
            let dir = at.parent()?;
            let name = dir.file_name()?.to_str()?;
            let pid: u32 = name
                .strip_prefix("brownout-linux-")?
                .split('-')
                .next()?
                .parse()
                .ok()?;
            let alive = Path::new(&format!("/proc/{pid}")).exists();
            (!alive).then(|| dir.to_path_buf())
        })
        .collect();
    for dir in dead_dirs {
        let _ = umount2(&dir.join("mnt"), MntFlags::MNT_DETACH);
        let file = dir.join("dev").join(DEVICE_FILE);
        let file = file.to_string_lossy().into_owned();
        // `losetup -a` names each loop device's backing file (which cannot
        // be opened any more: its daemon is gone).
        let listed = tool::loop_devices(CALL_DEADLINE);
        let ours = listed.lines().filter(|l| l.contains(&format!("({file})")));
        for dev in ours.filter_map(|l| l.split(':').next()) {
            let _ = tool::run("losetup", &["--detach".into(), dev.into()], CALL_DEADLINE);
        }
        abort_connection(&dir.join("dev"));
        let _ = umount2(&dir.join("dev"), MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// What process `pid` has mounted or attached now: its FUSE mounts,
/// kernel mounts over them and loop devices (`/proc/mounts` and
/// `losetup -a` lines). Empty once it released everything.
pub fn leftovers(pid: u32) -> Vec<String> {
    let ours = dir_prefix(pid);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut left: Vec<String> = mounts
        .lines()
        .filter(|l| l.contains(&ours))
        .map(str::to_string)
        .collect();
    let listed = tool::loop_devices(CALL_DEADLINE);
    left.extend(
        listed
            .lines()
            .filter(|l| l.contains(&ours))
            .map(str::to_string),
    );
    left
}

/// Tears down every idle device (FUSE mount, loop device, directories).
/// Sessions still in use are torn down when they end.
pub fn release() {
    let idle = std::mem::take(&mut *POOL.lock().unwrap_or_else(|e| e.into_inner()));
    for slot in idle {
        slot.destroy();
    }
}

/// A disk served through a slot, with the kernel filesystem mounted on
/// it or not.
pub struct Session {
    pub served: Served,
    slot: Option<Slot>,
    /// The kernel filesystem's mount point while it is mounted.
    mounted: Option<PathBuf>,
    /// A call got stuck: the slot's connection is gone.
    broken: bool,
}

impl Session {
    /// Serves `disk` as a FUSE file with a loop device of `sector`-byte
    /// sectors over it.
    pub fn start(disk: Disk, sector: u64) -> Result<Session, SessionError> {
        let bytes = disk.size_sectors() * SECTOR_SIZE as u64;
        Ok(Session {
            served: Served::new(disk),
            slot: Some(Slot::take(bytes, sector)?),
            mounted: None,
            broken: false,
        })
    }

    fn slot(&self) -> &Slot {
        self.slot.as_ref().expect("a live session has a slot")
    }

    /// The loop device over the device file.
    pub fn loop_path(&self) -> &Path {
        &self.slot().loop_path
    }

    /// The device file (fsck can work on a file).
    pub fn device_file(&self) -> PathBuf {
        self.slot().dir.path().join("dev").join(DEVICE_FILE)
    }

    /// Where the kernel filesystem is (or will be) mounted.
    pub fn mount_point(&self) -> PathBuf {
        self.slot().dir.path().join("mnt")
    }

    /// Runs `call` on a worker thread while this thread serves the
    /// device, until it returns.
    pub fn serve<R: Send>(
        &mut self,
        what: &str,
        call: impl FnOnce() -> R + Send,
    ) -> Result<R, SessionError> {
        let slot = self.slot.as_ref().expect("a live session has a slot");
        let r = slot.serve(&mut self.served, what, call);
        self.broken |= r.is_err();
        r
    }

    /// Mounts the kernel filesystem `fstype` with `data` options.
    pub fn mount(&mut self, fstype: &'static str, data: &str) -> Result<(), MountError> {
        let (dev, at) = (self.loop_path().to_path_buf(), self.mount_point());
        let data = data.to_string();
        let r = self.serve("mount", move || {
            mount(
                Some(&dev),
                &at,
                Some(fstype),
                MsFlags::empty(),
                (!data.is_empty()).then_some(data.as_str()),
            )
        })?;
        r.map_err(MountError::Refused)?;
        self.mounted = Some(self.mount_point());
        Ok(())
    }

    /// Unmounts the kernel filesystem (writing what a clean unmount
    /// writes).
    pub fn unmount(&mut self) -> Result<(), MountError> {
        let Some(at) = self.mounted.clone() else {
            return Ok(());
        };
        // A process another worker is starting holds a copy of every
        // descriptor until its exec closes them: a file of this mount may
        // be open there for a moment. Try again for a while.
        let r = self.serve("unmount", move || {
            let mut r = umount2(&at, MntFlags::empty());
            for _ in 0..UNMOUNT_TRIES {
                if r != Err(nix::errno::Errno::EBUSY) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
                r = umount2(&at, MntFlags::empty());
            }
            r
        })?;
        r.map_err(MountError::Refused)?;
        self.mounted = None;
        Ok(())
    }

    /// Unmounts if mounted and hands the disk back; the slot goes back
    /// to the pool. After a crash ([`Served::crash`]) nothing written
    /// while unmounting reaches the disk.
    pub fn close(mut self) -> Disk {
        self.end();
        let placeholder = Served::new(Disk::stand_in());
        std::mem::replace(&mut self.served, placeholder).disk
    }

    fn end(&mut self) {
        if self.mounted.is_some() && self.unmount().is_err() {
            if let Some(at) = self.mounted.take() {
                let _ = self.serve("lazy unmount", move || umount2(&at, MntFlags::MNT_DETACH));
                // Still in use somewhere: not fit for another state.
                self.broken = true;
            }
        }
        if !self.broken && self.slot.is_some() {
            self.drop_cache();
        }
        if let Some(slot) = self.slot.take() {
            match self.broken {
                true => slot.destroy(),
                false => POOL.lock().unwrap_or_else(|e| e.into_inner()).push(slot),
            }
        }
    }

    /// Drops the loop device's page cache (`posix_fadvise` DONTNEED on
    /// it), so that the next session on this slot reads its own disk, not
    /// blocks cached from this one. The last close of a block device
    /// should drop its cache, but with several sessions at once (`--jobs`
    /// above the core count) the cache sometimes survived: a clean ext4
    /// corpus case then mounted crash images holding another image's
    /// blocks (checksum errors, files of a later state). Nothing is dirty
    /// here (the unmount wrote back what it had), and anything that were
    /// would be this session's (to the overlay after a crash). In this
    /// process, not through `blockdev --flushbufs`: a process per session
    /// made XFS cases 40% slower.
    fn drop_cache(&mut self) {
        let device = self.loop_path().to_path_buf();
        let r = self.serve("dropping the loop device's cache", move || {
            let file = std::fs::File::open(&device)?;
            posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
                .map_err(std::io::Error::from)
        });
        if !matches!(r, Ok(Ok(()))) {
            // Not fit for another session.
            self.broken = true;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Dropped without a clean unmount: a crash.
        self.served.crash();
        self.end();
    }
}

/// Why a kernel mount or unmount did not happen.
#[derive(Debug)]
pub enum MountError {
    /// The kernel said no.
    Refused(nix::errno::Errno),
    /// The session's plumbing failed.
    Session(SessionError),
}

impl From<SessionError> for MountError {
    fn from(e: SessionError) -> Self {
        MountError::Session(e)
    }
}

impl std::fmt::Display for MountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MountError::Refused(e) => write!(f, "{e} ({})", e.desc()),
            MountError::Session(e) => e.fmt(f),
        }
    }
}

/// Fails every request pending on the FUSE connection mounted at `dir`
/// (a forced unmount aborts a FUSE connection before it looks whether
/// the mount is busy).
fn abort_connection(dir: &Path) {
    let _ = umount2(dir, MntFlags::MNT_FORCE);
}
