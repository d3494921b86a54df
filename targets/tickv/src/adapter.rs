//! The tickv adapter: its `FlashController` over brownout's recording
//! [`Flash`] device, and the `kv` vocabulary in its calls.
//!
//! How the vocabulary maps: tickv has no transactions and never
//! overwrites: `append_key` refuses a key that is present
//! (`KeyAlreadyExists`), so an update is `invalidate_key`, then
//! `append_key`, two operations. The target declares one change per
//! commit and no overwrites: the generator removes a key, in a commit of
//! its own, before it puts it again. A `commit durable` calls
//! `append_key` (a put) or `invalidate_key` (a remove; an absent key is a
//! no-op); an append tickv refuses because the key is present (a crash
//! left it so) is a documented refusal. `compact` is `garbage_collect`;
//! `reopen` and every open run `initialise`. Keys are hashed with FNV-1a
//! (tickv takes `u64` hashes); the scan after a crash reads each key the
//! workloads can name (tickv cannot list its keys).
//!
//! tickv borrows its read buffer for its lifetime, so the adapter makes a
//! `TicKV` for each call over the same flash and buffer: tickv keeps no
//! other state between calls (every call scans the flash).

use brownout::device::flash::{Flash, Geometry};
use brownout::engine::kv::{Entries, KvEngine, KvError};
use brownout::target::{Contract, DeviceModel, FileUpdates, Limits, TargetInfo, Vocabulary};
use brownout::workload::kv::key_bytes;
use brownout::workload::Header;
use std::cell::RefCell;
use std::ops::DerefMut;
use tickv::error_codes::ErrorCode;
use tickv::flash_controller::FlashController;
use tickv::TicKV;

/// The target's name.
pub const NAME: &str = "tickv";
/// tickv's region (its erase unit): small, so that a workload fills
/// regions and makes tickv garbage-collect.
const REGION: usize = 512;
const REGIONS: usize = 8;
/// The recording device: the whole chip is the store.
pub const DEVICE_BYTES: u64 = (REGION * REGIONS) as u64;
/// Longest value, and most keys.
pub const VALUE_LEN_MAX: u64 = 48;
const KEYS_MAX: u32 = 8;

/// The engine: tickv at the version this package links.
#[derive(Clone, Copy, Debug)]
pub struct Tickv {
    /// The version string `brownout targets` shows.
    pub version: &'static str,
}

/// The recording flash as tickv sees it (its calls take `&self`).
struct Chip<'a>(&'a RefCell<Flash>);

impl FlashController<REGION> for Chip<'_> {
    fn read_region(&self, region: usize, buf: &mut [u8; REGION]) -> Result<(), ErrorCode> {
        let at = (region * REGION) as u64;
        self.0
            .borrow()
            .read(at, buf)
            .map_err(|_| ErrorCode::ReadFail)
    }

    fn write(&self, address: usize, buf: &[u8]) -> Result<(), ErrorCode> {
        let mut flash = self.0.borrow_mut();
        flash
            .program(address as u64, buf)
            .map_err(|_| ErrorCode::WriteFail)
    }

    fn erase_region(&self, region: usize) -> Result<(), ErrorCode> {
        let at = (region * REGION) as u64;
        let mut flash = self.0.borrow_mut();
        flash
            .erase(at, at + REGION as u64)
            .map_err(|_| ErrorCode::EraseFail)
    }
}

