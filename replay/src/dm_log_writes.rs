//! Import and export of Linux dm-log-writes logs, byte-exact with the
//! kernel's `drivers/md/dm-log-writes.c` (and readable by xfstests'
//! `replay-log`).
//!
//! Layout (little-endian; `ss` = the log's sector size, the logical block
//! size of the logged device):
//!
//! - byte 0: the superblock `{le64 magic = 0x6a736677736872, le64 version = 1,
//!   le64 nr_entries, le32 sectorsize}`, zero-padded to `ss` bytes. It is
//!   not an entry: `nr_entries` counts the entries after it, and the first
//!   entry starts at byte `ss`.
//! - each entry: a 32-byte header `{le64 sector, le64 nr_sectors, le64 flags,
//!   le64 data_len}` zero-padded to `ss` bytes, then `nr_sectors * ss` data
//!   bytes. `sector` and `nr_sectors` count units of `ss`. A mark's text sits
//!   in the header sector right after the 32 header bytes (`data_len` bytes,
//!   at most `ss - 32`), and nothing follows; a discard has no data.
//! - flags: FLUSH 1, FUA 2, DISCARD 4, MARK 8, METADATA 16.
//!
//! The kernel logs a write only once it is known to be on the media as far
//! as the ordering rules go: a FUA write when it completes; other writes and
//! discards are held back when they complete, and logged just before the
//! next flush (or PREFLUSH write) that was *submitted after* they completed,
//! when that flush completes; marks are logged at once. So the native
//! sequence `W1,W2,W3,C3,C2,Wflush,C1,Cflush` exports as `W3,W2,flush,W1`
//! (writes never flushed are logged at the end, as the kernel does when the
//! target is torn down; the kernel's own closing "dm-log-writes-end" mark is
//! not added). Writes that never completed are not logged. Mark payloads
//! have no place in the format and are dropped; a mark's label must fit in
//! `ss - 32` bytes.
//!
//! Import gives each entry its own position: a write or discard is submitted
//! and completed there, so it is volatile until the next flush entry, which
//! makes everything logged before it durable. An imported log remembers that
//! it is already in logging order, so exporting it again reproduces the input
//! byte for byte (up to the end of its last entry: a log device is usually
//! larger than its log, and the zeros or stale bytes after the last entry
//! are not part of the log; padding is zeros, as the kernel writes it). Empty flushes carrying other flags or a non-zero sector are
//! imported as zero-length PREFLUSH writes so that nothing is lost.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use crate::error::ReplayError;
use crate::log::{Arena, Kind, Log, Provenance, RawEntry, WriteFlags, SECTOR_SIZE};

