//! The `fs` vocabulary's adapter trait: a filesystem mounted on a
//! [`Disk`].
//!
//! Required: [`FsEngine::info`], [`FsEngine::configure`],
//! [`FsEngine::mkfs`], [`FsEngine::mount`], [`FsEngine::unmount`],
//! [`FsEngine::crash`], [`FsEngine::disk_mut`], [`FsEngine::apply`],
//! [`FsEngine::read`] and [`FsEngine::size`]. Each has one duty; the
//! executor decides what to run and the oracle what it means.
//!
//! The engine reports acknowledgements through [`Disk::event`] at the
//! exact moment they happen: `Returned` when a synchronous operation
//! returns, the DIO milestones when direct I/O is submitted, ends
//! (`inode_dio_end`) and is acknowledged, and `DioWaitReturned` when the
//! barrier returns. An engine that reports nothing can still be tested:
//! the executor marks an operation's return itself when the engine
//! reported no acknowledgement during it, so only AIO and the barrier go
//! unchecked (never wrong, finds less).

use crate::device::disk::Disk;
use crate::target::TargetInfo;
use crate::workload::{FileId, Header, Op};

/// Why an operation failed, in terms the executor acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// EINVAL: a request the engine rightly refuses (misaligned direct
    /// I/O). Expected where the workload says so.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// ENOENT: the file does not exist. Expected for a file the workload
    /// never created.
    #[error("no such file: {0}")]
    NotFound(String),
    /// The engine's lock tracker found a deadlock (rule 7).
    #[error("deadlock: {0}")]
    Deadlock(String),
    /// A mount or wait loop ran past its step budget (no progress).
    #[error("did not finish in {steps} steps")]
    StepBudget {
        /// The budget that ran out.
        steps: u64,
    },
    /// Anything else: corruption, ENOSPC, a device error.
    #[error("{0}")]
    Other(String),
}

/// A filesystem under test, mounted on a recording [`Disk`].
pub trait FsEngine: Send + Sync + 'static {
    /// Settings derived once per workload from its header (bug switches,
    /// barrier contract, file count, step budget).
    type Config: Send + Sync;
    /// A mounted filesystem; it owns its disk.
    type Mounted;

    /// Name, version, device model (`disk`), operations, contract.
    fn info(&self) -> TargetInfo;

    /// Whether this machine can run the engine (`Err`: what is missing,
    /// in a sentence for the user). The default: always.
    fn available(&self) -> Result<(), String> {
        Ok(())
    }

    /// Gives back what the engine keeps between runs (devices, mounts);
    /// the command line calls it when it ends. The default: nothing.
    fn release(&self) {}

    /// The per-workload settings. `step_budget` bounds mount and every
    /// wait loop, so that no image or schedule loops forever.
    fn configure(&self, header: &Header, step_budget: u64) -> Self::Config;

    /// Formats a fresh disk.
    fn mkfs(&self, config: &Self::Config, disk: &mut Disk) -> Result<(), FsError>;

    /// Mounts `disk`, running recovery; on an image it must not panic.
    fn mount(&self, config: &Self::Config, disk: Disk) -> Result<Self::Mounted, FsError>;

    /// Clean unmount: everything durable, the disk handed back.
    fn unmount(&self, fs: Self::Mounted) -> Result<Disk, FsError>;

    /// Power loss: the disk as it is, nothing more written.
    fn crash(&self, fs: Self::Mounted) -> Disk;

    /// The disk under a mounted filesystem.
    fn disk_mut<'a>(&self, fs: &'a mut Self::Mounted) -> &'a mut Disk;

    /// Runs one operation of the vocabulary other than `read`, `remount`
    /// and the namespace queries, which the executor handles. `data` holds
    /// the bytes of a write (empty otherwise). `complete` means: let the
    /// device complete one request (already picked) and run the completion
    /// work it triggers.
    fn apply(&self, fs: &mut Self::Mounted, op: &Op, data: &[u8]) -> Result<(), FsError>;

    /// Reads `len` bytes at `offset` (fewer at end of file).
    fn read(
        &self,
        fs: &mut Self::Mounted,
        file: FileId,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, FsError>;

    /// The size of `file`, `None` if it does not exist.
    fn size(&self, fs: &mut Self::Mounted, file: FileId) -> Result<Option<u64>, FsError>;

    /// Whether directory `d{dir}` exists. Required of a target that
    /// declares `mkdir` (the oracle asks only where a workload has one);
    /// the default says "no such directory".
    fn dir_exists(&self, _fs: &mut Self::Mounted, _dir: u32) -> Result<bool, FsError> {
        Ok(false)
    }

    /// After recovery and the reads of a crash state, the engine's own
    /// consistency check of what recovery left (an fsck in no-modify
    /// mode); `Err` is a recovery finding. It must leave the disk as
    /// recovery left it: the crash that follows keeps that image. The
    /// default: no check.
    fn check_recovered(
        &self,
        _config: &Self::Config,
        _fs: &mut Self::Mounted,
    ) -> Result<(), FsError> {
        Ok(())
    }
}
