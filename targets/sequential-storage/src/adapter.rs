//! The sequential-storage adapter: its `NorFlash` over brownout's
//! recording [`Flash`] device, and the `kv` vocabulary in its map's calls.
//!
//! This file is compiled by the main package (the current release) and,
//! through `#[path]`, by the pinned 8.0.0 under
//! `targets/sequential-storage-8.0.0/`.
//!
//! How the vocabulary maps: sequential-storage's map has no transactions;
//! every `store_item` and `remove_item` is its own operation, complete
//! (and on flash, so durable) when it returns. The target therefore
//! declares one change per commit: a `put` or `remove` is held until the
//! `commit durable` that follows it, which calls `store_item` or
//! `remove_item`. `get` is `fetch_item`; `reopen` drops the map and makes
//! a new one over the same flash with an empty cache (a reboot). The
//! scan after a crash lists the keys the map holds (`fetch_all_items`)
//! and reads each with `fetch_item`, the call an application makes.
//!
//! The futures are driven to completion on the calling thread: the flash
//! never makes them wait, so one poll finishes each.

use brownout::device::flash::{Flash, FlashError, Geometry};
use brownout::engine::block_on;
use brownout::engine::kv::{Entries, KvEngine, KvError};
use brownout::target::{Contract, DeviceModel, FileUpdates, Limits, TargetInfo, Vocabulary};
use brownout::workload::Header;
use embedded_storage_async::nor_flash::{MultiwriteNorFlash, NorFlash, ReadNorFlash};
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage};

/// The target's name.
pub const NAME: &str = "sequential-storage";
/// The chip: small pages, so that a workload fills them, closes them and
/// makes the map migrate and erase (where its power-loss handling lives).
const PAGE_BYTES: usize = 512;
const WORD_BYTES: usize = 4;
const PAGES: usize = 4;
/// The recording device: the whole chip is the map's range.
pub const DEVICE_BYTES: u64 = (PAGE_BYTES * PAGES) as u64;
/// Longest value, and most keys: every live item together fits in one
/// page, well inside what the map can hold after it keeps a page free.
pub const VALUE_LEN_MAX: u64 = 32;
const KEYS_MAX: u32 = 8;
/// Room for a key and the longest value, rounded to words.
const BUFFER_BYTES: usize = 64;

/// The engine: sequential-storage at the version this package links.
#[derive(Clone, Copy, Debug)]
pub struct SequentialStorage {
    /// The version string `brownout targets` shows.
    pub version: &'static str,
}

/// The recording flash as sequential-storage sees it.
pub struct Chip(Flash);

/// A flash error: a request outside the chip or misaligned, which the
/// map never makes (it would be its bug).
#[derive(Debug)]
pub struct ChipError(FlashError);

impl embedded_storage::nor_flash::NorFlashError for ChipError {
    fn kind(&self) -> embedded_storage::nor_flash::NorFlashErrorKind {
        use embedded_storage::nor_flash::NorFlashErrorKind;
        match self.0 {
            FlashError::OutOfBounds { .. } => NorFlashErrorKind::OutOfBounds,
            FlashError::NotAligned { .. } => NorFlashErrorKind::NotAligned,
        }
    }
}

impl embedded_storage_async::nor_flash::ErrorType for Chip {
    type Error = ChipError;
}

impl ReadNorFlash for Chip {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), ChipError> {
        self.0.read(u64::from(offset), bytes).map_err(ChipError)
    }

    fn capacity(&self) -> usize {
        self.0.capacity() as usize
    }
}

impl NorFlash for Chip {
    const WRITE_SIZE: usize = WORD_BYTES;
    const ERASE_SIZE: usize = PAGE_BYTES;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), ChipError> {
        self.0
            .erase(u64::from(from), u64::from(to))
            .map_err(ChipError)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), ChipError> {
        self.0.program(u64::from(offset), bytes).map_err(ChipError)
    }
}

/// NOR flash lets a word be programmed again as long as bits only clear;
/// the device checks that (a set bit is a finding).
impl MultiwriteNorFlash for Chip {}

/// The map's keys: the workload's key bytes (`k0003`).
type Key = [u8; 5];
/// The map under test: uncached, as a reboot leaves it.
type Map = MapStorage<Key, Chip, Cache<Uncached, Uncached, Uncached, Key>>;

/// An open map and the change waiting for its commit.
pub struct Db {
    map: Map,
    /// The put (`Some` value) or remove (`None`) the next commit makes.
    pending: Option<(Key, Option<Vec<u8>>)>,
    buf: Vec<u8>,
}

