//! The ekv adapter: its `Flash` over brownout's recording [`Flash`]
//! device, and the `kv` vocabulary in its transactions.
//!
//! How the vocabulary maps: a transaction is one `WriteTransaction`; ekv
//! wants a transaction's keys written in ascending order, once each, so
//! puts and removes are held until `commit`, which opens the transaction,
//! writes them in key order (`write`, or `delete` for a remove) and
//! commits it. Every commit is durable when it returns (ekv has no other
//! kind). `get` reads the held change, else a read transaction; `reopen`
//! drops the database and mounts the flash again (a reboot); `abort`
//! drops the held changes. A fresh (blank) chip is formatted on open;
//! anything else is mounted, and a mount that fails is a finding: ekv
//! promises that powering off in the middle of writes never corrupts the
//! database.
//!
//! The futures are driven to completion on the calling thread: the flash
//! never makes them wait and no other task holds ekv's locks.

use brownout::device::flash::{Flash, FlashError, Geometry, ERASED};
use brownout::engine::block_on;
use brownout::engine::kv::{Entries, KvEngine, KvError};
use brownout::target::{Contract, DeviceModel, FileUpdates, Limits, TargetInfo, Vocabulary};
use brownout::workload::Header;
use ekv::flash::PageID;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

/// The target's name.
pub const NAME: &str = "ekv";
/// ekv's page (its `page-size-512` feature) and write alignment (`ALIGN`).
const PAGE_BYTES: usize = ekv::config::PAGE_SIZE;
const WORD_BYTES: usize = ekv::config::ALIGN;
/// Enough pages for ekv's scratch pages and a few files, few enough that
/// a workload makes it compact and reuse pages.
const PAGES: usize = 32;
/// The recording device: the whole chip is the database.
pub const DEVICE_BYTES: u64 = (PAGE_BYTES * PAGES) as u64;
/// Longest value, and most keys.
pub const VALUE_LEN_MAX: u64 = 48;
const KEYS_MAX: u32 = 8;

/// The engine: ekv at the version this package links.
#[derive(Clone, Copy, Debug)]
pub struct Ekv {
    /// The version string `brownout targets` shows.
    pub version: &'static str,
}

/// The recording flash, shared between ekv (which owns its `Flash` and
/// never gives it back) and the adapter (which takes it back at a crash).
type Shared = Arc<Mutex<Option<Flash>>>;

/// The recording flash as ekv sees it.
pub struct Chip(Shared);

impl Chip {
    fn flash(&self) -> MutexGuard<'_, Option<Flash>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn at(page: PageID, offset: usize) -> u64 {
    (page.index() * PAGE_BYTES + offset) as u64
}

impl ekv::flash::Flash for Chip {
    type Error = FlashError;

    fn page_count(&self) -> usize {
        PAGES
    }

    async fn erase(&mut self, page: PageID) -> Result<(), FlashError> {
        let mut f = self.flash();
        let f = f
            .as_mut()
            .expect("the flash is taken back only with the database");
        f.erase(at(page, 0), at(page, PAGE_BYTES))
    }

    async fn read(
        &mut self,
        page: PageID,
        offset: usize,
        data: &mut [u8],
    ) -> Result<(), FlashError> {
        let f = self.flash();
        let f = f
            .as_ref()
            .expect("the flash is taken back only with the database");
        f.read(at(page, offset), data)
    }

    async fn write(&mut self, page: PageID, offset: usize, data: &[u8]) -> Result<(), FlashError> {
        let mut f = self.flash();
        let f = f
            .as_mut()
            .expect("the flash is taken back only with the database");
        f.program(at(page, offset), data)
    }
}

/// An open database and the changes waiting for their commit.
pub struct Db {
    db: ekv::Database<Chip, NoopRawMutex>,
    flash: Shared,
    /// Key to `Some(value)` (put) or `None` (remove), in key order.
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// The recording flash under an open database.
pub struct FlashGuard<'a>(MutexGuard<'a, Option<Flash>>);

impl Deref for FlashGuard<'_> {
    type Target = Flash;
    fn deref(&self) -> &Flash {
        self.0
            .as_ref()
            .expect("the flash is taken back only with the database")
    }
}

impl DerefMut for FlashGuard<'_> {
    fn deref_mut(&mut self) -> &mut Flash {
        self.0
            .as_mut()
            .expect("the flash is taken back only with the database")
    }
}

fn error<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> KvError + '_ {
    move |e| KvError::new(format!("{what}: {e:?}"))
}

