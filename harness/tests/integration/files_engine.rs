//! The copy-on-write file-system executor and model on a known engine: a
//! shadow-paging file system over the `file` device that writes its whole
//! tree to the older of two slots and syncs (correct: no campaign may find
//! anything), and the same with one slot rewritten in place (a crash in
//! the middle of a commit loses the tree: every crash mode must find it).
//! Runs without littlefs (and without libclang).

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::device::file::File;
use brownout::engine::files::{FilesEngine, FilesError, Node, Tree};
use brownout::target::{Contract, DeviceModel, FileUpdates, Limits, TargetInfo, Vocabulary};
use brownout::workload::{CrashMode, Header};
use brownout::FilesTarget;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Once;

const SLOT_BYTES: u64 = 32 << 10;
const MAGIC: u32 = 0x5348_4457;

/// The test file system: `slots` 2 is shadow paging, 1 is in place.
struct Shadow {
    name: &'static str,
    slots: u64,
}

struct Fs {
    file: File,
    seq: u64,
    tree: BTreeMap<String, Node>,
    open: BTreeMap<String, Vec<u8>>,
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn encode(tree: &BTreeMap<String, Node>) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, node) in tree {
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        match node {
            Node::Dir => out.push(0),
            Node::File(data) => {
                out.push(1);
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(data);
            }
        }
    }
    out
}

fn decode(mut b: &[u8]) -> Option<BTreeMap<String, Node>> {
    let mut tree = BTreeMap::new();
    let take = |n: usize, b: &mut &[u8]| -> Option<Vec<u8>> {
        let (head, rest) = (b.get(..n)?, b.get(n..)?);
        *b = rest;
        Some(head.to_vec())
    };
    while !b.is_empty() {
        let n = u16::from_le_bytes(take(2, &mut b)?.try_into().ok()?) as usize;
        let path = String::from_utf8(take(n, &mut b)?).ok()?;
        let node = match take(1, &mut b)?[0] {
            0 => Node::Dir,
            _ => {
                let n = u32::from_le_bytes(take(4, &mut b)?.try_into().ok()?) as usize;
                Node::File(take(n, &mut b)?)
            }
        };
        tree.insert(path, node);
    }
    Some(tree)
}

impl Fs {
    /// Writes the tree (with `changed` applied) to the next slot and
    /// syncs: durable and all or nothing when it returns.
    fn commit(&mut self, changed: impl FnOnce(&mut BTreeMap<String, Node>)) {
        changed(&mut self.tree);
        self.seq += 1;
        let payload = encode(&self.tree);
        let mut rec = Vec::new();
        rec.extend_from_slice(&MAGIC.to_le_bytes());
        rec.extend_from_slice(&self.seq.to_le_bytes());
        rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(&checksum(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        assert!(rec.len() as u64 <= SLOT_BYTES, "the tree fits a slot");
        let slot = if self.file.capacity() >= 2 * SLOT_BYTES {
            self.seq % 2
        } else {
            0
        };
        self.file.write(slot * SLOT_BYTES, &rec).expect("in range");
        self.file.sync_data().expect("sync");
    }

    fn slot(&self, k: u64) -> Option<(u64, BTreeMap<String, Node>)> {
        let mut head = [0u8; 24];
        self.file.read(k * SLOT_BYTES, &mut head).ok()?;
        let magic = u32::from_le_bytes(head[..4].try_into().ok()?);
        let seq = u64::from_le_bytes(head[4..12].try_into().ok()?);
        let len = u32::from_le_bytes(head[12..16].try_into().ok()?) as usize;
        let sum = u64::from_le_bytes(head[16..24].try_into().ok()?);
        if magic != MAGIC || len as u64 > SLOT_BYTES {
            return None;
        }
        let mut payload = vec![0u8; len];
        self.file.read(k * SLOT_BYTES + 24, &mut payload).ok()?;
        (checksum(&payload) == sum).then_some(())?;
        Some((seq, decode(&payload)?))
    }

    fn file_data(&self, path: &str) -> Result<Vec<u8>, FilesError> {
        match (self.open.get(path), self.tree.get(path)) {
            (Some(data), _) | (None, Some(Node::File(data))) => Ok(data.clone()),
            _ => Err(FilesError::NotFound),
        }
    }

    fn parent_exists(&self, path: &str) -> bool {
        match path.rsplit_once('/') {
            Some(("", _)) | None => true,
            Some((dir, _)) => self.tree.get(dir) == Some(&Node::Dir),
        }
    }

    fn handle(&mut self, path: &str) -> Result<&mut Vec<u8>, FilesError> {
        let data = self.file_data(path)?;
        Ok(self.open.entry(path.to_string()).or_insert(data))
    }
}

impl FilesEngine for Shadow {
    type Device = File;
    type Config = ();
    type Fs = Fs;

    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: self.name,
            version: "0".into(),
            device: DeviceModel::File,
            vocabulary: Vocabulary::Fs,
            ops: vec![
                "create", "write", "read", "fsync", "truncate", "remount", "close", "rename",
                "unlink", "mkdir",
            ],
            contract: Contract {
                acknowledges: "sync, close, create, rename, unlink and mkdir return",
                atomicity: "every commit",
                recovery_must_succeed: true,
                file_updates: FileUpdates::CopyOnWrite,
                names: brownout::target::Names::FileFsync,
                sizes: brownout::target::Sizes::Stepwise,
            },
            bugs: Vec::new(),
            settings: Vec::new(),
            limits: Limits {
                files_max: 8,
                file_size_max: 2048,
                keys_max: 0,
                value_len_max: 0,
                device_bytes: (self.slots * SLOT_BYTES) + 4096,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: false,
                put_overwrites: true,
            },
        }
    }