/// Superblock magic.
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// Supported version.
pub const VERSION: u64 = 1;
pub const FLAG_FLUSH: u64 = 1;
pub const FLAG_FUA: u64 = 2;
pub const FLAG_DISCARD: u64 = 4;
pub const FLAG_MARK: u64 = 8;
pub const FLAG_METADATA: u64 = 16;
const KNOWN_FLAGS: u64 = 31;
const ENTRY_HEADER_LEN: usize = 32;
const SUPER_LEN: usize = 28;
const FORMAT: &str = "dm-log-writes";

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Parses a dm-log-writes log held in `arena`. Without `device_bytes`, the
/// device ends at the highest sector written, rounded up to 4 KiB.
pub(crate) fn parse(arena: Arena, device_bytes: Option<u64>) -> Result<Log, ReplayError> {
    let b = arena.bytes();
    let file_len = b.len() as u64;
    let truncated = |index: u64, offset: u64, needed: u64| ReplayError::Truncated {
        format: FORMAT,
        index,
        offset,
        needed,
        file_len,
    };
    if b.len() < 8 || le64(b, 0) != MAGIC {
        let mut m = [0u8; 8];
        let n = b.len().min(8);
        m[..n].copy_from_slice(&b[..n]);
        return Err(ReplayError::BadMagic {
            format: FORMAT,
            found: u64::from_le_bytes(m),
        });
    }
    if b.len() < SUPER_LEN {
        return Err(truncated(0, 0, SUPER_LEN as u64));
    }
    let version = le64(b, 8);
    if version != VERSION {
        return Err(ReplayError::UnsupportedVersion {
            format: FORMAT,
            version,
        });
    }
    let nr_entries = le64(b, 16);
    let ss32 = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
    if !ss32.is_power_of_two() || !(512..=65536).contains(&ss32) {
        return Err(ReplayError::BadSectorSize { sectorsize: ss32 });
    }
    let ss = ss32 as usize;
    let ratio = (ss / SECTOR_SIZE) as u64;
    if b.len() < ss {
        return Err(truncated(0, 0, ss as u64));
    }
    // Each entry takes at least one sector of the file; a huge (sparse)
    // file must not reserve an index for entries it may not hold.
    let cap = (b.len() / ss)
        .min(usize::try_from(nr_entries).unwrap_or(usize::MAX))
        .min(crate::log::MAX_PREALLOCATED_ENTRIES);
    let mut entries = Vec::with_capacity(cap.saturating_mul(2));
    let mut next_id = 0u64;
    let mut max_end = 0u64;
    let mut off = ss;
    for index in 0..nr_entries {
        let bad = |reason: String| ReplayError::BadEntry {
            format: FORMAT,
            index,
            offset: off as u64,
            reason,
        };
        if b.len() - off < ss {
            return Err(truncated(index, off as u64, ss as u64));
        }
        let sector = le64(b, off);
        let nr = le64(b, off + 8);
        let flags = le64(b, off + 16);
        let data_len = le64(b, off + 24);
        if flags & !KNOWN_FLAGS != 0 {
            return Err(bad(format!("unknown flags {flags:#x}")));
        }
        // The kernel never logs an empty non-flush write, so an all-zero
        // header is where the log ends, not an entry: a header whose
        // nr_entries lies over zeros (a sparse or zeroed log device) stops
        // here instead of indexing every sector of the file.
        if sector == 0 && nr == 0 && flags == 0 && data_len == 0 {
            return Err(bad(format!(
                "empty entry header: the log ends before the {nr_entries} entries its superblock declares"
            )));
        }
        let to_512 = |v: u64| {
            v.checked_mul(ratio)
                .ok_or_else(|| bad(format!("sector value {v} overflows")))
        };
        let mut raw = RawEntry {
            kind: Kind::Mark,
            flags: WriteFlags {
                fua: flags & FLAG_FUA != 0,
                preflush: flags & FLAG_FLUSH != 0,
                metadata: flags & FLAG_METADATA != 0,
            },
            id: 0,
            sector: 0,
            nr_sectors: 0,
            off: off + ENTRY_HEADER_LEN,
            label_len: 0,
            data_len: 0,
            file_off: off as u64,
        };
        let mut next_off = off + ss;
        if flags & FLAG_MARK != 0 {
            if flags != FLAG_MARK || sector != 0 || nr != 0 {
                return Err(bad("a mark with other flags, a sector or data".into()));
            }
            if data_len > (ss - ENTRY_HEADER_LEN) as u64 {
                return Err(bad(format!(
                    "mark length {data_len} exceeds the {} bytes of its sector",
                    ss - ENTRY_HEADER_LEN
                )));
            }
            let label = &b[raw.off..raw.off + data_len as usize];
            if std::str::from_utf8(label).is_err() {
                return Err(bad("mark text is not UTF-8".into()));
            }
            raw.label_len = data_len as usize;
            entries.push(raw);
        } else {
            if data_len != 0 {
                return Err(bad(format!(
                    "data_len {data_len} on a non-mark entry (inline data is not supported)"
                )));
            }
            let sector512 = to_512(sector)?;
            let nr512 = to_512(nr)?;
            raw.id = next_id;
            next_id += 1;
            raw.sector = sector512;
            if flags & FLAG_DISCARD != 0 {
                raw.kind = Kind::Discard;
                raw.nr_sectors = nr512;
            } else {
                let declared = nr.saturating_mul(ss as u64);
                let available = (b.len() - off - ss) as u64;
                if declared > available {
                    return Err(ReplayError::DataPastEnd {
                        format: FORMAT,
                        index,
                        offset: off as u64,
                        declared,
                        available,
                    });
                }
                if flags == FLAG_FLUSH && nr == 0 && sector == 0 {
                    raw.kind = Kind::Flush;
                    raw.flags = WriteFlags::default();
                } else {
                    raw.kind = Kind::Write;
                    raw.off = off + ss;
                    raw.data_len = declared as usize;
                    next_off += declared as usize;
                }
            }
            if raw.kind != Kind::Flush {
                let end = sector512.checked_add(raw_len(&raw)).ok_or_else(|| {
                    bad(format!(
                        "sector range {sector512}+{} overflows",
                        raw_len(&raw)
                    ))
                })?;
                max_end = max_end.max(end);
            }
            let complete = RawEntry {
                kind: Kind::Complete,
                flags: WriteFlags::default(),
                nr_sectors: 0,
                sector: 0,
                label_len: 0,
                data_len: 0,
                ..raw
            };
            entries.push(raw);
            entries.push(complete);
        }
        off = next_off;
    }
    // More entries than declared? Check whether a plausible entry header
    // follows (a log device may hold stale bytes further on, so only a
    // well-formed header counts).
    if b.len() - off >= ss {
        let flags = le64(b, off + 16);
        let data_len = le64(b, off + 24);
        let plausible = b[off..off + ENTRY_HEADER_LEN].iter().any(|&x| x != 0)
            && flags & !KNOWN_FLAGS == 0
            && (flags & FLAG_MARK == 0 || data_len <= (ss - ENTRY_HEADER_LEN) as u64)
            && (flags & FLAG_MARK != 0 || data_len == 0);
        if plausible {
            return Err(ReplayError::NrEntriesMismatch {
                format: FORMAT,
                declared: nr_entries,
                offset: off as u64,
            });
        }
    }
    let device_bytes = device_bytes.unwrap_or_else(|| {
        let bytes = max_end.saturating_mul(SECTOR_SIZE as u64);
        bytes.div_ceil(4096).max(1).saturating_mul(4096)
    });
    let log = Log {
        arena: Arc::new(arena),
        entries: entries.into(),
        device_bytes,
        provenance: Provenance {
            dm_order: true,
            dm_sectorsize: ss32,
        },
    };
    log.validate()?;
    Ok(log)
}

