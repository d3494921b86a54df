//! brownout's native log file format.
//!
//! Little-endian throughout. A file is a header, `nr_entries` entries and a
//! trailer:
//!
//! ```text
//! header (64 bytes)
//!   0  magic         8 bytes  "BRNOUTLG"
//!   8  version       le32     1
//!  12  flags         le32     bit 0: entries are in dm-log-writes order
//!                             (imported from dm-log-writes); others zero
//!  16  device_bytes  le64     size of the recorded device
//!  24  nr_entries    le64
//!  32  dm_sectorsize le32     sector size of the source dm-log-writes log, or 0
//!  36  reserved      12 bytes zero
//!  48  checksum      16 bytes blake3(header[0..48]), first 16 bytes
//! entry (56-byte header, then label bytes, then data bytes; no padding)
//!   0  kind          u8       1 write, 2 flush, 3 discard, 4 complete, 5 mark
//!   1  flags         u8       bit 0 FUA, bit 1 PREFLUSH, bit 2 METADATA
//!                             (writes; discards may carry them as read from
//!                             dm-log-writes); zero for other kinds
//!   2  reserved      2 bytes  zero
//!   4  label_len     le32     marks: label length (UTF-8); else 0
//!   8  id            le64     request id (write/flush/discard/complete); marks 0
//!  16  sector        le64     first 512-byte sector (write/discard); else 0
//!  24  nr_sectors    le64     discard length in sectors; writes data_len/512
//!  32  data_len      le64     write data / mark payload length; else 0
//!  40  checksum      16 bytes blake3(entry[0..40] ‖ label ‖ data), first 16 bytes
//! trailer (32 bytes)
//!   0  magic         8 bytes  "BRNOUTND"
//!   8  nr_entries    le64     repeated
//!  16  checksum      16 bytes blake3(concatenated entry checksums), first 16
//! ```
//!
//! Reading maps the file (`memmap2`) and indexes entry offsets; data stays in
//! the map. Every length is checked against the bytes that remain before
//! anything is sliced or allocated.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use crate::error::ReplayError;
use crate::log::{Arena, Kind, Log, Provenance, RawEntry, WriteFlags};