/// A seed for ekv's wear levelling that differs from boot to boot but not
/// from run to run: a hash of the chip's contents.
fn boot_seed(chip: &[u8]) -> u32 {
    chip.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl KvEngine for Ekv {
    type Device = Flash;
    type Config = ();
    type Db = Db;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: NAME,
            version: self.version.to_string(),
            device: DeviceModel::Flash,
            vocabulary: Vocabulary::Kv,
            ops: vec!["put", "remove", "commit", "abort", "reopen", "get"],
            contract: Contract {
                acknowledges: "WriteTransaction::commit returns Ok: the transaction is durable",
                atomicity: "a write transaction is all or nothing, even if power fails midway",
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
                keys_max: KEYS_MAX,
                value_len_max: VALUE_LEN_MAX,
                device_bytes: DEVICE_BYTES,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: false,
                put_overwrites: true,
            },
        }
    }

    fn configure(&self, _header: &Header) -> Self::Config {}

    fn open(&self, _config: &(), mut flash: Flash) -> Result<Db, KvError> {
        flash.set_geometry(Geometry {
            page_bytes: PAGE_BYTES,
            word_bytes: WORD_BYTES,
        });
        let mut all = vec![0u8; flash.capacity() as usize];
        flash.read(0, &mut all).map_err(error("read"))?;
        let blank = all.iter().all(|&b| b == ERASED);
        let config = {
            let mut c = ekv::Config::default();
            c.random_seed = boot_seed(&all);
            c
        };
        let shared: Shared = Arc::new(Mutex::new(Some(flash)));
        let db = ekv::Database::new(Chip(shared.clone()), config);
        if blank {
            block_on(db.format()).map_err(error("format"))?;
        } else {
            block_on(db.mount()).map_err(error("mount"))?;
        }
        Ok(Db {
            db,
            flash: shared,
            pending: BTreeMap::new(),
        })
    }

    fn close(&self, db: Db) -> Result<Flash, KvError> {
        Ok(self.crash(db))
    }

    fn crash(&self, db: Db) -> Flash {
        let Db { db, flash, .. } = db;
        drop(db);
        let f = flash.lock().unwrap_or_else(|e| e.into_inner()).take();
        f.expect("the flash is taken back once")
    }

    fn device_mut<'a>(&self, db: &'a mut Db) -> impl DerefMut<Target = Flash> + 'a {
        FlashGuard(db.flash.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn put(&self, db: &mut Db, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        db.pending.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&self, db: &mut Db, key: &[u8]) -> Result<(), KvError> {
        db.pending.insert(key.to_vec(), None);
        Ok(())
    }

    fn commit(&self, db: &mut Db, _durable: bool) -> Result<(), KvError> {
        let pending = std::mem::take(&mut db.pending);
        block_on(async {
            let mut tx = db.db.write_transaction().await;
            for (k, v) in &pending {
                match v {
                    Some(v) => tx.write(k, v).await.map_err(error("write"))?,
                    None => tx.delete(k).await.map_err(error("delete"))?,
                }
            }
            tx.commit().await.map_err(error("commit"))
        })
    }

    fn abort(&self, db: &mut Db) -> Result<(), KvError> {
        db.pending.clear();
        Ok(())
    }

    fn get(&self, db: &mut Db, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        if let Some(v) = db.pending.get(key) {
            return Ok(v.clone());
        }
        block_on(async {
            let tx = db.db.read_transaction().await;
            let mut buf = [0u8; VALUE_LEN_MAX as usize];
            match tx.read(key, &mut buf).await {
                Ok(n) => Ok(Some(buf[..n].to_vec())),
                Err(ekv::ReadError::KeyNotFound) => Ok(None),
                Err(e) => Err(error("read")(e)),
            }
        })
    }

    fn scan(&self, db: &mut Db) -> Result<Entries, KvError> {
        block_on(async {
            let tx = db.db.read_transaction().await;
            let mut cursor = tx.read_all().await.map_err(error("read_all"))?;
            let mut entries = Entries::new();
            let mut key = [0u8; ekv::config::MAX_KEY_SIZE];
            let mut value = [0u8; VALUE_LEN_MAX as usize];
            while let Some((k, v)) = cursor
                .next(&mut key, &mut value)
                .await
                .map_err(error("cursor"))?
            {
                entries.push((key[..k].to_vec(), value[..v].to_vec()));
            }
            Ok(entries)
        })
    }
}
