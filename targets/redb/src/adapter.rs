//! The redb adapter: a [`StorageBackend`] over brownout's recording
//! [`File`] device, and the `kv` vocabulary in redb's calls.
//!
//! This file is compiled by the main package (the current release) and,
//! through `#[path]`, by each pinned historical version under
//! `targets/redb-<version>/`; the `check-integrity-on-open` feature gates
//! the one API the older versions lack.
//!
//! How the vocabulary maps:
//! - a transaction is one `WriteTransaction`, begun at its first `put` or
//!   `remove`; `commit durable` commits it with `Durability::Immediate`,
//!   `commit nondurable` with `Durability::None` (an empty transaction
//!   still commits: a durable empty commit makes earlier non-durable ones
//!   durable, as redb documents);
//! - keys go to two tables by the parity of their last byte, so commits
//!   change several trees and the table tree;
//! - `reopen` drops the database (redb's clean shutdown) and opens the
//!   file again; `check-integrity` and `compact` abort the open
//!   transaction first (both need `&mut Database`).
//!
//! Power loss: redb's backend methods take `&self` and the database owns
//! the backend, so the file is shared behind a mutex with a power switch.
//! [`KvEngine::crash`] turns the power off (every later backend call fails
//! and changes nothing), then drops the database to free its memory.

use brownout::device::file::File;
use brownout::engine::kv::{Entries, KvEngine, KvError};
use brownout::target::{
    Contract, DeviceModel, FileUpdates, Limits, Setting, TargetInfo, Vocabulary,
};
use brownout::workload::Header;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, StorageBackend, TableDefinition,
    WriteTransaction,
};
use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The target's name.
pub const NAME: &str = "redb";
/// The two tables keys are spread over.
const TABLES: [TableDefinition<&[u8], &[u8]>; 2] =
    [TableDefinition::new("even"), TableDefinition::new("odd")];
/// Longest value: a few pages, so values overflow to their own pages and
/// the file grows.
pub const VALUE_LEN_MAX: u64 = 12 << 10;
/// The recording device: room for the file to grow well past its first
/// regions.
pub const DEVICE_BYTES: u64 = 8 << 20;
/// Cache size of the `small-cache` setting: small enough that redb evicts
/// and writes back dirty pages in the middle of a transaction.
const SMALL_CACHE: usize = 64 << 10;

/// The settings a workload may turn on (`settings:`).
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "two-phase-commit",
        summary: "every transaction commits in two phases (set_two_phase_commit)",
    },
    Setting {
        name: "quick-repair",
        summary: "every transaction saves the allocator state for a fast repair (set_quick_repair)",
    },
    Setting {
        name: "small-cache",
        summary: "a 64 KiB page cache, so dirty pages are written back mid-transaction",
    },
    #[cfg(feature = "check-integrity-on-open")]
    Setting {
        name: "check-integrity-on-open",
        summary: "every open verifies and repairs the whole file (set_check_integrity_on_open)",
    },
];

/// The engine: redb at the version this package links.
#[derive(Clone, Copy, Debug)]
pub struct Redb {
    /// The version string `brownout targets` shows.
    pub version: &'static str,
}

/// Per-workload settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    two_phase_commit: bool,
    quick_repair: bool,
    small_cache: bool,
    #[cfg_attr(not(feature = "check-integrity-on-open"), allow(dead_code))]
    check_integrity_on_open: bool,
}

/// The file and its power switch, shared by the backend and the adapter.
struct Shared {
    /// `None` once [`KvEngine::crash`] or `close` took the file back.
    file: Mutex<Option<File>>,
    powered: AtomicBool,
    /// redb panicked in a call on this database (see [`PanicWatch`]).
    panicked: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("powered", &self.powered)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn file(&self) -> MutexGuard<'_, Option<File>> {
        // A panic while the lock was held is redb's finding already; the
        // file itself is consistent (each call is one device request).
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Notes a panic that leaves a call into redb: a database that panicked
/// may panic again when dropped, and must not be dropped mid-unwind
/// (that aborts the process) by [`KvEngine::crash`].
struct PanicWatch(Arc<Shared>);

impl Drop for PanicWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.panicked.store(true, Ordering::SeqCst);
        }
    }
}

