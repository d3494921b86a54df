//! `example-inplace`: a deliberately naive key-value store that overwrites
//! its records in place, with no log.
//!
//! The file is a 256-byte superblock followed by one fixed 512-byte slot
//! per key. Keys are a workload's keys, `k0000` to `k9999`: the number is
//! the slot. A slot is `[present: u8][key_len: u8][val_len: u16 LE][key]
//! [value]`, zero-padded. A transaction is buffered in memory; `commit`
//! writes each changed slot where it lies, then (durable) `sync_data`.
//!
//! What it gets wrong, and what brownout shows:
//!
//! - **A transaction is not atomic.** A commit that changes two keys makes
//!   two writes; a crash between them leaves the first key new and the
//!   second old, a database no commit ever produced (`prefix` mode finds
//!   it: "the database equals no committed state").
//! - **A record is not atomic either.** The superblock is 256 bytes, so
//!   every slot straddles a 512-byte sector boundary: a long value is
//!   written half in one sector and half in the next, and a torn write
//!   leaves half a new value over half an old one (`torn` mode: "foreign
//!   data").
//! - **Non-durable commits reach the disk in any order** (`reorder`), so
//!   even single-key commits can appear out of order after a crash.
//!
//! [`crate::wal`] is the same store fixed with a write-ahead log.

use brownout::device::file::File;
use brownout::engine::kv::{Entries, KvEngine, KvError};
use brownout::target::{Contract, DeviceModel, FileUpdates, Limits, TargetInfo, Vocabulary};
use brownout::workload::Header;
use std::collections::BTreeMap;

/// The target's name.
pub const NAME: &str = "example-inplace";
/// Size of one slot.
pub const SLOT: u64 = 512;
/// Size of the superblock before the first slot (not a multiple of the
/// sector: slots straddle sector boundaries).
pub const SUPERBLOCK: u64 = 256;
/// The superblock's magic.
const MAGIC: &[u8; 8] = b"brninpl1";
/// Slot header: present, key length, value length.
const SLOT_HEADER: usize = 4;
/// Longest value.
pub const VALUE_LEN_MAX: u64 = 400;
/// Longest key.
const KEY_LEN_MAX: usize = 32;

/// The engine (stateless; the open database is [`InPlaceDb`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct InPlace;