/// File magic.
pub const MAGIC: [u8; 8] = *b"BRNOUTLG";
const TRAILER_MAGIC: [u8; 8] = *b"BRNOUTND";
/// Current (and only) version.
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 64;
const ENTRY_HEADER_LEN: usize = 56;
const TRAILER_LEN: usize = 32;
const FORMAT: &str = "native";

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn sum16(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// Parses a native log held in `arena`.
pub(crate) fn parse(arena: Arena) -> Result<Log, ReplayError> {
    let b = arena.bytes();
    let file_len = b.len() as u64;
    let truncated = |index: u64, offset: u64, needed: u64| ReplayError::Truncated {
        format: FORMAT,
        index,
        offset,
        needed,
        file_len,
    };
    if b.len() < 8 || b[..8] != MAGIC {
        let mut m = [0u8; 8];
        let n = b.len().min(8);
        m[..n].copy_from_slice(&b[..n]);
        return Err(ReplayError::BadMagic {
            format: FORMAT,
            found: u64::from_le_bytes(m),
        });
    }
    if b.len() < HEADER_LEN {
        return Err(truncated(0, 0, HEADER_LEN as u64));
    }
    let version = le32(b, 8);
    if version != VERSION {
        return Err(ReplayError::UnsupportedVersion {
            format: FORMAT,
            version: version.into(),
        });
    }
    if sum16(&[&b[..48]]) != b[48..64] {
        return Err(ReplayError::HeaderChecksum);
    }
    let flags = le32(b, 12);
    if flags & !1 != 0 || b[36..48].iter().any(|&x| x != 0) {
        return Err(ReplayError::BadEntry {
            format: FORMAT,
            index: 0,
            offset: 0,
            reason: format!("unknown header flags {flags:#x} or non-zero reserved bytes"),
        });
    }
    let device_bytes = le64(b, 16);
    let nr_entries = le64(b, 24);
    let provenance = Provenance {
        dm_order: flags & 1 != 0,
        dm_sectorsize: le32(b, 32),
        ..Provenance::default()
    };
    // Never trust nr_entries for an allocation: each entry takes at least
    // ENTRY_HEADER_LEN bytes of the file, and a huge (sparse) file must not
    // reserve an index for entries it may not hold: grow as entries parse.
    let cap = (b.len() / ENTRY_HEADER_LEN)
        .min(usize::try_from(nr_entries).unwrap_or(usize::MAX))
        .min(crate::log::MAX_PREALLOCATED_ENTRIES);
    let mut entries = Vec::with_capacity(cap);
    let mut sums = blake3::Hasher::new();
    let mut off = HEADER_LEN;
    for index in 0..nr_entries {
        let bad = |reason: String| ReplayError::BadEntry {
            format: FORMAT,
            index,
            offset: off as u64,
            reason,
        };
        if b.len() - off < ENTRY_HEADER_LEN {
            return Err(truncated(index, off as u64, ENTRY_HEADER_LEN as u64));
        }
        let h = &b[off..off + ENTRY_HEADER_LEN];
        let kind = Kind::from_u8(h[0]).ok_or_else(|| bad(format!("unknown kind {}", h[0])))?;
        let wflags =
            WriteFlags::from_bits(h[1]).ok_or_else(|| bad(format!("unknown flags {:#x}", h[1])))?;
        if h[2] != 0 || h[3] != 0 {
            return Err(bad("non-zero reserved bytes".into()));
        }
        let label_len = u64::from(le32(h, 4));
        let id = le64(h, 8);
        let sector = le64(h, 16);
        let nr_sectors = le64(h, 24);
        let data_len = le64(h, 32);
        let body = off + ENTRY_HEADER_LEN;
        let available = (b.len() - body) as u64;
        let declared = label_len.saturating_add(data_len);
        if declared > available {
            return Err(ReplayError::DataPastEnd {
                format: FORMAT,
                index,
                offset: off as u64,
                declared,
                available,
            });
        }
        // Within the file now, so these fit in usize.
        let (label_len, data_len) = (label_len as usize, data_len as usize);
        let shape_ok = match kind {
            Kind::Write => label_len == 0 && nr_sectors == (data_len / 512) as u64,
            Kind::Mark => h[1] == 0 && id == 0 && sector == 0 && nr_sectors == 0,
            Kind::Discard => label_len == 0 && data_len == 0,
            Kind::Flush | Kind::Complete => {
                h[1] == 0 && label_len == 0 && data_len == 0 && sector == 0 && nr_sectors == 0
            }
        };
        if !shape_ok {
            return Err(bad(format!("fields inconsistent with a {kind:?} entry")));
        }
        let payload = &b[body..body + label_len + data_len];
        if sum16(&[&h[..40], payload]) != h[40..56] {
            return Err(ReplayError::EntryChecksum {
                index,
                offset: off as u64,
            });
        }
        if kind == Kind::Mark && std::str::from_utf8(&payload[..label_len]).is_err() {
            return Err(bad("mark label is not UTF-8".into()));
        }
        sums.update(&h[40..56]);
        entries.push(RawEntry {
            kind,
            flags: wflags,
            id,
            sector,
            nr_sectors,
            off: body,
            label_len,
            data_len,
            file_off: off as u64,
        });
        off = body + label_len + data_len;
    }
    if b.len() - off < TRAILER_LEN {
        return Err(truncated(nr_entries, off as u64, TRAILER_LEN as u64));
    }
    let t = &b[off..off + TRAILER_LEN];
    let trailer_err = |reason| ReplayError::Trailer {
        offset: off as u64,
        reason,
    };
    if t[..8] != TRAILER_MAGIC {
        // More entries than the header declares, or garbage.
        return Err(ReplayError::NrEntriesMismatch {
            format: FORMAT,
            declared: nr_entries,
            offset: off as u64,
        });
    }
    if le64(t, 8) != nr_entries {
        return Err(trailer_err("entry count differs from the header"));
    }
    if t[16..32] != sums.finalize().as_bytes()[..16] {
        return Err(trailer_err("checksum over the entries does not match"));
    }
    if off + TRAILER_LEN != b.len() {
        return Err(trailer_err("bytes after the trailer"));
    }
    let log = Log {
        arena: Arc::new(arena),
        entries: entries.into(),
        device_bytes,
        provenance,
    };
    log.validate()?;
    Ok(log)
}

impl Log {
    /// Reads a native log file (memory-mapped).
    pub fn read_native(path: &Path) -> Result<Log, ReplayError> {
        parse(Arena::Mapped(crate::map_file(path)?))
    }

    /// Parses a native log from bytes.
    pub fn from_native_bytes(bytes: Vec<u8>) -> Result<Log, ReplayError> {
        parse(Arena::Owned(bytes))
    }

    /// Writes the log in native format to `w` (wrap files in a `BufWriter`,
    /// as [`Log::save_native`] does).
    pub fn write_native<W: Write>(&self, mut w: W) -> Result<(), ReplayError> {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&u32::from(self.provenance.dm_order).to_le_bytes());
        header[16..24].copy_from_slice(&self.device_bytes.to_le_bytes());
        header[24..32].copy_from_slice(&(self.entries.len() as u64).to_le_bytes());
        header[32..36].copy_from_slice(&self.provenance.dm_sectorsize.to_le_bytes());
        let sum = sum16(&[&header[..48]]);
        header[48..64].copy_from_slice(&sum);
        w.write_all(&header).map_err(ReplayError::Write)?;
        let bytes = self.arena.bytes();
        let mut sums = blake3::Hasher::new();
        for e in self.entries.iter() {
            let mut h = [0u8; ENTRY_HEADER_LEN];
            h[0] = e.kind as u8;
            h[1] = match e.kind {
                Kind::Write | Kind::Discard => e.flags.to_bits(),
                _ => 0,
            };
            h[4..8].copy_from_slice(&(e.label_len as u32).to_le_bytes());
            let (id, sector, nr) = match e.kind {
                Kind::Write => (e.id, e.sector, (e.data_len / 512) as u64),
                Kind::Discard => (e.id, e.sector, e.nr_sectors),
                Kind::Flush | Kind::Complete => (e.id, 0, 0),
                Kind::Mark => (0, 0, 0),
            };
            h[8..16].copy_from_slice(&id.to_le_bytes());
            h[16..24].copy_from_slice(&sector.to_le_bytes());
            h[24..32].copy_from_slice(&nr.to_le_bytes());
            let payload_len = match e.kind {
                Kind::Write | Kind::Mark => e.data_len,
                _ => 0,
            };
            h[32..40].copy_from_slice(&(payload_len as u64).to_le_bytes());
            let payload = match e.kind {
                Kind::Write => &bytes[e.off..e.off + e.data_len],
                Kind::Mark => &bytes[e.off..e.off + e.label_len + e.data_len],
                _ => &[][..],
            };
            let sum = sum16(&[&h[..40], payload]);
            h[40..56].copy_from_slice(&sum);
            sums.update(&sum);
            w.write_all(&h).map_err(ReplayError::Write)?;
            w.write_all(payload).map_err(ReplayError::Write)?;
        }
        let mut t = [0u8; TRAILER_LEN];
        t[..8].copy_from_slice(&TRAILER_MAGIC);
        t[8..16].copy_from_slice(&(self.entries.len() as u64).to_le_bytes());
        t[16..32].copy_from_slice(&sums.finalize().as_bytes()[..16]);
        w.write_all(&t).map_err(ReplayError::Write)?;
        w.flush().map_err(ReplayError::Write)
    }

    /// The length of the native encoding, without encoding it: what the
    /// log costs in memory or on disk.
    pub fn native_len(&self) -> u64 {
        let entries: u64 = self
            .entries
            .iter()
            .map(|e| {
                let payload = match e.kind {
                    Kind::Write => e.data_len,
                    Kind::Mark => e.label_len + e.data_len,
                    _ => 0,
                };
                (ENTRY_HEADER_LEN + payload) as u64
            })
            .sum();
        (HEADER_LEN + TRAILER_LEN) as u64 + entries
    }

    /// The native encoding of the log.
    pub fn to_native_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_native(&mut v);
        v
    }

    /// Writes the log to a native file.
    pub fn save_native(&self, path: &Path) -> Result<(), ReplayError> {
        let f = std::fs::File::create(path).map_err(|e| ReplayError::io(path, e))?;
        self.write_native(BufWriter::new(f)).map_err(|e| match e {
            ReplayError::Write(source) => ReplayError::io(path, source),
            e => e,
        })
    }

    /// Checks the log against the crash model's invariants (ids, completions,
    /// alignment, device bounds).
    pub fn validate(&self) -> Result<(), ReplayError> {
        crate::model::Model::new(self).map(|_| ())
    }
}