    fn configure(&self, _: &Header) {}

    fn format(&self, _: &(), file: File) -> Result<Fs, FilesError> {
        let mut fs = Fs {
            file,
            seq: 0,
            tree: BTreeMap::new(),
            open: BTreeMap::new(),
        };
        fs.commit(|_| {});
        Ok(fs)
    }

    fn mount(&self, _: &(), file: File) -> Result<Fs, FilesError> {
        let mut fs = Fs {
            file,
            seq: 0,
            tree: BTreeMap::new(),
            open: BTreeMap::new(),
        };
        let newest = (0..self.slots)
            .filter_map(|k| fs.slot(k))
            .max_by_key(|s| s.0);
        let (seq, tree) = newest.ok_or(FilesError::Other("no valid slot".into()))?;
        (fs.seq, fs.tree) = (seq, tree);
        Ok(fs)
    }

    fn unmount(&self, fs: Fs) -> Result<File, FilesError> {
        Ok(fs.file)
    }

    fn crash(&self, fs: Fs) -> File {
        fs.file
    }

    fn device_mut<'a>(&self, fs: &'a mut Fs) -> &'a mut File {
        &mut fs.file
    }

    fn create(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        if fs.file_data(path).is_err() {
            if !fs.parent_exists(path) {
                return Err(FilesError::NotFound);
            }
            fs.commit(|t| {
                t.insert(path.to_string(), Node::File(Vec::new()));
            });
        }
        fs.handle(path).map(drop)
    }

    fn write(&self, fs: &mut Fs, path: &str, offset: u64, data: &[u8]) -> Result<(), FilesError> {
        let buf = fs.handle(path)?;
        let end = offset as usize + data.len();
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[offset as usize..end].copy_from_slice(data);
        Ok(())
    }

    fn truncate(&self, fs: &mut Fs, path: &str, size: u64) -> Result<(), FilesError> {
        fs.handle(path)?.resize(size as usize, 0);
        Ok(())
    }

    fn read(&self, fs: &mut Fs, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FilesError> {
        let buf = fs.handle(path)?;
        let from = (offset as usize).min(buf.len());
        let to = (offset.saturating_add(len) as usize).min(buf.len());
        Ok(buf[from..to].to_vec())
    }

    fn sync(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        let data = fs.handle(path)?.clone();
        fs.commit(|t| {
            t.insert(path.to_string(), Node::File(data));
        });
        Ok(())
    }

    fn close(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        if let Some(data) = fs.open.remove(path) {
            fs.commit(|t| {
                t.insert(path.to_string(), Node::File(data));
            });
        }
        Ok(())
    }

    fn rename(&self, fs: &mut Fs, from: &str, to: &str) -> Result<(), FilesError> {
        if !matches!(fs.tree.get(from), Some(Node::File(_))) || !fs.parent_exists(to) {
            return Err(FilesError::NotFound);
        }
        fs.commit(|t| {
            let node = t.remove(from).expect("checked");
            t.insert(to.to_string(), node);
        });
        Ok(())
    }

    fn remove(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        if !matches!(fs.tree.get(path), Some(Node::File(_))) {
            return Err(FilesError::NotFound);
        }
        fs.commit(|t| {
            t.remove(path);
        });
        Ok(())
    }

    fn mkdir(&self, fs: &mut Fs, path: &str) -> Result<(), FilesError> {
        if fs.tree.contains_key(path) {
            return Err(FilesError::Exists);
        }
        fs.commit(|t| {
            t.insert(path.to_string(), Node::Dir);
        });
        Ok(())
    }

    fn tree(&self, fs: &mut Fs) -> Result<Tree, FilesError> {
        Ok(fs.tree.clone().into_iter().collect())
    }
}

