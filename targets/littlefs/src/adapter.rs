//! The littlefs adapter: littlefs's block device over brownout's
//! recording devices, and the `fs` vocabulary as littlefs's calls.
//!
//! Two media, picked per workload: a disk with a write cache in reorder
//! mode or with the `write-cache` setting, NOR flash otherwise.
//! - NOR flash (the `flash` device model): what littlefs2's
//!   `Storage` trait describes, every program and erase durable when it
//!   returns, and littlefs's `sync` callback has nothing to do; prefix
//!   and torn crash states apply;
//! - storage with a volatile write cache (an SD card, eMMC, an
//!   FTL): a disk of 512-byte sectors (the `file` device model with
//!   sector-sized pages, its length fixed at the start) whose programs
//!   reach the media on their own, in any order, until littlefs's `sync`
//!   callback flushes the cache; erase has nothing to do (littlefs's
//!   documentation: "the state of an erased block is undefined"). Reorder
//!   mode applies.
//!
//! How the vocabulary maps (`workload::files` names the paths): `create`
//! is `lfs_file_open` with `LFS_O_CREAT`; `write`, `truncate`, `read` and
//! `fsync` go through the file's handle (`lfs_file_sync` for `fsync`),
//! opening it (`LFS_O_RDWR`) when none is open; `close` is
//! `lfs_file_close`; `rename`, `unlink` and `mkdir` are `lfs_rename`,
//! `lfs_remove` and `lfs_mkdir`; `remount` is `lfs_unmount` and
//! `lfs_mount` after the executor closed every handle.
//!
//! Every call into littlefs gets a budget of device calls: littlefs that
//! loops forever (after a power loss, say) fails with
//! [`FilesError::CallBudget`] instead of hanging the fuzzer.

use crate::lfs::{self, BlockDevice, LfsError, Mounted};
use brownout::device::file::File;
use brownout::device::flash::{Flash, Geometry};
use brownout::device::Recorder;
use brownout::engine::files::{FilesEngine, FilesError, Node, Tree};
use brownout::target::{
    Contract, DeviceModel, FileUpdates, Limits, Setting, TargetInfo, Vocabulary,
};
use brownout::workload::{CrashMode, Header};
use replay::image::Image;
use replay::log::Log;

/// The target's name.
pub const NAME: &str = "littlefs";
/// The write-cache setting's name.
pub const WRITE_CACHE: &str = "write-cache";
/// littlefs's geometry: small blocks, so that a short workload compacts,
/// splits and relocates metadata; wear levelling that relocates a block
/// after a few dozen erases.
pub const GEOMETRY: lfs::Geometry = lfs::Geometry {
    read_size: 16,
    prog_size: 16,
    block_size: 512,
    block_count: 128,
    cache_size: 64,
    lookahead_size: 16,
    block_cycles: 16,
};
/// The recording device: the blocks, and room for the `file` model's
/// length record (its last page, unused on flash).
pub const DEVICE_BYTES: u64 = 68 << 10;
/// Most bytes a file may hold in a workload: eight files of this size and
/// a copy of one fit the blocks with room to spare, so that no workload
/// runs out of space.
pub const FILE_SIZE_MAX: u64 = 2048;
/// Device calls one call into littlefs may make before it counts as never
/// finishing (a mount of a full device makes a few thousand).
const CALL_BUDGET: u64 = 1 << 20;

/// The engine: littlefs at the version this package links.
#[derive(Clone, Copy, Debug)]
pub struct Littlefs {
    /// The version string `brownout targets` shows.
    pub version: &'static str,
}

/// The per-workload settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The medium has a volatile write cache (the `write-cache` setting).
    pub write_cache: bool,
}

/// What the blocks live on.
pub enum Store {
    /// NOR flash: durable on return.
    Flash(Flash),
    /// A disk with a volatile write cache.
    Cached(File),
}

/// The recording medium under littlefs, with the budget of device calls
/// of the call into littlefs in progress.
pub struct Medium {
    store: Store,
    calls: u64,
}

impl Medium {
    fn new(store: Store) -> Self {
        Medium { store, calls: 0 }
    }

    /// Starts a call into littlefs: a fresh budget.
    fn start_call(&mut self) {
        self.calls = 0;
    }

    /// Whether the call in progress ran out of its budget.
    fn over_budget(&self) -> bool {
        self.calls > CALL_BUDGET
    }

    /// Counts a device call; `Err` once the budget is spent.
    fn spend(&mut self) -> Result<(), ()> {
        self.calls += 1;
        if self.over_budget() {
            Err(())
        } else {
            Ok(())
        }
    }

    fn at(block: u32, off: u32) -> u64 {
        u64::from(block) * u64::from(GEOMETRY.block_size) + u64::from(off)
    }
}