fn key(bytes: &[u8]) -> Result<Key, KvError> {
    bytes.try_into().map_err(|_| {
        KvError::new(format!(
            "a key of {} bytes (the adapter's are 5)",
            bytes.len()
        ))
    })
}

fn error<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> KvError + '_ {
    move |e| KvError::new(format!("{what}: {e:?}"))
}

impl KvEngine for SequentialStorage {
    type Device = Flash;
    type Config = ();
    type Db = Db;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: NAME,
            version: self.version.to_string(),
            device: DeviceModel::Flash,
            vocabulary: Vocabulary::Kv,
            ops: vec!["put", "remove", "commit", "reopen", "get"],
            contract: Contract {
                acknowledges: "store_item or remove_item returns Ok: the change is durable",
                atomicity: "one store or remove: an interrupted one leaves the key's old or \
                            new value, never a third, never another key's",
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
                changes_per_commit_max: 1,
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
        let config = MapConfig::try_new(0..DEVICE_BYTES as u32).map_err(error("map config"))?;
        Ok(Db {
            map: MapStorage::new(Chip(flash), config, Cache::new_uncached()),
            pending: None,
            buf: vec![0; BUFFER_BYTES],
        })
    }

    fn close(&self, db: Db) -> Result<Flash, KvError> {
        Ok(db.map.destroy().0 .0)
    }

    fn crash(&self, db: Db) -> Flash {
        db.map.destroy().0 .0
    }

    fn device_mut<'a>(&self, db: &'a mut Db) -> impl std::ops::DerefMut<Target = Flash> + 'a {
        &mut db.map.flash().0
    }

    fn put(&self, db: &mut Db, k: &[u8], value: &[u8]) -> Result<(), KvError> {
        db.pending = Some((key(k)?, Some(value.to_vec())));
        Ok(())
    }

    fn remove(&self, db: &mut Db, k: &[u8]) -> Result<(), KvError> {
        db.pending = Some((key(k)?, None));
        Ok(())
    }

    fn commit(&self, db: &mut Db, _durable: bool) -> Result<(), KvError> {
        match db.pending.take() {
            None => Ok(()),
            Some((k, Some(value))) => block_on(db.map.store_item(&mut db.buf, &k, &&value[..]))
                .map_err(error("store_item")),
            Some((k, None)) => {
                block_on(db.map.remove_item(&mut db.buf, &k)).map_err(error("remove_item"))
            }
        }
    }

    fn abort(&self, db: &mut Db) -> Result<(), KvError> {
        db.pending = None;
        Ok(())
    }

    fn get(&self, db: &mut Db, k: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let k = key(k)?;
        if let Some((p, v)) = &db.pending {
            if *p == k {
                return Ok(v.clone());
            }
        }
        let got = block_on(db.map.fetch_item::<&[u8]>(&mut db.buf, &k));
        Ok(got.map_err(error("fetch_item"))?.map(<[u8]>::to_vec))
    }

    fn scan(&self, db: &mut Db) -> Result<Entries, KvError> {
        // Each key the workloads can name first, with `fetch_item`: the
        // read an application makes after a restart, and one that repairs
        // the map if a power loss left it damaged. Only then the listing
        // (for keys no put wrote): `fetch_all_items` does not repair a
        // page left half-erased by a power loss (FINDINGS.md, 1), and
        // would stop the check before it reaches the data.
        let mut entries = Entries::new();
        for index in 0..KEYS_MAX {
            let k = key(&brownout::workload::kv::key_bytes(index))?;
            let got = block_on(db.map.fetch_item::<&[u8]>(&mut db.buf, &k));
            if let Some(v) = got.map_err(error("fetch_item"))? {
                entries.push((k.to_vec(), v.to_vec()));
            }
        }
        let mut buf = vec![0u8; BUFFER_BYTES];
        let mut items =
            block_on(db.map.fetch_all_items(&mut buf)).map_err(error("fetch_all_items"))?;
        while let Some((k, _)) =
            block_on(items.next::<&[u8]>(&mut db.buf)).map_err(error("MapItemIter::next"))?
        {
            if brownout::workload::kv::key_index(&k).is_none_or(|i| i >= KEYS_MAX) {
                // A key no workload writes: the oracle names it.
                entries.push((k.to_vec(), Vec::new()));
            }
        }
        entries.sort();
        Ok(entries)
    }
}
