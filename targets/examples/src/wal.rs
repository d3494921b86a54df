//! `example-wal`: the store of [`crate::inplace`], fixed with an
//! append-only write-ahead log.
//!
//! The file is nothing but a log of commit records, one per transaction:
//!
//! ```text
//! magic: u32 LE | sequence: u64 LE | payload length: u32 LE
//! payload: (op: u8 [1 put, 0 remove], key length: u16 LE, key,
//!           value length: u32 LE [puts only], value)*
//! checksum: the first 16 bytes of blake3(header ‖ payload)
//! ```
//!
//! The database is the log replayed into a `BTreeMap`. How each crash
//! hazard of the `file` model is met:
//!
//! - **All or nothing.** A transaction is one record, and a record counts
//!   only when its checksum holds: a record torn at a sector, or whose
//!   pages reached the disk only in part, fails it, and replay stops there.
//! - **In order.** Replay stops at the first invalid record, so a later
//!   record that happened to reach the disk while an earlier one did not
//!   is never applied: what survives is always a prefix of the commits.
//! - **Nothing stale.** A record must carry the sequence number after the
//!   previous one, so bytes of an older life of the file (a record past
//!   the valid end that a crash left behind) cannot pass for the next
//!   commit.
//! - **A clean end.** When bytes follow the valid end (a torn or unsynced
//!   tail), open truncates the file to the valid end and syncs before it
//!   returns, so the next append never sits in front of leftovers that
//!   could parse. That truncation is recovery's own write: brownout
//!   crashes inside it too (`OracleOptions::recovery_crashes`), and a crash
//!   there leaves the same valid prefix.
//! - **Durability.** `commit(durable)` syncs after its append; the sync
//!   also makes every earlier non-durable commit durable.

use brownout::device::file::File;
use brownout::engine::kv::{Entries, KvEngine, KvError};
use brownout::target::{Contract, DeviceModel, FileUpdates, Limits, TargetInfo, Vocabulary};
use brownout::workload::Header;
use std::collections::BTreeMap;

/// The target's name.
pub const NAME: &str = "example-wal";
/// A commit record's magic.
pub const MAGIC: u32 = 0x6c61_7762; // "bwal"
/// Record header: magic, sequence, payload length.
const HEADER: usize = 4 + 8 + 4;
/// Checksum bytes after the payload.
const CHECKSUM: usize = 16;
/// Longest value.
pub const VALUE_LEN_MAX: u64 = 400;
const PUT: u8 = 1;
const REMOVE: u8 = 0;

/// The engine (stateless; the open database is [`WalDb`]).
#[derive(Clone, Copy, Debug)]
pub struct Wal {
    /// The name it registers under ([`NAME`] for the example).
    pub name: &'static str,
    /// A planted recovery bug for brownout's own tests: open keeps a torn
    /// tail and appends after it, so every later record sits behind
    /// garbage that the next recovery stops at. Only a crash after the
    /// recovered database committed again shows it (crash and continue).
    pub appends_after_torn_tail: bool,
}

impl Default for Wal {
    fn default() -> Self {
        Wal {
            name: NAME,
            appends_after_torn_tail: false,
        }
    }
}

/// An open `example-wal` database.
pub struct WalDb {
    file: File,
    /// The committed contents: the log replayed.
    committed: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The open transaction: key to new value (`None`: removed).
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Where the next record goes: the end of the valid log.
    end: u64,
    /// The sequence number of the last valid record (0: none).
    sequence: u64,
}

fn io(e: impl std::fmt::Display) -> KvError {
    KvError::new(format!("{NAME}: {e}"))
}

fn checksum(header: &[u8], payload: &[u8]) -> [u8; CHECKSUM] {
    let mut h = blake3::Hasher::new();
    h.update(header);
    h.update(payload);
    let mut out = [0u8; CHECKSUM];
    out.copy_from_slice(&h.finalize().as_bytes()[..CHECKSUM]);
    out
}

/// The record of transaction `changes` with sequence number `sequence`.
fn encode_record(sequence: u64, changes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Vec<u8> {
    let mut payload = Vec::new();
    for (key, value) in changes {
        payload.push(if value.is_some() { PUT } else { REMOVE });
        payload.extend_from_slice(&(key.len() as u16).to_le_bytes());
        payload.extend_from_slice(key);
        if let Some(v) = value {
            payload.extend_from_slice(&(v.len() as u32).to_le_bytes());
            payload.extend_from_slice(v);
        }
    }
    let mut record = Vec::with_capacity(HEADER + payload.len() + CHECKSUM);
    record.extend_from_slice(&MAGIC.to_le_bytes());
    record.extend_from_slice(&sequence.to_le_bytes());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&payload);
    let sum = checksum(&record[..HEADER], &payload);
    record.extend_from_slice(&sum);
    record
}