impl BlockDevice for Medium {
    fn read(&mut self, block: u32, off: u32, buf: &mut [u8]) -> Result<(), ()> {
        self.spend()?;
        let at = Self::at(block, off);
        match &mut self.store {
            Store::Flash(f) => f.read(at, buf).map_err(drop),
            Store::Cached(f) => f.read(at, buf).map_err(drop),
        }
    }

    fn prog(&mut self, block: u32, off: u32, data: &[u8]) -> Result<(), ()> {
        self.spend()?;
        let at = Self::at(block, off);
        match &mut self.store {
            Store::Flash(f) => f.program(at, data).map_err(drop),
            Store::Cached(f) => f.write(at, data).map_err(drop),
        }
    }

    fn erase(&mut self, block: u32) -> Result<(), ()> {
        self.spend()?;
        match &mut self.store {
            Store::Flash(f) => f
                .erase(Self::at(block, 0), Self::at(block + 1, 0))
                .map_err(drop),
            // Undefined after an erase: left as it was.
            Store::Cached(_) => Ok(()),
        }
    }

    fn sync(&mut self) -> Result<(), ()> {
        self.spend()?;
        match &mut self.store {
            Store::Flash(_) => Ok(()),
            Store::Cached(f) => f.sync_data().map_err(drop),
        }
    }
}

impl Recorder for Medium {
    /// Flash; [`Littlefs::device`] picks the medium a workload asks for.
    fn fresh(device_bytes: u64) -> Self {
        Medium::new(Store::Flash(flash(Flash::fresh(device_bytes))))
    }
    fn over_image(image: Image, record: bool) -> Self {
        Medium::new(Store::Flash(flash(Flash::over_image(image, record))))
    }
    fn position(&self) -> usize {
        match &self.store {
            Store::Flash(f) => f.position(),
            Store::Cached(f) => f.position(),
        }
    }
    fn mark(&mut self, label: &str) {
        match &mut self.store {
            Store::Flash(f) => f.mark(label),
            Store::Cached(f) => f.mark(label),
        }
    }
    fn finish(self) -> Log {
        match self.store {
            Store::Flash(f) => f.finish(),
            Store::Cached(f) => f.finish(),
        }
    }
    fn take_violation(&mut self) -> Option<String> {
        match &mut self.store {
            Store::Flash(f) => f.take_violation(),
            Store::Cached(f) => f.take_violation(),
        }
    }
    fn set_crash_mode(&mut self, mode: CrashMode) {
        match &mut self.store {
            Store::Flash(f) => f.set_crash_mode(mode),
            Store::Cached(f) => f.set_crash_mode(mode),
        }
    }
}

/// `flash` with littlefs's geometry: a block is an erase page, a program
/// unit a word.
fn flash(mut flash: Flash) -> Flash {
    flash.set_geometry(Geometry {
        page_bytes: GEOMETRY.block_size as usize,
        word_bytes: GEOMETRY.prog_size as usize,
    });
    flash
}

/// `file` as a disk of 512-byte sectors.
fn disk(mut file: File) -> File {
    file.set_page_bytes(512);
    file
}

/// A mounted littlefs.
pub struct Fs {
    lfs: Mounted<Medium>,
}

fn error(e: LfsError) -> FilesError {
    match e {
        LfsError::NOENT => FilesError::NotFound,
        LfsError::EXIST => FilesError::Exists,
        e => FilesError::Other(e.to_string()),
    }
}

impl Fs {
    /// Runs `f` with a fresh budget of device calls.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&mut Mounted<Medium>) -> Result<R, LfsError>,
    ) -> Result<R, FilesError> {
        self.lfs.device_mut().start_call();
        let r = f(&mut self.lfs);
        if self.lfs.device_mut().over_budget() {
            return Err(FilesError::CallBudget { calls: CALL_BUDGET });
        }
        r.map_err(error)
    }

    /// Runs `f` on the handle of `path`, opening the file (which must
    /// exist) if none is open.
    fn with_handle<R>(
        &mut self,
        path: &str,
        f: impl FnOnce(&mut Mounted<Medium>) -> Result<R, LfsError>,
    ) -> Result<R, FilesError> {
        self.call(|lfs| {
            lfs.open(path, false)?;
            f(lfs)
        })
    }
}

/// Mounts `device`, within a budget of device calls.
fn mount(mut device: Medium) -> Result<Fs, FilesError> {
    device.start_call();
    match Mounted::mount(device, GEOMETRY) {
        Ok(lfs) => Ok(Fs { lfs }),
        Err((device, _)) if device.over_budget() => {
            Err(FilesError::CallBudget { calls: CALL_BUDGET })
        }
        Err((_, e)) => Err(FilesError::Other(format!("mount: {e}"))),
    }
}

