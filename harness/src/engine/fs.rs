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

/// A file's bytes as a reader that skips holes has them: `len` bytes,
/// zero outside `extents`. Recovered files are read whole at every crash
/// state, and a wide workload's files are megabytes of holes: filling
/// and comparing those zeroes was most of such a state's check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseBytes {
    len: u64,
    /// (offset, bytes): ascending, disjoint, inside `0..len`.
    extents: Vec<(u64, Vec<u8>)>,
}

/// A run of a [`SparseBytes`], from [`SparseBytes::pieces`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Stored bytes.
    Bytes(&'a [u8]),
    /// This many zero bytes (a hole).
    Zeros(usize),
}

impl SparseBytes {
    /// `bytes`, every one of them stored.
    pub fn dense(bytes: Vec<u8>) -> Self {
        SparseBytes {
            len: bytes.len() as u64,
            extents: match bytes.is_empty() {
                true => Vec::new(),
                false => vec![(0, bytes)],
            },
        }
    }

    /// `len` bytes, zero but for `extents` (offset, bytes).
    ///
    /// # Panics
    /// If the extents overlap, are out of order or reach past `len` (an
    /// engine bug, like a read that returns more than it was asked).
    pub fn from_extents(len: u64, extents: Vec<(u64, Vec<u8>)>) -> Self {
        let mut end = 0;
        for (offset, bytes) in &extents {
            assert!(
                *offset >= end,
                "SparseBytes: extent at {offset} overlaps or precedes the one before (ending at {end})"
            );
            end = offset + bytes.len() as u64;
        }
        assert!(
            end <= len,
            "SparseBytes: an extent ends at {end}, past the length {len}"
        );
        SparseBytes { len, extents }
    }

    /// Length in bytes, holes included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every byte, holes filled with zeroes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len as usize];
        for (offset, bytes) in &self.extents {
            v[*offset as usize..*offset as usize + bytes.len()].copy_from_slice(bytes);
        }
        v
    }

    /// The runs of bytes `lo..hi` (inside `0..len`), each with its offset.
    pub fn pieces(&self, lo: u64, hi: u64) -> impl Iterator<Item = (u64, Piece<'_>)> + '_ {
        debug_assert!(lo <= hi && hi <= self.len);
        // The first extent that ends after `lo`.
        let first = self
            .extents
            .partition_point(|(offset, bytes)| offset + bytes.len() as u64 <= lo);
        let mut at = lo;
        let mut next = first;
        std::iter::from_fn(move || {
            if at >= hi {
                return None;
            }
            let piece = match self.extents.get(next) {
                Some((offset, bytes)) if *offset <= at => {
                    let end = (offset + bytes.len() as u64).min(hi);
                    next += 1;
                    Piece::Bytes(&bytes[(at - offset) as usize..(end - offset) as usize])
                }
                Some((offset, _)) => Piece::Zeros((*offset.min(&hi) - at) as usize),
                None => Piece::Zeros((hi - at) as usize),
            };
            let start = at;
            at += match piece {
                Piece::Bytes(b) => b.len() as u64,
                Piece::Zeros(n) => n as u64,
            };
            Some((start, piece))
        })
    }
}

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

    /// Reads all `size` bytes of `file` (its size, from [`FsEngine::size`]),
    /// holes left out where the engine knows them (`SEEK_DATA`). A range
    /// left out must read as zeroes through [`FsEngine::read`]: the oracle
    /// takes it as read. The default reads everything.
    fn read_sparse(
        &self,
        fs: &mut Self::Mounted,
        file: FileId,
        size: u64,
    ) -> Result<SparseBytes, FsError> {
        self.read(fs, file, 0, size).map(SparseBytes::dense)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_a_range_with_bytes_and_holes() {
        let s =
            SparseBytes::from_extents(20, vec![(4, vec![1; 4]), (8, vec![2; 2]), (15, vec![3; 3])]);
        let dense = s.to_vec();
        assert_eq!(dense.len(), 20);
        for lo in 0..=20 {
            for hi in lo..=20 {
                let mut v = Vec::new();
                let mut at = lo;
                for (offset, piece) in s.pieces(lo, hi) {
                    assert_eq!(offset, at);
                    match piece {
                        Piece::Bytes(b) => v.extend_from_slice(b),
                        Piece::Zeros(n) => v.resize(v.len() + n, 0),
                    }
                    at = lo + v.len() as u64;
                }
                assert_eq!(v, dense[lo as usize..hi as usize], "{lo}..{hi}");
            }
        }
        assert_eq!(SparseBytes::dense(dense.clone()).to_vec(), dense);
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_extents_are_refused() {
        SparseBytes::from_extents(10, vec![(0, vec![1; 4]), (2, vec![1; 2])]);
    }
}
