//! The `kv` vocabulary's adapter trait: a key-value engine over a
//! recording device (today the [`File`](crate::device::file::File) model;
//! the trait is generic over the device so a flash store fits the same
//! way).
//!
//! Required: every method. Each has one duty; the executor runs the
//! workload, the model says which database states a crash may leave
//! (one committed state between the last acknowledged durable commit and
//! the last commit issued), and the oracle compares the engine's
//! [`KvEngine::scan`] after recovery with them.
//!
//! Keys and values are bytes. A transaction is implicit: puts and removes
//! since the last commit or abort; `get` sees the open transaction's own
//! writes (read your writes).

use crate::device::Recorder;
use crate::target::TargetInfo;
use crate::workload::Header;

/// An engine's error, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KvError {
    message: String,
    refused: bool,
}

impl KvError {
    /// An error with `message`: the operation failed (a finding unless
    /// the workload expected it).
    pub fn new(message: impl Into<String>) -> Self {
        KvError {
            message: message.into(),
            refused: false,
        }
    }

    /// A documented refusal: the engine declined the operation, as its
    /// documentation says it may, and changed nothing (tickv's
    /// `KeyAlreadyExists` for an append to a present key). The executor
    /// goes on: a refused commit is an abort.
    pub fn refused(message: impl Into<String>) -> Self {
        KvError {
            message: message.into(),
            refused: true,
        }
    }

    /// Whether this is a documented refusal ([`KvError::refused`]).
    pub fn is_refusal(&self) -> bool {
        self.refused
    }
}

/// The committed contents of a database: key to value, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A key-value engine under test.
pub trait KvEngine: Send + Sync + 'static {
    /// The recording device it runs on.
    type Device: Recorder;
    /// Settings derived once per workload from its header (bug switches).
    type Config: Send + Sync;
    /// An open database; it owns its device.
    type Db;

    /// Name, version, device model, operations, contract.
    fn info(&self) -> TargetInfo;

    /// The per-workload settings.
    fn configure(&self, header: &Header) -> Self::Config;

    /// Opens the database on `device`, creating it when the device is
    /// empty and running recovery otherwise. After a crash it may repair;
    /// it must not panic.
    fn open(&self, config: &Self::Config, device: Self::Device) -> Result<Self::Db, KvError>;

    /// Clean close: the device handed back.
    fn close(&self, db: Self::Db) -> Result<Self::Device, KvError>;

    /// Power loss: the device as it is, nothing more written.
    fn crash(&self, db: Self::Db) -> Self::Device;

    /// The device under an open database (for log marks): a plain
    /// `&mut`, or a guard where the engine shares the device with its
    /// storage backend (redb's backend methods take `&self`).
    fn device_mut<'a>(
        &self,
        db: &'a mut Self::Db,
    ) -> impl std::ops::DerefMut<Target = Self::Device> + 'a;

    /// Puts `key` = `value` in the open transaction.
    fn put(&self, db: &mut Self::Db, key: &[u8], value: &[u8]) -> Result<(), KvError>;

    /// Removes `key` in the open transaction (absent keys included).
    fn remove(&self, db: &mut Self::Db, key: &[u8]) -> Result<(), KvError>;

    /// Commits the open transaction; `durable`: persistent when this
    /// returns (engines without non-durable commits treat every commit as
    /// durable).
    fn commit(&self, db: &mut Self::Db, durable: bool) -> Result<(), KvError>;

    /// Drops the open transaction.
    fn abort(&self, db: &mut Self::Db) -> Result<(), KvError>;

    /// The engine's integrity check and repair, between transactions
    /// (the open one is dropped first). Only for engines that declare
    /// `check-integrity`.
    fn check_integrity(&self, _db: &mut Self::Db) -> Result<(), KvError> {
        Err(KvError::new("check-integrity is not supported"))
    }

    /// The engine's compaction, between transactions (the open one is
    /// dropped first). Only for engines that declare `compact`.
    fn compact(&self, _db: &mut Self::Db) -> Result<(), KvError> {
        Err(KvError::new("compact is not supported"))
    }

    /// The application panics with the transaction open (one is begun
    /// if none is) and catches the panic: the engine's transaction is
    /// dropped while the thread unwinds. Raise the panic with
    /// [`std::panic::resume_unwind`] inside [`std::panic::catch_unwind`]
    /// so no panic hook reports it. Only for engines that declare
    /// `unwind`.
    fn unwind(&self, _db: &mut Self::Db) -> Result<(), KvError> {
        Err(KvError::new("unwind is not supported"))
    }

    /// The value of `key`, the open transaction's writes included.
    fn get(&self, db: &mut Self::Db, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;

    /// Every committed entry, in key order (no transaction open).
    fn scan(&self, db: &mut Self::Db) -> Result<Entries, KvError>;
}
