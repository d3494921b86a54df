//! `replay`: the block-level world of brownout. Knows nothing of files or
//! operations: a log of writes, flushes and marks; the crash states it
//! allows; incremental images of them; and parallel checking.
//!
//! - [`log`]: the log model ([`LogBuilder`], [`Log`], [`EntryRef`]).
//! - `model` (internal): durable / volatile / in-flight per position.
//! - [`native`]: brownout's own log file format (documented there).
//! - [`dm_log_writes`]: import and export of Linux dm-log-writes logs.
//! - [`crash_states`]: enumeration of crash states (prefix, reorder, torn).
//! - [`image`]: copy-on-write images.
//! - [`mod@check`]: deduplicated, parallel, deterministic checking.

pub mod check;
pub mod crash_states;
pub mod dm_log_writes;
pub mod error;
pub mod image;
pub mod log;
pub(crate) mod model;
pub mod native;

pub use check::{check, check_over, CheckOptions, CheckReport, DistinctStates, StateFailure};
pub use crash_states::{
    find_state, image_of, image_of_over, requests_at, CrashState, EnumOptions, EnumeratedState,
    Mode, Persisted, RequestsAt, StateId, StateIter,
};
pub use error::ReplayError;
pub use image::Image;
pub use log::{EntryRef, Log, LogBuilder, Provenance, WriteFlags, SECTOR_SIZE};

/// Log file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Native,
    DmLogWrites,
}

/// Detects the format of a log file from its first bytes.
pub fn detect_format(first_bytes: &[u8]) -> Result<Format, ReplayError> {
    if first_bytes.starts_with(&native::MAGIC) {
        return Ok(Format::Native);
    }
    if first_bytes.len() >= 8 {
        let mut m = [0u8; 8];
        m.copy_from_slice(&first_bytes[..8]);
        if u64::from_le_bytes(m) == dm_log_writes::MAGIC {
            return Ok(Format::DmLogWrites);
        }
    }
    Err(ReplayError::UnknownFormat {
        found: first_bytes[..first_bytes.len().min(8)].to_vec(),
    })
}

/// Opens a log file of either format (detected by magic). `device_bytes`
/// overrides the device size (needed for dm-log-writes logs, which do not
/// record it; default: the highest sector written, rounded up to 4 KiB).
pub fn open_log(
    path: &std::path::Path,
    format: Option<Format>,
    device_bytes: Option<u64>,
) -> Result<Log, ReplayError> {
    open_log_with(path, format, device_bytes, false)
}

/// [`open_log`]; with `include_trailing`, a dm-log-writes log's
/// well-formed entries past its superblock's count are replayed too (see
/// [`log::Provenance::dm_trailing_entries`]).
pub fn open_log_with(
    path: &std::path::Path,
    format: Option<Format>,
    device_bytes: Option<u64>,
    include_trailing: bool,
) -> Result<Log, ReplayError> {
    let mmap = map_file(path)?;
    if mmap.is_empty() {
        return Err(ReplayError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "empty file, not a log"),
        ));
    }
    let format = match format {
        Some(f) => f,
        None => detect_format(&mmap[..mmap.len().min(8)])?,
    };
    let log = match format {
        Format::Native => native::parse(log::Arena::Mapped(mmap))?,
        Format::DmLogWrites => {
            dm_log_writes::parse(log::Arena::Mapped(mmap), device_bytes, include_trailing)?
        }
    };
    match device_bytes {
        Some(d) if d != log.device_bytes() => {
            let log = log.with_device_bytes(d);
            log.validate()?;
            Ok(log)
        }
        _ => Ok(log),
    }
}

/// Maps a file read-only. An empty file cannot be mapped on every platform,
/// so it is reported as a truncated log by the parsers instead.
pub(crate) fn map_file(path: &std::path::Path) -> Result<memmap2::Mmap, ReplayError> {
    let file = std::fs::File::open(path).map_err(|e| ReplayError::io(path, e))?;
    // Mapping a directory fails with a confusing "No such device".
    let meta = file.metadata().map_err(|e| ReplayError::io(path, e))?;
    if !meta.is_file() {
        return Err(ReplayError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                if meta.is_dir() {
                    "is a directory, not a log file"
                } else {
                    "is not a regular file"
                },
            ),
        ));
    }
    // SAFETY: the map is read-only; like every mmap-based reader we rely on
    // the file not being truncated while mapped (a log being replayed is not
    // being written). Parsers bounds-check every access against the length
    // seen at map time.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ReplayError::io(path, e))
}