/// Rewrites the checksums of a native log in place (header, each entry,
/// trailer) as far as its structure can be followed, leaving every other
/// byte alone: a fuzzing aid, so that mutated logs get past the checksums
/// to the parser's semantic checks.
pub fn fix_checksums(b: &mut [u8]) {
    if b.len() < HEADER_LEN {
        return;
    }
    let s = sum16(&[&b[..48]]);
    b[48..HEADER_LEN].copy_from_slice(&s);
    let nr_entries = le64(b, 24);
    let mut sums = blake3::Hasher::new();
    let mut off = HEADER_LEN;
    let mut done = 0u64;
    while done < nr_entries && b.len() - off >= ENTRY_HEADER_LEN {
        let label = u64::from(le32(b, off + 4));
        let data = le64(b, off + 32);
        let body = off + ENTRY_HEADER_LEN;
        let payload = label.saturating_add(data);
        if payload > (b.len() - body) as u64 {
            return;
        }
        let end = body + payload as usize;
        let s = sum16(&[&b[off..off + 40], &b[body..end]]);
        b[off + 40..body].copy_from_slice(&s);
        sums.update(&s);
        off = end;
        done += 1;
    }
    if done == nr_entries && b.len() - off >= TRAILER_LEN {
        b[off + 16..off + 32].copy_from_slice(&sums.finalize().as_bytes()[..16]);
    }
}