const SHADOW: &str = "test-shadow-paging";
const IN_PLACE: &str = "test-one-slot-in-place";

fn campaign(target: &str, mode: CrashMode, seed: u64, execs: u64) -> Summary {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, slots) in [(SHADOW, 2), (IN_PLACE, 1)] {
            brownout::register(Box::leak(Box::new(FilesTarget::new(Shadow {
                name,
                slots,
            }))));
        }
    });
    let mut opts = FuzzOptions::new(target);
    opts.seed = seed;
    opts.execs = Some(execs);
    opts.oracle.seed = seed;
    opts.config.mode = mode;
    opts.oracle.passes = Vec::new();
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}

#[test]
fn shadow_paging_is_clean_in_every_mode() {
    for (k, mode) in CrashMode::ALL.into_iter().enumerate() {
        let s = campaign(SHADOW, mode, 1 + k as u64, 400);
        assert_eq!(s.error, None);
        assert!(s.crash_states > 0);
        if let Some(case) = s.found.first() {
            panic!("{mode}: {}\n{}", case.finding, case.workload.to_text());
        }
    }
}

#[test]
fn rewriting_the_one_slot_in_place_is_found_in_every_mode_that_tears_or_reorders() {
    for mode in [CrashMode::Reorder, CrashMode::Torn] {
        let s = campaign(IN_PLACE, mode, 1, 150);
        assert_eq!(s.error, None);
        let case = s
            .found
            .first()
            .unwrap_or_else(|| panic!("{mode}: not found"));
        assert!(
            case.finding.state.is_some() && case.finding.rule.number() <= 5,
            "{mode}: {}",
            case.finding
        );
    }
}

/// `brownout show --state OUTER+` on a files target: the continuation after
/// crash state OUTER runs again, from the first operation the crash cut
/// off, with its clean remount appended, and its log starts with the
/// recovery of that state.
#[test]
fn a_continuation_runs_again_for_show() {
    campaign(SHADOW, CrashMode::Prefix, 1, 1); // registers the targets
    let target = brownout::campaign::registry::lookup(SHADOW).unwrap();
    let config = brownout::workload::FuzzConfig {
        target: SHADOW.to_string(),
        mode: CrashMode::Prefix,
        max_ops: 32,
        ..Default::default()
    };
    let w = (0..1000)
        .map(|i| brownout::workload::generate(3, i, &config, Some(target.info())))
        .find(|w| w.ops.len() >= 8)
        .expect("a workload of 8 operations or more");
    let exec = target.execute(&w, &Default::default());
    // The last prefix state before the workload's middle operation began.
    let middle = exec.times[w.ops.len() / 2].start;
    let mut oo = brownout::run::check::OracleOptions::default();
    let options = brownout::run::check::enum_options(&w, &oo);
    let outer = replay::check::DistinctStates::new(&exec.log, &options)
        .unwrap()
        .filter(|s| s.state.position <= middle)
        .last()
        .unwrap();
    oo.only_state = Some(format!("{}+", outer.state.id));
    let resumed = target
        .resume(&w, &Default::default(), &oo)
        .unwrap()
        .expect("the continuation runs");
    let next = exec
        .times
        .iter()
        .position(|t| t.start >= outer.state.position)
        .unwrap();
    assert_eq!(resumed.first_op, next);
    assert_eq!(
        resumed.workload.ops[..resumed.workload.ops.len() - 1],
        w.ops[next..]
    );
    assert_eq!(
        resumed.workload.ops.last(),
        Some(&brownout::workload::Op::Remount)
    );
    assert_eq!(resumed.exec.times.len(), resumed.workload.ops.len());
    assert!(resumed.exec.times[0].start > 0, "the recovery comes first");
}