fn raw_len(e: &RawEntry) -> u64 {
    match e.kind {
        Kind::Write => (e.data_len / SECTOR_SIZE) as u64,
        Kind::Discard => e.nr_sectors,
        _ => 0,
    }
}

/// Entry indexes of the submissions and marks in kernel logging order.
fn logging_order(log: &Log) -> Vec<usize> {
    if log.provenance.dm_order {
        return (0..log.len())
            .filter(|&i| log.raw(i).kind != Kind::Complete)
            .collect();
    }
    let mut out = Vec::with_capacity(log.len());
    // Completed, not yet logged writes and discards.
    let mut unflushed: Vec<usize> = Vec::new();
    // Per request id: its submission entry, and for flushes the writes
    // spliced onto it at submission.
    let mut submitted: BTreeMap<u64, (usize, Option<Vec<usize>>)> = BTreeMap::new();
    for i in 0..log.len() {
        let e = log.raw(i);
        match e.kind {
            Kind::Write | Kind::Flush | Kind::Discard => {
                let flushes = e.kind == Kind::Flush || (e.kind == Kind::Write && e.flags.preflush);
                let list = flushes.then(|| std::mem::take(&mut unflushed));
                submitted.insert(e.id, (i, list));
            }
            Kind::Complete => {
                let Some((s, list)) = submitted.remove(&e.id) else {
                    continue;
                };
                let se = log.raw(s);
                if let Some(list) = list {
                    out.extend(list);
                    out.push(s);
                } else if se.kind == Kind::Write && se.data_len == 0 {
                    // The kernel ignores empty non-flush writes.
                } else if se.kind == Kind::Write && se.flags.fua {
                    out.push(s);
                } else {
                    unflushed.push(s);
                }
            }
            Kind::Mark => out.push(i),
        }
    }
    out.extend(unflushed);
    out
}