/// redb's view of the recording file.
#[derive(Debug)]
struct Backend(Arc<Shared>);

fn power_lost() -> io::Error {
    io::Error::other("brownout: power lost")
}

impl Backend {
    /// Runs `f` on the file while the power is on.
    fn with<R>(
        &self,
        f: impl FnOnce(&mut File) -> Result<R, brownout::device::file::FileError>,
    ) -> io::Result<R> {
        if !self.0.powered.load(Ordering::SeqCst) {
            return Err(power_lost());
        }
        let mut guard = self.0.file();
        let file = guard.as_mut().ok_or_else(power_lost)?;
        f(file).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

impl StorageBackend for Backend {
    fn len(&self) -> io::Result<u64> {
        self.with(|f| Ok(f.len()))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.with(|f| f.read(offset, out))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|f| f.set_len(len))
    }

    fn sync_data(&self) -> io::Result<()> {
        self.with(File::sync_data)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.with(|f| f.write(offset, data))
    }
}

/// An open redb database on the recording file.
pub struct RedbDb {
    config: Config,
    db: Option<Database>,
    txn: Option<WriteTransaction>,
    shared: Arc<Shared>,
}

/// The recording file under an open database.
pub struct FileGuard<'a>(MutexGuard<'a, Option<File>>);

impl Deref for FileGuard<'_> {
    type Target = File;
    fn deref(&self) -> &File {
        self.0
            .as_ref()
            .expect("the file is back only after close or crash")
    }
}

impl DerefMut for FileGuard<'_> {
    fn deref_mut(&mut self) -> &mut File {
        self.0
            .as_mut()
            .expect("the file is back only after close or crash")
    }
}

fn kv_error(what: &str, e: impl std::fmt::Display) -> KvError {
    KvError::new(format!("redb: {what}: {e}"))
}

fn table_of(key: &[u8]) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TABLES[usize::from(key.last().copied().unwrap_or(0) & 1)]
}

impl RedbDb {
    /// Watches the call that is about to go into redb.
    fn watch(&self) -> PanicWatch {
        PanicWatch(Arc::clone(&self.shared))
    }

    fn database(&mut self) -> &mut Database {
        self.db.as_mut().expect("open until close or crash")
    }

    /// The open write transaction, begun if there is none.
    fn txn(&mut self) -> Result<&mut WriteTransaction, KvError> {
        if self.txn.is_none() {
            let config = self.config;
            let mut txn = self
                .database()
                .begin_write()
                .map_err(|e| kv_error("begin_write", e))?;
            txn.set_two_phase_commit(config.two_phase_commit);
            txn.set_quick_repair(config.quick_repair);
            self.txn = Some(txn);
        }
        Ok(self.txn.as_mut().expect("just begun"))
    }

    fn abort(&mut self) -> Result<(), KvError> {
        match self.txn.take() {
            Some(txn) => txn.abort().map_err(|e| kv_error("abort", e)),
            None => Ok(()),
        }
    }

    /// Drops the database (and a transaction left open) and hands the
    /// file back.
    fn into_file(mut self) -> File {
        drop(self.txn.take());
        drop(self.db.take());
        self.shared
            .file()
            .take()
            .expect("the database held the only file")
    }
}

impl Redb {
    fn builder(config: &Config) -> redb::Builder {
        let mut b = redb::Builder::new();
        if config.small_cache {
            b.set_cache_size(SMALL_CACHE);
        }
        #[cfg(feature = "check-integrity-on-open")]
        b.set_check_integrity_on_open(config.check_integrity_on_open);
        b
    }
}

