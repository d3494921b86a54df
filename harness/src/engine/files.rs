//! The `fs` vocabulary's adapter trait for copy-on-write file systems
//! (littlefs): a file's changes become durable all at once, when its sync
//! or close commits them, and every namespace operation is all or nothing.
//! The engine works on paths (`/f0`, `/d1/f5`); the executor keeps at most
//! one handle per path open in the engine and the model mirrors it.
//!
//! Required: every method but [`FilesEngine::device`]. Each has one duty;
//! the executor decides what to run (which handles to close before a
//! rename or a remount), the model ([`crate::model::files`]) which trees a
//! crash may leave, the oracle compares [`FilesEngine::tree`] after
//! recovery with them.

use crate::device::Recorder;
use crate::target::TargetInfo;
use crate::workload::Header;
use replay::image::Image;

/// Why an operation failed, in terms the model predicts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilesError {
    /// The path, or its directory, does not exist (ENOENT).
    #[error("no such file or directory")]
    NotFound,
    /// The path exists already (EEXIST, from mkdir).
    #[error("file exists")]
    Exists,
    /// A call into the engine ran past its budget of device calls: it
    /// would not have finished.
    #[error("did not finish in {calls} device calls")]
    CallBudget {
        /// The budget that ran out.
        calls: u64,
    },
    /// Anything else: corruption, no space, a device error, in the
    /// engine's words.
    #[error("{0}")]
    Other(String),
}

/// One entry of a file system's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file and its whole contents.
    File(Vec<u8>),
}

/// A whole file system: every path (`/d0`, `/d0/f4`, `/f1`) and what it
/// is, sorted by path.
pub type Tree = Vec<(String, Node)>;

/// A copy-on-write file system under test over a recording device.
pub trait FilesEngine: Send + Sync + 'static {
    /// The recording device it runs on.
    type Device: Recorder;
    /// Settings derived once per workload from its header.
    type Config: Send + Sync;
    /// A mounted file system; it owns its device and its open handles.
    type Fs;

    /// Name, version, device model, operations, contract.
    fn info(&self) -> TargetInfo;

    /// The per-workload settings.
    fn configure(&self, header: &Header) -> Self::Config;

    /// The device for a workload: a fresh one (`image` `None`), or one
    /// over a crash image, recording (`record`) what recovery writes. The
    /// default is the device model's own; an engine whose settings pick
    /// the model (a write cache or none) overrides it.
    fn device(&self, _config: &Self::Config, image: Option<Image>, record: bool) -> Self::Device {
        match image {
            None => Self::Device::fresh(self.info().limits.device_bytes),
            Some(image) => Self::Device::over_image(image, record),
        }
    }

    /// Formats the fresh `device` and mounts it.
    fn format(&self, config: &Self::Config, device: Self::Device) -> Result<Self::Fs, FilesError>;

    /// Mounts `device`, running whatever recovery the engine does; on any
    /// image it must not panic.
    fn mount(&self, config: &Self::Config, device: Self::Device) -> Result<Self::Fs, FilesError>;

    /// Clean unmount (the executor has closed every handle first).
    fn unmount(&self, fs: Self::Fs) -> Result<Self::Device, FilesError>;

    /// Power loss: the device as it is, nothing more written, handles
    /// dropped.
    fn crash(&self, fs: Self::Fs) -> Self::Device;

    /// The device under a mounted file system (for log marks).
    fn device_mut<'a>(&self, fs: &'a mut Self::Fs) -> &'a mut Self::Device;

    /// Opens `path`, creating it empty if it does not exist (a creation
    /// is committed before this returns), and keeps the handle open.
    fn create(&self, fs: &mut Self::Fs, path: &str) -> Result<(), FilesError>;

    /// Writes `data` at `offset` through the path's handle, opening an
    /// existing file if no handle is open. Not durable until a sync or
    /// close of that handle.
    fn write(
        &self,
        fs: &mut Self::Fs,
        path: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<(), FilesError>;

    /// Sets the size through the path's handle (opened as by `write`).
    fn truncate(&self, fs: &mut Self::Fs, path: &str, size: u64) -> Result<(), FilesError>;

    /// Reads up to `len` bytes at `offset` through the path's handle
    /// (opened as by `write`): what was written through it, synced or not.
    fn read(
        &self,
        fs: &mut Self::Fs,
        path: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, FilesError>;

    /// Commits the handle's changes (`lfs_file_sync`), opening an existing
    /// file if no handle is open.
    fn sync(&self, fs: &mut Self::Fs, path: &str) -> Result<(), FilesError>;

    /// Commits and closes the path's handle; nothing if none is open.
    fn close(&self, fs: &mut Self::Fs, path: &str) -> Result<(), FilesError>;

    /// Renames `from` to `to`, replacing a file there (no handle is open
    /// on either).
    fn rename(&self, fs: &mut Self::Fs, from: &str, to: &str) -> Result<(), FilesError>;

    /// Removes the file `path` (no handle is open on it).
    fn remove(&self, fs: &mut Self::Fs, path: &str) -> Result<(), FilesError>;

    /// Creates the directory `path`.
    fn mkdir(&self, fs: &mut Self::Fs, path: &str) -> Result<(), FilesError>;

    /// Every directory and file with its contents, sorted by path, read
    /// through handles of its own (after a mount no handle is open).
    fn tree(&self, fs: &mut Self::Fs) -> Result<Tree, FilesError>;
}
