//! Typed errors of the filesystem core.
//!
//! Every failure is a value: a bad request (EINVAL-like), a corrupt image, a
//! deadlock found by the lock tracker, a step budget that ran out. The
//! harness maps them to oracle rules (Corrupt and StepBudget at mount are
//! rule 1, Deadlock is rule 7), so none of them may be a panic.

use std::fmt;

use crate::block::DeviceError;

/// What kind of deadlock the lock tracker found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlockKind {
    /// A task asked for a lock it already holds (`i_rwsem` is not recursive).
    Recursion,
    /// A lock/wait cycle: the holder of a lock waits for something that only
    /// the requester can provide.
    Cycle,
    /// A wait loop found nothing in flight and nothing runnable while its
    /// condition could not become true: it would sleep forever.
    Stall,
}

/// A deadlock, described well enough to read the bug off it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlockReport {
    pub kind: DeadlockKind,
    /// The lock (or wait condition) involved, e.g. `i_rwsem(ino 0)`.
    pub lock: String,
    /// The task holding the lock, e.g. `submitter`.
    pub holder: Option<String>,
    /// Where the holder took it (`file:line:col`).
    pub holder_location: Option<String>,
    /// The task asking for it.
    pub requester: String,
    /// Where it asked.
    pub requester_location: String,
    /// The cycle, one edge per line ("A holds X", "A waits for Y", ...).
    pub cycle: Vec<String>,
}

impl fmt::Display for DeadlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} on {}: {} requests it at {}",
            self.kind, self.lock, self.requester, self.requester_location
        )?;
        if let (Some(h), Some(l)) = (&self.holder, &self.holder_location) {
            write!(f, "; held by {h} since {l}")?;
        }
        if !self.cycle.is_empty() {
            write!(f, "; cycle: {}", self.cycle.join(" -> "))?;
        }
        Ok(())
    }
}

/// Errors of the filesystem core.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FsError {
    /// A malformed request (EINVAL): misaligned direct I/O, bad options.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No such inode, or the inode was never created.
    #[error("inode {0} does not exist")]
    NotFound(u32),
    /// No free data block (ENOSPC).
    #[error("no space left on device")]
    NoSpace,
    /// The request reaches past the maximum file size (EFBIG).
    #[error("request at offset {offset} for {len} bytes exceeds the maximum file size {max}")]
    FileTooBig { offset: u64, len: u64, max: u64 },
    /// The image is not a consistent filesystem.
    #[error("corrupt filesystem: {what}{}", block.map(|b| format!(" (block {b})")).unwrap_or_default())]
    Corrupt { what: String, block: Option<u64> },
    /// The lock tracker found a deadlock instead of hanging.
    #[error("deadlock: {0}")]
    Deadlock(DeadlockReport),
    /// Mount (or an operation's wait loop) ran out of its step budget.
    #[error("step budget exhausted after {steps} steps")]
    StepBudget { steps: u64 },
    /// The device refused a request.
    #[error("device error: {0}")]
    Device(#[from] DeviceError),
}

impl FsError {
    pub(crate) fn corrupt(what: impl Into<String>, block: Option<u64>) -> Self {
        FsError::Corrupt {
            what: what.into(),
            block,
        }
    }
}
