//! Typed errors of the replay crate.
//!
//! Every error about a log names the entry index and the byte offset of the
//! entry in its file (for logs built in memory the offset is the entry's
//! offset in the builder's arena), so that a bad multi-GiB log can be
//! inspected with a hex dump at the right place.

use std::path::PathBuf;

/// Everything that can go wrong while reading, writing, enumerating or
/// checking a log.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An operating-system error on a file.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An I/O error while writing to a stream that has no path.
    #[error("write error")]
    Write(#[source] std::io::Error),
    /// The file is neither a native nor a dm-log-writes log.
    #[error("unknown log format: first 8 bytes are {found:02x?}")]
    UnknownFormat { found: Vec<u8> },
    /// The magic number of the expected format is absent.
    #[error("{format} log: bad magic {found:#x}")]
    BadMagic { format: &'static str, found: u64 },
    /// A version this build cannot read.
    #[error("{format} log: unsupported version {version}")]
    UnsupportedVersion { format: &'static str, version: u64 },
    /// A dm-log-writes sector size that is not a power of two in 512..=65536.
    #[error("dm-log-writes log: unsupported sector size {sectorsize}")]
    BadSectorSize { sectorsize: u32 },
    /// The native file header checksum does not match.
    #[error("native log: header checksum mismatch")]
    HeaderChecksum,
    /// The file ends inside an entry (or before the entries the header declares).
    #[error("{format} log: truncated at entry {index} (offset {offset}): need {needed} bytes, file has {file_len}")]
    Truncated {
        format: &'static str,
        index: u64,
        offset: u64,
        needed: u64,
        file_len: u64,
    },
    /// An entry's checksum does not match its contents.
    #[error("native log: checksum mismatch in entry {index} (offset {offset})")]
    EntryChecksum { index: u64, offset: u64 },
    /// The trailer's checksum over all entries does not match.
    #[error("native log: trailer mismatch at offset {offset}: {reason}")]
    Trailer { offset: u64, reason: &'static str },
    /// A malformed entry (unknown kind or flag, inconsistent lengths, ...).
    #[error("{format} log: bad entry {index} (offset {offset}): {reason}")]
    BadEntry {
        format: &'static str,
        index: u64,
        offset: u64,
        reason: String,
    },
    /// `data_len` / `nr_sectors` promise more bytes than the file holds.
    #[error("{format} log: entry {index} (offset {offset}) declares {declared} data bytes but only {available} remain in the file")]
    DataPastEnd {
        format: &'static str,
        index: u64,
        offset: u64,
        declared: u64,
        available: u64,
    },
    /// The header's entry count disagrees with the entries present.
    #[error("{format} log: header declares {declared} entries but more data follows entry {declared} at offset {offset}")]
    NrEntriesMismatch {
        format: &'static str,
        declared: u64,
        offset: u64,
    },
    /// A write or discard that reaches past the end of the device.
    #[error("entry {index} (offset {offset}): sectors {sector}..{end} lie past the device end ({device_bytes} bytes)")]
    EntryPastDevice {
        index: u64,
        offset: u64,
        sector: u64,
        end: u64,
        device_bytes: u64,
    },
    /// A write whose length is not a whole number of 512-byte sectors.
    #[error("entry {index} (offset {offset}): write of {len} bytes is not a multiple of 512")]
    UnalignedWrite { index: u64, offset: u64, len: u64 },
    /// A completion of an id that was never submitted, or completed twice,
    /// or a submission that reuses an id.
    #[error("entry {index} (offset {offset}): request id {id}: {reason}")]
    BadRequestId {
        index: u64,
        offset: u64,
        id: u64,
        reason: &'static str,
    },
    /// A device size that is not a positive multiple of 512 bytes.
    #[error("device size {0} is not a positive multiple of 512")]
    BadDeviceSize(u64),
    /// `--start-mark` / `--end-mark` names a mark that the log lacks.
    #[error("mark {label:?} not found in the log")]
    MarkNotFound { label: String },
    /// A state id that does not parse.
    #[error("bad state id {0:?} (expected p<pos>, r<pos>.<subset> or t<pos>.<subset>.<tear>)")]
    BadStateId(String),
    /// A state id that parses but names no state of this log and options.
    #[error("state {id} does not exist: {reason}")]
    NoSuchState { id: String, reason: String },
    /// The log cannot be expressed in dm-log-writes form.
    #[error("cannot export entry {index} to dm-log-writes: {reason}")]
    Export { index: u64, reason: String },
    /// A base image for [`crate::StateIter::over`] (or its relatives) whose
    /// size is not the log's device size.
    #[error("base image is {base_bytes} bytes but the log's device is {device_bytes} bytes")]
    BaseImageSize { base_bytes: u64, device_bytes: u64 },
    /// A value that does not parse as a mode.
    #[error("unknown mode {0:?} (expected prefix, reorder or torn)")]
    BadMode(String),
}

impl ReplayError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ReplayError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