/// An open store and the change waiting for its commit.
pub struct Db {
    flash: RefCell<Flash>,
    buf: Box<[u8; REGION]>,
    /// The put (`Some` value) or remove (`None`) the next commit makes.
    pending: Option<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Db {
    /// Runs `f` on a `TicKV` over this store's flash.
    fn with<R>(&mut self, f: impl FnOnce(&TicKV<'_, Chip<'_>, REGION>) -> R) -> R {
        let kv = TicKV::new(Chip(&self.flash), &mut self.buf, DEVICE_BYTES as usize);
        f(&kv)
    }
}

/// FNV-1a: tickv wants each key as a `u64` hash, and a fixed function
/// keeps runs deterministic.
fn hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn error(what: &'static str) -> impl FnOnce(ErrorCode) -> KvError {
    move |e| KvError::new(format!("{what}: {e:?}"))
}

impl KvEngine for Tickv {
    type Device = Flash;
    type Config = ();
    type Db = Db;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: NAME,
            version: self.version.to_string(),
            device: DeviceModel::Flash,
            vocabulary: Vocabulary::Kv,
            ops: vec!["put", "remove", "commit", "reopen", "get", "compact"],
            contract: Contract {
                acknowledges: "append_key or invalidate_key returns Ok: the change is committed \
                               to flash and survives a power loss",
                atomicity: "one append or invalidate: a failure to write or delete key K \
                            affects only K (old or new value, never another key's)",
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
                put_overwrites: false,
            },
        }
    }

    fn configure(&self, _header: &Header) -> Self::Config {}

    fn open(&self, _config: &(), mut flash: Flash) -> Result<Db, KvError> {
        flash.set_geometry(Geometry {
            page_bytes: REGION,
            word_bytes: 1,
        });
        let mut db = Db {
            flash: RefCell::new(flash),
            buf: Box::new([0; REGION]),
            pending: None,
        };
        db.with(|kv| kv.initialise(hash(tickv::MAIN_KEY)))
            .map_err(error("initialise"))?;
        Ok(db)
    }

    fn close(&self, db: Db) -> Result<Flash, KvError> {
        Ok(db.flash.into_inner())
    }

    fn crash(&self, db: Db) -> Flash {
        db.flash.into_inner()
    }

    fn device_mut<'a>(&self, db: &'a mut Db) -> impl DerefMut<Target = Flash> + 'a {
        db.flash.get_mut()
    }

    fn put(&self, db: &mut Db, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        db.pending = Some((key.to_vec(), Some(value.to_vec())));
        Ok(())
    }

    fn remove(&self, db: &mut Db, key: &[u8]) -> Result<(), KvError> {
        db.pending = Some((key.to_vec(), None));
        Ok(())
    }

    fn commit(&self, db: &mut Db, _durable: bool) -> Result<(), KvError> {
        match db.pending.take() {
            None => Ok(()),
            Some((k, Some(value))) => match db.with(|kv| kv.append_key(hash(&k), &value)) {
                Ok(_) => Ok(()),
                Err(ErrorCode::KeyAlreadyExists) => Err(KvError::refused(
                    "append_key: KeyAlreadyExists (tickv never overwrites)",
                )),
                Err(e) => Err(error("append_key")(e)),
            },
            Some((k, None)) => match db.with(|kv| kv.invalidate_key(hash(&k))) {
                Ok(_) | Err(ErrorCode::KeyNotFound) => Ok(()),
                Err(e) => Err(error("invalidate_key")(e)),
            },
        }
    }

    fn abort(&self, db: &mut Db) -> Result<(), KvError> {
        db.pending = None;
        Ok(())
    }

    fn compact(&self, db: &mut Db) -> Result<(), KvError> {
        db.pending = None;
        db.with(|kv| kv.garbage_collect())
            .map(|_| ())
            .map_err(error("garbage_collect"))
    }

    fn get(&self, db: &mut Db, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        if let Some((k, v)) = &db.pending {
            if k == key {
                return Ok(v.clone());
            }
        }
        let mut value = [0u8; VALUE_LEN_MAX as usize];
        match db.with(|kv| kv.get_key(hash(key), &mut value)) {
            Ok((_, len)) => Ok(Some(value[..len].to_vec())),
            Err(ErrorCode::KeyNotFound) => Ok(None),
            Err(e) => Err(error("get_key")(e)),
        }
    }

    fn scan(&self, db: &mut Db) -> Result<Entries, KvError> {
        let mut entries = Entries::new();
        for index in 0..KEYS_MAX {
            let k = key_bytes(index);
            if let Some(v) = self.get(db, &k)? {
                entries.push((k, v));
            }
        }
        Ok(entries)
    }
}