/// An open `example-inplace` database.
pub struct InPlaceDb {
    file: File,
    /// The committed contents, as read at open and written since.
    committed: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The open transaction: key to new value (`None`: removed).
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// The slot of `key`: the number of `k0000`-style keys.
fn slot_of(key: &[u8]) -> Result<u64, KvError> {
    let digits = key
        .strip_prefix(b"k")
        .filter(|d| !d.is_empty() && d.len() <= 4 && d.iter().all(u8::is_ascii_digit))
        .ok_or_else(|| {
            KvError::new(format!(
                "{NAME} only stores keys `k0000` to `k9999`, not {:?}",
                String::from_utf8_lossy(key)
            ))
        })?;
    Ok(digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn slot_offset(slot: u64) -> u64 {
    SUPERBLOCK + slot * SLOT
}

/// The bytes of a slot holding `key` = `value` (or an empty slot).
fn encode_slot(entry: Option<(&[u8], &[u8])>) -> Vec<u8> {
    let mut buf = vec![0u8; SLOT as usize];
    if let Some((key, value)) = entry {
        buf[0] = 1;
        buf[1] = key.len() as u8;
        buf[2..4].copy_from_slice(&(value.len() as u16).to_le_bytes());
        let k = SLOT_HEADER;
        buf[k..k + key.len()].copy_from_slice(key);
        let v = k + key.len();
        buf[v..v + value.len()].copy_from_slice(value);
    }
    buf
}

/// What a slot holds; anything out of range reads as absent.
fn decode_slot(buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let header = buf.get(..SLOT_HEADER)?;
    if header[0] != 1 {
        return None;
    }
    let key_len = usize::from(header[1]);
    let val_len = usize::from(u16::from_le_bytes([header[2], header[3]]));
    if key_len == 0 || key_len > KEY_LEN_MAX || val_len as u64 > VALUE_LEN_MAX {
        return None;
    }
    let key = buf.get(SLOT_HEADER..SLOT_HEADER + key_len)?;
    let value = buf.get(SLOT_HEADER + key_len..SLOT_HEADER + key_len + val_len)?;
    Some((key.to_vec(), value.to_vec()))
}

fn io(e: impl std::fmt::Display) -> KvError {
    KvError::new(format!("{NAME}: {e}"))
}

impl KvEngine for InPlace {
    type Device = File;
    type Config = ();
    type Db = InPlaceDb;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: NAME,
            version: env!("CARGO_PKG_VERSION").to_string(),
            device: DeviceModel::File,
            vocabulary: Vocabulary::Kv,
            ops: brownout::workload::KV_CORE_OPS.to_vec(),
            contract: Contract {
                acknowledges: "commit(durable) returns: the transaction is durable",
                atomicity: "claims a commit is all or nothing (it is not: records are \
                            overwritten in place)",
                recovery_must_succeed: true,
                file_updates: FileUpdates::InPlace,
                names: brownout::target::Names::FileFsync,
                sizes: brownout::target::Sizes::Stepwise,
            },
            bugs: Vec::new(),
            settings: Vec::new(),
            limits: Limits {
                files_max: 0,
                file_size_max: 0,
                keys_max: 16,
                value_len_max: VALUE_LEN_MAX,
                device_bytes: 256 << 10,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: true,
                put_overwrites: true,
            },
        }
    }

    fn configure(&self, _header: &Header) -> Self::Config {}

    fn open(&self, _config: &(), mut file: File) -> Result<InPlaceDb, KvError> {
        let mut committed = BTreeMap::new();
        if file.is_empty() {
            // Create: the superblock, durable before anything else.
            let mut sb = vec![0u8; SUPERBLOCK as usize];
            sb[..MAGIC.len()].copy_from_slice(MAGIC);
            file.write(0, &sb).map_err(io)?;
            file.sync_data().map_err(io)?;
        } else {
            let mut all = vec![0u8; file.len() as usize];
            file.read(0, &mut all).map_err(io)?;
            if all.get(..MAGIC.len()) != Some(&MAGIC[..]) {
                return Err(KvError::new(format!("not an {NAME} database (bad magic)")));
            }
            // Every whole or partial slot; garbage reads as absent.
            for chunk in all[SUPERBLOCK.min(all.len() as u64) as usize..].chunks(SLOT as usize) {
                if let Some((key, value)) = decode_slot(chunk) {
                    committed.insert(key, value);
                }
            }
        }
        Ok(InPlaceDb {
            file,
            committed,
            pending: BTreeMap::new(),
        })
    }

    fn close(&self, mut db: InPlaceDb) -> Result<File, KvError> {
        db.file.sync_data().map_err(io)?;
        Ok(db.file)
    }

    fn crash(&self, db: InPlaceDb) -> File {
        db.file
    }

    fn device_mut<'a>(&self, db: &'a mut InPlaceDb) -> impl std::ops::DerefMut<Target = File> + 'a {
        &mut db.file
    }

    fn put(&self, db: &mut InPlaceDb, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let slot = slot_of(key)?;
        if key.len() > KEY_LEN_MAX || value.len() as u64 > VALUE_LEN_MAX {
            return Err(KvError::new(format!(
                "{NAME}: value of {} bytes is over the limit of {VALUE_LEN_MAX}",
                value.len()
            )));
        }
        if slot_offset(slot + 1) > db.file.capacity() {
            return Err(KvError::new(format!(
                "{NAME}: no slot for key number {slot}"
            )));
        }
        db.pending.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&self, db: &mut InPlaceDb, key: &[u8]) -> Result<(), KvError> {
        slot_of(key)?;
        db.pending.insert(key.to_vec(), None);
        Ok(())
    }

    fn commit(&self, db: &mut InPlaceDb, durable: bool) -> Result<(), KvError> {
        // The naive part: each changed slot overwritten where it lies, one
        // write after another, nothing to say the set belongs together.
        for (key, value) in std::mem::take(&mut db.pending) {
            let slot = slot_of(&key)?;
            let bytes = encode_slot(value.as_deref().map(|v| (key.as_slice(), v)));
            let at = slot_offset(slot);
            if value.is_none() && at >= db.file.len() {
                // Removing a key whose slot was never written.
                db.committed.remove(&key);
                continue;
            }
            db.file.write(at, &bytes).map_err(io)?;
            match value {
                Some(v) => db.committed.insert(key, v),
                None => db.committed.remove(&key),
            };
        }
        if durable {
            db.file.sync_data().map_err(io)?;
        }
        Ok(())
    }

    fn abort(&self, db: &mut InPlaceDb) -> Result<(), KvError> {
        db.pending.clear();
        Ok(())
    }

    fn get(&self, db: &mut InPlaceDb, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(match db.pending.get(key) {
            Some(v) => v.clone(),
            None => db.committed.get(key).cloned(),
        })
    }

    fn scan(&self, db: &mut InPlaceDb) -> Result<Entries, KvError> {
        Ok(db
            .committed
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip_and_garbage_reads_as_absent() {
        let s = encode_slot(Some((b"k0003", b"value")));
        assert_eq!(
            decode_slot(&s),
            Some((b"k0003".to_vec(), b"value".to_vec()))
        );
        assert_eq!(decode_slot(&encode_slot(None)), None);
        assert_eq!(decode_slot(&s[..6]), None, "a slot cut short");
        let mut bad = s.clone();
        bad[2] = 0xff;
        bad[3] = 0xff;
        assert_eq!(decode_slot(&bad), None, "value length out of range");
        assert_eq!(decode_slot(&[0xff; 512]), None);
    }

    #[test]
    fn keys_name_their_slot() {
        assert_eq!(slot_of(b"k0003").unwrap(), 3);
        assert_eq!(slot_of(b"k0015").unwrap(), 15);
        assert!(slot_of(b"x").is_err());
        assert!(slot_of(b"k").is_err());
        assert!(slot_of(b"k00001").is_err());
    }
}