/// A little-endian integer of `N` bytes at `*at`, advancing it; `None`
/// past the end of `buf`.
fn take<const N: usize>(buf: &[u8], at: &mut usize) -> Option<[u8; N]> {
    let bytes = buf.get(*at..at.checked_add(N)?)?;
    *at += N;
    bytes.try_into().ok()
}

fn take_slice<'a>(buf: &'a [u8], at: &mut usize, len: usize) -> Option<&'a [u8]> {
    let bytes = buf.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(bytes)
}

/// A payload's changes; `None` if it is malformed.
type Changes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn decode_payload(payload: &[u8]) -> Option<Changes> {
    let mut changes = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let [op] = take::<1>(payload, &mut at)?;
        let key_len = u16::from_le_bytes(take(payload, &mut at)?) as usize;
        let key = take_slice(payload, &mut at, key_len)?.to_vec();
        let value = match op {
            PUT => {
                let len = u32::from_le_bytes(take(payload, &mut at)?) as usize;
                Some(take_slice(payload, &mut at, len)?.to_vec())
            }
            REMOVE => None,
            _ => return None,
        };
        changes.push((key, value));
    }
    Some(changes)
}

/// The record at `at` of `log` if it is valid and carries `sequence`:
/// its changes and its length.
fn decode_record(log: &[u8], at: usize, sequence: u64) -> Option<(Changes, usize)> {
    let rest = log.get(at..)?;
    let header = rest.get(..HEADER)?;
    let mut p = 0;
    let magic = u32::from_le_bytes(take(header, &mut p)?);
    let seq = u64::from_le_bytes(take(header, &mut p)?);
    let payload_len = u32::from_le_bytes(take(header, &mut p)?) as usize;
    if magic != MAGIC || seq != sequence {
        return None;
    }
    let total = HEADER.checked_add(payload_len)?.checked_add(CHECKSUM)?;
    let record = rest.get(..total)?;
    let payload = &record[HEADER..HEADER + payload_len];
    if record[HEADER + payload_len..] != checksum(header, payload) {
        return None;
    }
    Some((decode_payload(payload)?, total))
}

/// Replays `log`: the database, the end of the valid log and the last
/// sequence number.
fn replay(log: &[u8]) -> (BTreeMap<Vec<u8>, Vec<u8>>, usize, u64) {
    let mut db = BTreeMap::new();
    let (mut at, mut sequence) = (0usize, 0u64);
    while let Some((changes, len)) = decode_record(log, at, sequence + 1) {
        for (key, value) in changes {
            match value {
                Some(v) => db.insert(key, v),
                None => db.remove(&key),
            };
        }
        at += len;
        sequence += 1;
    }
    (db, at, sequence)
}

impl KvEngine for Wal {
    type Device = File;
    type Config = ();
    type Db = WalDb;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: self.name,
            version: env!("CARGO_PKG_VERSION").to_string(),
            device: DeviceModel::File,
            vocabulary: Vocabulary::Kv,
            ops: brownout::workload::KV_CORE_OPS.to_vec(),
            contract: Contract {
                acknowledges: "commit(durable) returns: the transaction and every earlier \
                               commit are durable",
                atomicity: "a commit is all or nothing",
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

    fn open(&self, _config: &(), mut file: File) -> Result<WalDb, KvError> {
        let mut log = vec![0u8; file.len() as usize];
        file.read(0, &mut log).map_err(io)?;
        let (committed, end, sequence) = replay(&log);
        let mut end = end as u64;
        if self.appends_after_torn_tail {
            end = file.len();
        } else if file.len() > end {
            // A torn or unsynced tail: cut it off, durably, before anything
            // is appended after the valid end.
            file.set_len(end).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        Ok(WalDb {
            file,
            committed,
            pending: BTreeMap::new(),
            end,
            sequence,
        })
    }

    fn close(&self, mut db: WalDb) -> Result<File, KvError> {
        db.file.sync_data().map_err(io)?;
        Ok(db.file)
    }

    fn crash(&self, db: WalDb) -> File {
        db.file
    }

    fn device_mut<'a>(&self, db: &'a mut WalDb) -> impl std::ops::DerefMut<Target = File> + 'a {
        &mut db.file
    }