impl FilesEngine for Littlefs {
    type Device = Medium;
    type Config = Config;
    type Fs = Fs;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: NAME,
            version: self.version.to_string(),
            device: DeviceModel::Flash,
            vocabulary: Vocabulary::Fs,
            ops: vec![
                "create", "write", "read", "fsync", "truncate", "remount", "close", "rename",
                "unlink", "mkdir",
            ],
            contract: Contract {
                acknowledges: "lfs_file_sync and lfs_file_close return: the file's contents are durable; lfs_file_open with LFS_O_CREAT, lfs_rename, lfs_remove and lfs_mkdir are durable when they return",
                atomicity: "a file after a power loss equals exactly one of its synced versions (\"strong copy-on-write guarantees\"); remove and rename are atomic, even in event of power loss",
                recovery_must_succeed: true,
                file_updates: FileUpdates::CopyOnWrite,
                names: brownout::target::Names::FileFsync,
                sizes: brownout::target::Sizes::Stepwise,
            },
            bugs: Vec::new(),
            settings: vec![Setting {
                name: WRITE_CACHE,
                summary: "the medium is a disk with a volatile write cache (SD card, eMMC, FTL), whose programs reach it in any order until littlefs's sync callback flushes, instead of NOR flash (always so in reorder mode)",
            }],
            limits: Limits {
                files_max: 8,
                file_size_max: FILE_SIZE_MAX,
                keys_max: 0,
                value_len_max: 0,
                device_bytes: DEVICE_BYTES,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: false,
                put_overwrites: true,
            },
        }
    }

    fn configure(&self, header: &Header) -> Config {
        Config {
            // On flash, whose calls are durable on return, reorder mode
            // would be prefix mode again: a device that reorders is one
            // with a write cache.
            write_cache: header.settings.contains(WRITE_CACHE) || header.mode == CrashMode::Reorder,
        }
    }

    fn device(&self, config: &Config, image: Option<Image>, record: bool) -> Medium {
        let store = match (config.write_cache, image) {
            (false, None) => Store::Flash(flash(Flash::fresh(DEVICE_BYTES))),
            (false, Some(image)) => Store::Flash(flash(Flash::over_image(image, record))),
            (true, None) => {
                // A disk has no length: the file's is fixed before anything
                // else, and durable.
                let mut file = disk(File::fresh(DEVICE_BYTES));
                let capacity = file.capacity();
                file.set_len(capacity).expect("the capacity fits");
                file.sync_data().expect("a fresh file syncs");
                Store::Cached(file)
            }
            (true, Some(image)) => Store::Cached(disk(File::over_image(image, record))),
        };
        Medium::new(store)
    }

    fn format(&self, _config: &Config, mut device: Medium) -> Result<Fs, FilesError> {
        device.start_call();
        let (mut device, formatted) = lfs::format(device, GEOMETRY);
        formatted.map_err(|e| FilesError::Other(format!("format: {e}")))?;
        // The format is not part of the workload: durable before it starts.
        device
            .sync()
            .map_err(|()| FilesError::Other("sync after format failed".into()))?;
        mount(device)
    }

    fn mount(&self, _config: &Config, device: Medium) -> Result<Fs, FilesError> {
        mount(device)
    }

    fn unmount(&self, fs: Fs) -> Result<Medium, FilesError> {
        let (device, r) = fs.lfs.unmount();
        r.map_err(|e| FilesError::Other(format!("unmount: {e}")))?;
        Ok(device)
    }

    fn crash(&self, fs: Fs) -> Medium {
        fs.lfs.into_device()
    }

    fn device_mut<'a>(&self, fs: &'a mut Fs) -> &'a mut Medium {
        fs.lfs.device_mut()
    }

    fn create(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        fs.call(|lfs| lfs.open(path, true))
    }

    fn write(&self, fs: &mut Fs, path: &str, offset: u64, data: &[u8]) -> Result<(), FilesError> {
        fs.with_handle(path, |lfs| lfs.write(path, offset, data))
    }

    fn truncate(&self, fs: &mut Fs, path: &str, size: u64) -> Result<(), FilesError> {
        fs.with_handle(path, |lfs| lfs.truncate(path, size))
    }

    fn read(&self, fs: &mut Fs, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FilesError> {
        fs.with_handle(path, |lfs| lfs.read(path, offset, len))
    }

    fn sync(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        fs.with_handle(path, |lfs| lfs.sync(path))
    }

    fn close(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        fs.call(|lfs| lfs.close(path))
    }

    fn rename(&self, fs: &mut Fs, from: &str, to: &str) -> Result<(), FilesError> {
        fs.call(|lfs| lfs.rename(from, to))
    }

    fn remove(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        fs.call(|lfs| lfs.remove(path))
    }

    fn mkdir(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        fs.call(|lfs| lfs.mkdir(path))
    }

    fn tree(&self, fs: &mut Fs) -> Result<Tree, FilesError> {
        let entries = fs.call(|lfs| lfs.tree())?;
        Ok(entries
            .into_iter()
            .map(|(path, data)| (path, data.map_or(Node::Dir, Node::File)))
            .collect())
    }
}
