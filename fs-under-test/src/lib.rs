//! `fs_under_test`: a small journaling filesystem core whose code paths
//! mirror the Linux ones that crash-consistency bugs live in (iomap direct
//! I/O, O_DSYNC, fsync, truncate, `inode_dio_wait`), with switchable bug
//! variants. brownout's harness drives it over a recording block device.

pub mod block;
pub mod bugs;
pub mod event;

pub use block::{Bio, BioId, BioKind, BioOwner, BlockDevice, DeviceError, MemDevice, WriteFlags};
pub use bugs::{Bug, BugSet, UnknownBug};
pub use event::{FsEvent, Promise};