    fn put(&self, db: &mut WalDb, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        if key.len() > usize::from(u16::MAX) || value.len() as u64 > VALUE_LEN_MAX {
            return Err(KvError::new(format!(
                "{NAME}: key of {} bytes or value of {} bytes over the limit",
                key.len(),
                value.len()
            )));
        }
        db.pending.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&self, db: &mut WalDb, key: &[u8]) -> Result<(), KvError> {
        if key.len() > usize::from(u16::MAX) {
            return Err(KvError::new(format!("{NAME}: key of {} bytes", key.len())));
        }
        db.pending.insert(key.to_vec(), None);
        Ok(())
    }

    fn commit(&self, db: &mut WalDb, durable: bool) -> Result<(), KvError> {
        if !db.pending.is_empty() {
            let record = encode_record(db.sequence + 1, &db.pending);
            let room = db.file.capacity().saturating_sub(db.end);
            if record.len() as u64 > room {
                return Err(KvError::new(format!(
                    "{NAME}: the log is full ({} bytes; a record of {} bytes does not fit)",
                    db.end,
                    record.len()
                )));
            }
            db.file.write(db.end, &record).map_err(io)?;
            db.end += record.len() as u64;
            db.sequence += 1;
            for (key, value) in std::mem::take(&mut db.pending) {
                match value {
                    Some(v) => db.committed.insert(key, v),
                    None => db.committed.remove(&key),
                };
            }
        }
        // Even an empty durable commit syncs: it makes every earlier
        // non-durable commit durable.
        if durable {
            db.file.sync_data().map_err(io)?;
        }
        Ok(())
    }

    fn abort(&self, db: &mut WalDb) -> Result<(), KvError> {
        db.pending.clear();
        Ok(())
    }

    fn get(&self, db: &mut WalDb, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(match db.pending.get(key) {
            Some(v) => v.clone(),
            None => db.committed.get(key).cloned(),
        })
    }

    fn scan(&self, db: &mut WalDb) -> Result<Entries, KvError> {
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

    fn changes(items: &[(&[u8], Option<&[u8]>)]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        items
            .iter()
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect()
    }

    #[test]
    fn records_replay_in_sequence() {
        let mut log = encode_record(
            1,
            &changes(&[(b"k0000", Some(b"a")), (b"k0001", Some(b"b"))]),
        );
        log.extend(encode_record(2, &changes(&[(b"k0000", None)])));
        let (db, end, seq) = replay(&log);
        assert_eq!((end, seq), (log.len(), 2));
        assert_eq!(
            db.into_iter().collect::<Vec<_>>(),
            vec![(b"k0001".to_vec(), b"b".to_vec())]
        );
    }

    #[test]
    fn replay_stops_at_a_torn_stale_or_out_of_order_record() {
        let one = encode_record(1, &changes(&[(b"k0000", Some(b"a"))]));
        let two = encode_record(2, &changes(&[(b"k0001", Some(b"b"))]));
        // Torn: the last byte of record 2 lost.
        let mut log = [one.clone(), two.clone()].concat();
        let n = log.len();
        log[n - 1] ^= 0xff;
        assert_eq!(replay(&log).1, one.len());
        // Stale: a record 1 where record 2 belongs.
        let log = [one.clone(), one.clone()].concat();
        assert_eq!(replay(&log).1, one.len());
        // Out of order: record 2 first.
        assert_eq!(replay(&[two.clone(), one.clone()].concat()).1, 0);
        // Cut short.
        assert_eq!(
            replay(&[one.clone(), two[..10].to_vec()].concat()).1,
            one.len()
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for len in 0..600 {
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let (_, end, _) = replay(&garbage);
            assert_eq!(end, 0);
            let mut header = garbage.clone();
            if header.len() >= HEADER {
                header[..4].copy_from_slice(&MAGIC.to_le_bytes());
                header[4..12].copy_from_slice(&1u64.to_le_bytes());
                assert_eq!(replay(&header).1, 0);
            }
        }
        assert_eq!(decode_payload(&[PUT, 0xff, 0xff]), None);
        assert_eq!(decode_payload(&[7, 0, 0]), None);
    }
}