impl KvEngine for Redb {
    type Device = File;
    type Config = Config;
    type Db = RedbDb;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: NAME,
            version: self.version.to_string(),
            device: DeviceModel::File,
            vocabulary: Vocabulary::Kv,
            ops: brownout::workload::KV_OPS.to_vec(),
            contract: Contract {
                acknowledges: "commit() with Durability::Immediate returns: the transaction and \
                               every earlier commit are persistent; Durability::None commits \
                               are not durable until a later Immediate commit",
                atomicity: "a transaction is all or nothing",
                recovery_must_succeed: true,
                file_updates: FileUpdates::InPlace,
                names: brownout::target::Names::FileFsync,
                sizes: brownout::target::Sizes::Stepwise,
            },
            bugs: Vec::new(),
            settings: SETTINGS.to_vec(),
            limits: Limits {
                files_max: 0,
                file_size_max: 0,
                keys_max: brownout::workload::kv::MAX_KEYS,
                value_len_max: VALUE_LEN_MAX,
                device_bytes: DEVICE_BYTES,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: true,
                put_overwrites: true,
            },
        }
    }

    fn configure(&self, header: &Header) -> Config {
        let on = |name| header.settings.contains(name);
        Config {
            two_phase_commit: on("two-phase-commit"),
            quick_repair: on("quick-repair"),
            small_cache: on("small-cache"),
            check_integrity_on_open: on("check-integrity-on-open"),
        }
    }

    fn open(&self, config: &Config, mut file: File) -> Result<RedbDb, KvError> {
        // redb assumes only that single bytes are written atomically
        // (docs/design.md, "Assumptions about underlying media"): its
        // header may tear anywhere, and brownout holds it to that.
        file.set_byte_atomic(true);
        let shared = Arc::new(Shared {
            file: Mutex::new(Some(file)),
            powered: AtomicBool::new(true),
            panicked: AtomicBool::new(false),
        });
        let db = Self::builder(config)
            .create_with_backend(Backend(Arc::clone(&shared)))
            .map_err(|e| kv_error("open", e))?;
        Ok(RedbDb {
            config: *config,
            db: Some(db),
            txn: None,
            shared,
        })
    }

    fn close(&self, mut db: RedbDb) -> Result<File, KvError> {
        db.abort()?;
        Ok(db.into_file())
    }

    fn crash(&self, db: RedbDb) -> File {
        db.shared.powered.store(false, Ordering::SeqCst);
        // redb's shutdown now meets a dead device; whatever it makes of
        // that (an error, even a panic) happens after the power loss and
        // is no crash-consistency question. Dropping the database while
        // the thread unwinds makes redb skip its closing commit (it checks
        // `std::thread::panicking()`), work that could only fail here and
        // took a quarter of a fuzzing campaign's time.
        let shared = Arc::clone(&db.shared);
        if shared.panicked.load(Ordering::SeqCst) {
            // redb panicked on this database (a finding already). Its
            // drops then tend to panic too, and a panic inside a drop
            // that runs while the first one unwinds aborts the process,
            // so it is leaked instead: memory, once per such finding.
            std::mem::forget(db);
            return shared
                .file()
                .take()
                .expect("the database held the only file");
        }
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut db = db;
            // Locals drop in reverse: the transaction before the database.
            let _database = db.db.take();
            let _txn = db.txn.take();
            std::panic::resume_unwind(Box::new("brownout: power lost"));
        }));
        debug_assert!(unwound.is_err());
        let file = shared.file().take();
        file.expect("the database held the only file")
    }

    fn device_mut<'a>(&self, db: &'a mut RedbDb) -> impl DerefMut<Target = File> + 'a {
        FileGuard(db.shared.file())
    }

    fn put(&self, db: &mut RedbDb, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let _watch = db.watch();
        let txn = db.txn()?;
        let mut table = txn
            .open_table(table_of(key))
            .map_err(|e| kv_error("open_table", e))?;
        table
            .insert(key, value)
            .map_err(|e| kv_error("insert", e))?;
        Ok(())
    }

    fn remove(&self, db: &mut RedbDb, key: &[u8]) -> Result<(), KvError> {
        let _watch = db.watch();
        let txn = db.txn()?;
        let mut table = txn
            .open_table(table_of(key))
            .map_err(|e| kv_error("open_table", e))?;
        table.remove(key).map_err(|e| kv_error("remove", e))?;
        Ok(())
    }

    fn commit(&self, db: &mut RedbDb, durable: bool) -> Result<(), KvError> {
        let _watch = db.watch();
        db.txn()?;
        let mut txn = db.txn.take().expect("just begun");
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability)
            .map_err(|e| kv_error("set_durability", e))?;
        txn.commit().map_err(|e| kv_error("commit", e))
    }

    fn abort(&self, db: &mut RedbDb) -> Result<(), KvError> {
        let _watch = db.watch();
        db.abort()
    }

    fn check_integrity(&self, db: &mut RedbDb) -> Result<(), KvError> {
        let _watch = db.watch();
        db.abort()?;
        match db.database().check_integrity() {
            // A documented refusal (redb keeps a transaction alive, e.g.
            // for a non-durable commit): nothing was checked or written.
            Ok(_) | Err(redb::DatabaseError::TransactionInProgress) => Ok(()),
            Err(e) => Err(kv_error("check_integrity", e)),
        }
    }

    fn compact(&self, db: &mut RedbDb) -> Result<(), KvError> {
        let _watch = db.watch();
        db.abort()?;
        match db.database().compact() {
            // Documented refusals, decided before anything is written.
            Ok(_)
            | Err(redb::CompactionError::TransactionInProgress)
            | Err(redb::CompactionError::PersistentSavepointExists)
            | Err(redb::CompactionError::EphemeralSavepointExists) => Ok(()),
            Err(e) => Err(kv_error("compact", e)),
        }
    }

    fn unwind(&self, db: &mut RedbDb) -> Result<(), KvError> {
        let _watch = db.watch();
        db.txn()?;
        let txn = db.txn.take().expect("just begun");
        // `resume_unwind` unwinds without calling the panic hook, so the
        // harness does not take this deliberate panic for redb's. redb
        // sees `std::thread::panicking()` while the transaction drops.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _live = txn;
            std::panic::resume_unwind(Box::new("brownout: the application panicked"));
        }));
        debug_assert!(unwound.is_err());
        Ok(())
    }

    fn get(&self, db: &mut RedbDb, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let _watch = db.watch();
        let read = |v: Option<redb::AccessGuard<&[u8]>>| v.map(|g| g.value().to_vec());
        if let Some(txn) = db.txn.as_mut() {
            let table = txn
                .open_table(table_of(key))
                .map_err(|e| kv_error("open_table", e))?;
            return table.get(key).map(read).map_err(|e| kv_error("get", e));
        }
        let rtx = db
            .database()
            .begin_read()
            .map_err(|e| kv_error("begin_read", e))?;
        match rtx.open_table(table_of(key)) {
            Ok(table) => table.get(key).map(read).map_err(|e| kv_error("get", e)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(kv_error("open_table", e)),
        }
    }

    fn scan(&self, db: &mut RedbDb) -> Result<Entries, KvError> {
        let _watch = db.watch();
        let rtx = db
            .database()
            .begin_read()
            .map_err(|e| kv_error("begin_read", e))?;
        let mut entries = Entries::new();
        for def in TABLES {
            let table = match rtx.open_table(def) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(kv_error("open_table", e)),
            };
            for item in table.iter().map_err(|e| kv_error("iter", e))? {
                let (k, v) = item.map_err(|e| kv_error("iter", e))?;
                entries.push((k.value().to_vec(), v.value().to_vec()));
            }
        }
        entries.sort();
        Ok(entries)
    }
}
