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
//! have no place in the format and are dropped; a mark's label is cut to
//! what the kernel writes, [`mark_label_max`] bytes (`ss - 33`).
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

/// The longest mark label the kernel writes into a log of `sectorsize`:
/// `log_mark` copies at most `maxsize - 1` bytes of the message, where
/// `maxsize = sectorsize - sizeof(struct log_write_entry)`
/// (`kstrndup(data, maxsize - 1)`): 479 for 512-byte sectors. Older
/// kernels copied one byte more, which import accepts.
pub fn mark_label_max(sectorsize: u32) -> usize {
    sectorsize as usize - ENTRY_HEADER_LEN - 1
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// One entry of the log, parsed: its native entries (a write, discard or
/// flush and its completion, or a mark), where the next entry begins, and
/// the end (in 512-byte sectors) of what it touches.
struct Parsed {
    raws: Vec<RawEntry>,
    next_off: usize,
    end: u64,
}

/// Parses entry `index` at byte `off` (a write taking request id `id`);
/// `None` for an all-zero header, where the log ends.
fn parse_entry(
    b: &[u8],
    ss: usize,
    off: usize,
    index: u64,
    id: u64,
) -> Result<Option<Parsed>, ReplayError> {
    let ratio = (ss / SECTOR_SIZE) as u64;
    let bad = |reason: String| ReplayError::BadEntry {
        format: FORMAT,
        index,
        offset: off as u64,
        reason,
    };
    if b.len() - off < ss {
        return Err(ReplayError::Truncated {
            format: FORMAT,
            index,
            offset: off as u64,
            needed: ss as u64,
            file_len: b.len() as u64,
        });
    }
    let sector = le64(b, off);
    let nr = le64(b, off + 8);
    let flags = le64(b, off + 16);
    let data_len = le64(b, off + 24);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(bad(format!("unknown flags {flags:#x}")));
    }
    // The kernel never logs an empty non-flush write, so an all-zero
    // header is where the log ends, not an entry.
    if sector == 0 && nr == 0 && flags == 0 && data_len == 0 {
        return Ok(None);
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
        return Ok(Some(Parsed {
            raws: vec![raw],
            next_off,
            end: 0,
        }));
    }
    if data_len != 0 {
        return Err(bad(format!(
            "data_len {data_len} on a non-mark entry (inline data is not supported)"
        )));
    }
    let sector512 = to_512(sector)?;
    let nr512 = to_512(nr)?;
    raw.id = id;
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
    let mut end = 0;
    if raw.kind != Kind::Flush {
        end = sector512.checked_add(raw_len(&raw)).ok_or_else(|| {
            bad(format!(
                "sector range {sector512}+{} overflows",
                raw_len(&raw)
            ))
        })?;
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
    Ok(Some(Parsed {
        raws: vec![raw, complete],
        next_off,
        end,
    }))
}

/// Parses a dm-log-writes log held in `arena`. Without `device_bytes`, the
/// device ends at the highest sector written, rounded up to 4 KiB.
///
/// The kernel rewrites the superblock's entry count only after a FUA or
/// mark entry, so the log of a device that was not removed cleanly holds
/// well-formed entries past the count. Like xfstests' `replay-log`, the
/// count is honoured; the well-formed entries after it are counted
/// ([`Provenance::dm_trailing_entries`]) and, with `include_trailing`,
/// replayed too. (Stale entries of an earlier log on the same device are
/// well-formed as well: that is why they are not replayed by default.)
pub(crate) fn parse(
    arena: Arena,
    device_bytes: Option<u64>,
    include_trailing: bool,
) -> Result<Log, ReplayError> {
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
        // An all-zero header inside the count: a header whose nr_entries
        // lies over zeros (a sparse or zeroed log device) stops here
        // instead of indexing every sector of the file.
        let Some(p) = parse_entry(b, ss, off, index, next_id)? else {
            return Err(ReplayError::BadEntry {
                format: FORMAT,
                index,
                offset: off as u64,
                reason: format!(
                    "empty entry header: the log ends before the {nr_entries} entries its superblock declares"
                ),
            });
        };
        next_id += u64::from(p.raws.len() == 2);
        max_end = max_end.max(p.end);
        entries.extend(p.raws);
        off = p.next_off;
    }
    // Well-formed entries past the count, up to the first that is not.
    let mut trailing = 0u64;
    while b.len() - off >= ss {
        match parse_entry(b, ss, off, nr_entries + trailing, next_id) {
            Ok(Some(p)) => {
                trailing += 1;
                if include_trailing {
                    next_id += u64::from(p.raws.len() == 2);
                    max_end = max_end.max(p.end);
                    entries.extend(p.raws);
                }
                off = p.next_off;
            }
            Ok(None) | Err(_) => break,
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
            dm_declared_entries: nr_entries,
            dm_trailing_entries: trailing,
            dm_trailing_included: include_trailing && trailing > 0,
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
                // An imported label came from a kernel and goes back as it
                // was (byte-exact round trips); brownout's own are cut the
                // way the kernel cuts what it is given.
                let limit = if log.provenance.dm_order {
                    ss - ENTRY_HEADER_LEN
                } else {
                    mark_label_max(ss as u32)
                };
                let mut end = label.len().min(limit);
                while !label.is_char_boundary(end) {
                    end -= 1;
                }
                (0, 0, FLAG_MARK, &label.as_bytes()[..end])
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
        parse(Arena::Mapped(crate::map_file(path)?), device_bytes, false)
    }

    /// Parses a dm-log-writes log from bytes (up to the superblock's entry
    /// count; see [`Provenance::dm_trailing_entries`]).
    pub fn from_dm_log_writes_bytes(
        bytes: Vec<u8>,
        device_bytes: Option<u64>,
    ) -> Result<Log, ReplayError> {
        parse(Arena::Owned(bytes), device_bytes, false)
    }

    /// Parses a dm-log-writes log from bytes, replaying the well-formed
    /// entries past the superblock's count too.
    pub fn from_dm_log_writes_bytes_with_trailing(
        bytes: Vec<u8>,
        device_bytes: Option<u64>,
    ) -> Result<Log, ReplayError> {
        parse(Arena::Owned(bytes), device_bytes, true)
    }

    /// For a log imported from dm-log-writes: the log position right after
    /// its first `n` dm entries (the crash state `replay-log --limit n`
    /// replays). `None` for other logs, or past the end.
    pub fn dm_entry_position(&self, n: u64) -> Option<usize> {
        if !self.provenance.dm_order {
            return None;
        }
        let mut seen = 0u64;
        for (i, e) in self.entries.iter().enumerate() {
            if e.kind != Kind::Complete {
                if seen == n {
                    return Some(i);
                }
                seen += 1;
            }
        }
        (seen == n).then_some(self.entries.len())
    }

    /// For a log imported from dm-log-writes: for each log position
    /// `0..=len()`, how many dm entries lie wholly before it (what
    /// `replay-log --limit` takes for the same state).
    pub fn dm_entries_before(&self) -> Option<Vec<u64>> {
        if !self.provenance.dm_order {
            return None;
        }
        let mut before = Vec::with_capacity(self.entries.len() + 1);
        let mut n = 0u64;
        before.push(0);
        for i in 0..self.entries.len() {
            let last_of_entry = self
                .entries
                .get(i + 1)
                .is_none_or(|next| next.kind != Kind::Complete);
            n += u64::from(last_of_entry);
            before.push(n);
        }
        Some(before)
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
