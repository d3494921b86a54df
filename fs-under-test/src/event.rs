//! Events the filesystem reports through `BlockDevice::event`, at the exact
//! moment they happen, so the harness can mark them in the block log.
//!
//! The oracle derives what an operation promised from the operation's own
//! semantics (an O_DSYNC write promises its range, fsync the whole file);
//! these events tell it *when*: the position in the log of each
//! acknowledgement, of each `inode_dio_end`, and of each return of the DIO
//! barrier.

use serde::{Deserialize, Serialize};

/// What an acknowledged operation claims is on stable storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Promise {
    /// Nothing is promised stable (a buffered write, a read, writeback).
    Nothing,
    /// Bytes `offset..offset+len` of inode `ino` are stable.
    Data { ino: u32, offset: u64, len: u64 },
    /// Bytes `offset..offset+len` of inode `ino` are stable and its size is
    /// at least `size` (an O_DSYNC write that extended the file).
    DataAndSize {
        ino: u32,
        offset: u64,
        len: u64,
        size: u64,
    },
    /// All data and the size of inode `ino` are stable (fsync, fdatasync).
    File { ino: u32, size: u64 },
    /// Everything is stable (syncfs, unmount).
    Filesystem,
}

/// A milestone reported by the filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsEvent {
    /// A synchronous operation is returning to its caller.
    Returned {
        /// The operation's name: "write", "fsync", "truncate", ...
        op: String,
        ino: Option<u32>,
        promise: Promise,
    },
    /// A direct I/O request was submitted; `inode_dio_begin` has raised
    /// `i_dio_count`.
    DioSubmitted {
        ino: u32,
        dio: u64,
        offset: u64,
        len: u64,
        dsync: bool,
        aio: bool,
    },
    /// `inode_dio_end`: this request no longer counts in `i_dio_count`.
    DioEnd { ino: u32, dio: u64 },
    /// The caller of a direct I/O request is acknowledged (a synchronous
    /// request returns, or an AIO completion is delivered).
    DioAcked {
        ino: u32,
        dio: u64,
        promise: Promise,
    },
    /// `dio_wait` (the `inode_dio_wait` barrier) returned on `ino`.
    DioWaitReturned { ino: u32 },
}