/// Writes `log` in dm-log-writes format to `w`.
pub fn export<W: Write>(log: &Log, mut w: W) -> Result<(), ReplayError> {
    let ss = match log.provenance.dm_sectorsize {
        0 => SECTOR_SIZE,
        s => s as usize,
    };
    let ratio = (ss / SECTOR_SIZE) as u64;
    let order = logging_order(log);
    let mut sector_buf = vec![0u8; ss];
    sector_buf[..8].copy_from_slice(&MAGIC.to_le_bytes());
    sector_buf[8..16].copy_from_slice(&VERSION.to_le_bytes());
    sector_buf[16..24].copy_from_slice(&(order.len() as u64).to_le_bytes());
    sector_buf[24..28].copy_from_slice(&(ss as u32).to_le_bytes());
    w.write_all(&sector_buf).map_err(ReplayError::Write)?;
    for i in order {
        let e = log.raw(i);
        let err = |reason: String| ReplayError::Export {
            index: i as u64,
            reason,
        };
        let in_ss = |v: u64, what: &str| {
            if v.is_multiple_of(ratio) {
                Ok(v / ratio)
            } else {
                Err(err(format!(
                    "{what} {v} is not a multiple of {ss}-byte sectors"
                )))
            }
        };
        let flag_bits = |f: WriteFlags| {
            u64::from(f.preflush) * FLAG_FLUSH
                + u64::from(f.fua) * FLAG_FUA
                + u64::from(f.metadata) * FLAG_METADATA
        };
        let (sector, nr, flags, text): (u64, u64, u64, &[u8]) = match log.view(e) {
            crate::log::EntryRef::Write {
                sector,
                data,
                flags,
                ..
            } => (
                in_ss(sector, "sector")?,
                in_ss((data.len() / SECTOR_SIZE) as u64, "length")?,
                flag_bits(flags),
                &[],
            ),
            crate::log::EntryRef::Flush { .. } => (0, 0, FLAG_FLUSH, &[]),
            crate::log::EntryRef::Discard {
                sector, nr_sectors, ..
            } => (
                in_ss(sector, "sector")?,
                in_ss(nr_sectors, "length")?,
                FLAG_DISCARD | flag_bits(e.flags),
                &[],
            ),
            crate::log::EntryRef::Mark { label, .. } => {
                if label.len() > ss - ENTRY_HEADER_LEN {
                    return Err(err(format!(
                        "mark label of {} bytes does not fit in a {ss}-byte sector",
                        label.len()
                    )));
                }
                (0, 0, FLAG_MARK, label.as_bytes())
            }
            crate::log::EntryRef::Complete { .. } => continue,
        };
        sector_buf.fill(0);
        sector_buf[..8].copy_from_slice(&sector.to_le_bytes());
        sector_buf[8..16].copy_from_slice(&nr.to_le_bytes());
        sector_buf[16..24].copy_from_slice(&flags.to_le_bytes());
        sector_buf[24..32].copy_from_slice(&(text.len() as u64).to_le_bytes());
        sector_buf[32..32 + text.len()].copy_from_slice(text);
        w.write_all(&sector_buf).map_err(ReplayError::Write)?;
        w.write_all(log.data_of(e)).map_err(ReplayError::Write)?;
    }
    w.flush().map_err(ReplayError::Write)
}

impl Log {
    /// Reads a dm-log-writes log file (memory-mapped).
    pub fn read_dm_log_writes(path: &Path, device_bytes: Option<u64>) -> Result<Log, ReplayError> {
        parse(Arena::Mapped(crate::map_file(path)?), device_bytes)
    }

    /// Parses a dm-log-writes log from bytes.
    pub fn from_dm_log_writes_bytes(
        bytes: Vec<u8>,
        device_bytes: Option<u64>,
    ) -> Result<Log, ReplayError> {
        parse(Arena::Owned(bytes), device_bytes)
    }

    /// The dm-log-writes encoding of the log.
    pub fn to_dm_log_writes_bytes(&self) -> Result<Vec<u8>, ReplayError> {
        let mut v = Vec::new();
        export(self, &mut v)?;
        Ok(v)
    }

    /// Writes the log to a dm-log-writes file.
    pub fn save_dm_log_writes(&self, path: &Path) -> Result<(), ReplayError> {
        let f = std::fs::File::create(path).map_err(|e| ReplayError::io(path, e))?;
        export(self, BufWriter::new(f)).map_err(|e| match e {
            ReplayError::Write(source) => ReplayError::io(path, source),
            e => e,
        })
    }
}
