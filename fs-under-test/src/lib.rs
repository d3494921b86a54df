//! `fs_under_test`: a small journaling filesystem core whose code paths
//! mirror the Linux ones that crash-consistency bugs live in (iomap direct
//! I/O, O_DSYNC, fsync, truncate, `inode_dio_wait`), with switchable bug
//! variants. brownout's harness drives it over a recording block device.

// A deadlock report is the point of an error here, and errors are rare:
// keeping `FsError::Deadlock(DeadlockReport)` unboxed keeps the API plain.
#![allow(clippy::result_large_err)]

pub mod block;
pub mod bugs;
mod dio;
pub mod error;
pub mod event;
mod fs;
mod journal;
pub mod layout;
pub mod locks;

pub use block::*;
pub use bugs::*;
pub use error::{DeadlockKind, DeadlockReport, FsError};
pub use event::*;
pub use fs::{mkfs, Barrier, DioHandle, Filesystem, MkfsOptions, MountOptions};
pub use layout::{Geometry, MAX_FILE_SIZE};
