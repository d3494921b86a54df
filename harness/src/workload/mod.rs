//! Workloads: what brownout runs against a filesystem.
//!
//! A workload is a header (target, bug switches, barrier contract, crash
//! mode, file count, the completion schedule, an optional expected rule)
//! and a list of operations over a few files. It comes from `arbitrary`
//! bytes (structure-aware fuzzing) or from a readable text file (the corpus
//! and the minimiser's output); both forms round-trip. The text format is
//! documented in `corpus/README.md`.
//!
//! Every byte a workload writes is derived from (file, offset, write id) by
//! [`pattern_byte`], so any byte read back names the write it came from.

pub mod bytes;
pub mod files;
pub mod kv;

use crate::finding::{Finding, Rule};
use crate::target::{FileUpdates, TargetInfo, Vocabulary};
use arbitrary::Unstructured;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::sync::Arc;

/// The direct-I/O alignment and the block of the generator's windows.
pub const BLOCK_SIZE: usize = 4096;
/// Largest number of files a workload may use (any target).
pub const MAX_FILES: u32 = 8;
/// Largest file offset or size a workload may name (any target; each
/// target declares its own limit at or below it).
pub const FILE_LIMIT: u64 = 1 << 30;
/// Largest single read or write, in bytes.
pub const MAX_IO: u64 = 64 * BLOCK_SIZE as u64;
/// Largest number of operations a workload may hold.
pub const MAX_OPS: usize = 512;
/// Largest number of schedule picks.
pub const MAX_SCHEDULE: usize = 512;

const BLOCK: u64 = BLOCK_SIZE as u64;

/// How crash states are enumerated for the oracle (see `replay`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CrashMode {
    /// Every prefix of the write log in completion order.
    #[default]
    Prefix,
    /// Every subset of the volatile writes at each point.
    Reorder,
    /// Reorder, plus one write persisted for only part of its sectors.
    Torn,
}

impl CrashMode {
    pub const ALL: [CrashMode; 3] = [CrashMode::Prefix, CrashMode::Reorder, CrashMode::Torn];
    pub fn name(self) -> &'static str {
        match self {
            CrashMode::Prefix => "prefix",
            CrashMode::Reorder => "reorder",
            CrashMode::Torn => "torn",
        }
    }
}

impl fmt::Display for CrashMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CrashMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CrashMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown crash mode `{s}` (expected prefix, reorder or torn)"))
    }
}

/// A file of the workload, by index (`f0`, `f1`, …).
pub type FileId = u32;

/// A key of a `kv` workload, by index (`k0`, `k1`, …).
pub type KeyId = u32;

/// A directory of an `fs` workload on a copy-on-write target (`d0`,
/// `d1`; see [`files`]).
pub type DirId = u32;

/// What `inode_dio_wait` promises (BUGS.md, "The barrier contract"): a
/// contract an `fs` target with direct I/O declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Barrier {
    /// Earlier DIO has finished its I/O and metadata update.
    Complete,
    /// Additionally, earlier O_DSYNC DIO is durable.
    #[default]
    Stable,
}

impl fmt::Display for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Barrier::Complete => "complete",
            Barrier::Stable => "stable",
        })
    }
}

impl FromStr for Barrier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "complete" => Ok(Barrier::Complete),
            "stable" => Ok(Barrier::Stable),
            _ => Err(format!(
                "unknown barrier `{s}` (expected complete or stable)"
            )),
        }
    }
}

/// Names a workload turns on (bug switches, settings): sorted, without
/// duplicates. Which names exist is the target's to say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Names(Vec<String>);

/// The bug switches a workload turns on (`bugs:`).
pub type Bugs = Names;
/// The target settings a workload turns on (`settings:`), such as redb's
/// two-phase commit.
pub type Settings = Names;

impl Names {
    /// No switch on.
    pub const fn none() -> Self {
        Names(Vec::new())
    }

    /// Just `name`.
    pub fn one(name: &str) -> Self {
        Bugs::none().with(name)
    }

    /// These switches and `name`.
    pub fn with(mut self, name: &str) -> Self {
        if let Err(at) = self.0.binary_search_by(|n| n.as_str().cmp(name)) {
            self.0.insert(at, name.to_string());
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.0.join(","))
    }
}

impl FromStr for Names {
    type Err = String;
    /// A comma- or space-separated list of names; `none` or nothing for
    /// no switch.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut bugs = Bugs::none();
        for name in s.split([',', ' ']).map(str::trim).filter(|n| !n.is_empty()) {
            if name != "none" {
                bugs = bugs.with(name);
            }
        }
        Ok(bugs)
    }
}

impl<'a> FromIterator<&'a str> for Names {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        iter.into_iter().fold(Bugs::none(), Bugs::with)
    }
}

impl Names {
    /// Checks every name against `target`'s settings.
    pub fn validate_settings(&self, target: &TargetInfo) -> Result<(), String> {
        match self.iter().find(|n| !target.has_setting(n)) {
            None => Ok(()),
            Some(n) => {
                let known: Vec<&str> = target.settings.iter().map(|s| s.name).collect();
                Err(format!(
                    "unknown setting `{n}` for target {} (known: {})",
                    target.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            }
        }
    }

    /// Checks every name against `target`'s switches.
    pub fn validate(&self, target: &TargetInfo) -> Result<(), String> {
        match self.iter().find(|n| !target.has_bug(n)) {
            None => Ok(()),
            Some(n) => Err(format!(
                "unknown bug switch `{n}` for target {} (known: {})",
                target.name,
                if target.bugs.is_empty() {
                    "none".to_string()
                } else {
                    target
                        .bugs
                        .iter()
                        .map(|b| b.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )),
        }
    }
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Create the file (a no-op if it exists).
    Create {
        file: FileId,
    },
    /// Buffered write through the page cache; O_DSYNC if `dsync`.
    Write {
        file: FileId,
        offset: u64,
        len: u64,
        dsync: bool,
    },
    /// Direct write: synchronous unless `aio`; O_DSYNC if `dsync`.
    /// `misaligned` says the workload expects the EINVAL of a misaligned
    /// request; otherwise offset and length must be block-aligned.
    DioWrite {
        file: FileId,
        offset: u64,
        len: u64,
        dsync: bool,
        aio: bool,
        misaligned: bool,
    },
    /// Read, checked against the model (rule 8).
    Read {
        file: FileId,
        offset: u64,
        len: u64,
    },
    Fsync {
        file: FileId,
    },
    Fdatasync {
        file: FileId,
    },
    Truncate {
        file: FileId,
        size: u64,
    },
    /// `inode_dio_wait` as an operation: the barrier.
    DioWait {
        file: FileId,
    },
    /// Start writeback of dirty pages (of one file or all), at most `pages`.
    Writeback {
        file: Option<FileId>,
        pages: Option<u32>,
    },
    Syncfs,
    /// fsync(2) of the directory that holds the files: their names (a
    /// create, an unlink, a rename) are durable when it returns, POSIX's
    /// way (not their data).
    DirFsync,
    /// Clean unmount and mount again.
    Remount,
    /// Complete the in-flight request number `pick` (modulo the number in
    /// flight, oldest first) and run the completion work it triggers.
    Complete {
        pick: u32,
    },
    /// `fallocate(2)`: allocate `offset..offset + len`, reading as zeros
    /// where nothing was written; the size grows to cover it unless
    /// `keep_size` (FALLOC_FL_KEEP_SIZE).
    Fallocate {
        file: FileId,
        offset: u64,
        len: u64,
        keep_size: bool,
    },
    /// `fallocate(2)` with FALLOC_FL_PUNCH_HOLE (and KEEP_SIZE): the range
    /// reads as zeros afterwards, the size is unchanged. The kernel waits
    /// for direct I/O first (`inode_dio_wait`).
    PunchHole {
        file: FileId,
        offset: u64,
        len: u64,
    },
    /// `fs`, copy-on-write targets: commit the file's changes and close
    /// its handle (`lfs_file_close`).
    Close {
        file: FileId,
    },
    /// `fs`, copy-on-write targets: rename a file, replacing `to`.
    Rename {
        from: FileId,
        to: FileId,
    },
    /// `fs`, copy-on-write targets: remove a file (`lfs_remove`).
    Unlink {
        file: FileId,
    },
    /// `fs`, copy-on-write targets: create directory `d{dir}`.
    Mkdir {
        dir: DirId,
    },
    /// `kv`: put `key` = a value of `len` bytes (derived from key and
    /// write id) in the open transaction.
    Put {
        key: KeyId,
        len: u64,
    },
    /// `kv`: remove `key` in the open transaction.
    Remove {
        key: KeyId,
    },
    /// `kv`: commit the open transaction, durable or not.
    Commit {
        durable: bool,
    },
    /// `kv`: drop the open transaction.
    Abort,
    /// `kv`: clean close and open again.
    Reopen,
    /// `kv`: read `key`, checked against the model (rule 8).
    Get {
        key: KeyId,
    },
    /// `kv`: the engine's own integrity check and repair (redb's
    /// `check_integrity`), between transactions: the open one is dropped
    /// first. It changes no committed data.
    CheckIntegrity,
    /// `kv`: the engine's compaction (redb's `compact`), between
    /// transactions like [`Op::CheckIntegrity`]. It changes no committed
    /// data.
    Compact,
    /// `kv`: the application panics with a transaction open and catches
    /// the panic (`catch_unwind`): the engine sees its transaction dropped
    /// while the thread unwinds, not aborted. Committed data are
    /// unchanged, like [`Op::Abort`].
    Unwind,
}

impl Op {
    /// The file the operation is about, if any.
    pub fn file(&self) -> Option<FileId> {
        match *self {
            Op::Create { file }
            | Op::Write { file, .. }
            | Op::DioWrite { file, .. }
            | Op::Read { file, .. }
            | Op::Fsync { file }
            | Op::Fdatasync { file }
            | Op::Truncate { file, .. }
            | Op::Fallocate { file, .. }
            | Op::PunchHole { file, .. }
            | Op::DioWait { file }
            | Op::Close { file }
            | Op::Unlink { file }
            | Op::Rename { from: file, .. } => Some(file),
            Op::Writeback { file, .. } => file,
            _ => None,
        }
    }

    /// Every file the operation names (a rename names two).
    pub fn files(&self) -> impl Iterator<Item = FileId> {
        let second = match *self {
            Op::Rename { to, .. } => Some(to),
            _ => None,
        };
        self.file().into_iter().chain(second)
    }

    /// The key the operation is about (`kv`), if any.
    pub fn key(&self) -> Option<KeyId> {
        match *self {
            Op::Put { key, .. } | Op::Remove { key } | Op::Get { key } => Some(key),
            _ => None,
        }
    }

    /// The file the operation is about, to change it (renumbering files).
    pub fn file_mut(&mut self) -> Option<&mut FileId> {
        match self {
            Op::Create { file }
            | Op::Write { file, .. }
            | Op::DioWrite { file, .. }
            | Op::Read { file, .. }
            | Op::Fsync { file }
            | Op::Fdatasync { file }
            | Op::Truncate { file, .. }
            | Op::Fallocate { file, .. }
            | Op::PunchHole { file, .. }
            | Op::DioWait { file }
            | Op::Close { file }
            | Op::Unlink { file }
            | Op::Rename { from: file, .. } => Some(file),
            Op::Writeback { file, .. } => file.as_mut(),
            _ => None,
        }
    }

    /// Applies `f` to every file the operation names (renumbering files).
    pub fn map_files(&mut self, f: impl Fn(FileId) -> FileId) {
        if let Op::Rename { to, .. } = self {
            *to = f(*to);
        }
        if let Some(file) = self.file_mut() {
            *file = f(*file);
        }
    }

    /// The operation's keyword in the text format.
    pub fn keyword(&self) -> &'static str {
        match self {
            Op::Create { .. } => "create",
            Op::Write { .. } => "write",
            Op::DioWrite { .. } => "dio-write",
            Op::Read { .. } => "read",
            Op::Fsync { .. } => "fsync",
            Op::Fdatasync { .. } => "fdatasync",
            Op::Truncate { .. } => "truncate",
            Op::Fallocate { .. } => "fallocate",
            Op::PunchHole { .. } => "punch-hole",
            Op::DioWait { .. } => "dio-wait",
            Op::Writeback { .. } => "writeback",
            Op::Syncfs => "syncfs",
            Op::DirFsync => "dir-fsync",
            Op::Remount => "remount",
            Op::Complete { .. } => "complete",
            Op::Close { .. } => "close",
            Op::Rename { .. } => "rename",
            Op::Unlink { .. } => "unlink",
            Op::Mkdir { .. } => "mkdir",
            Op::Put { .. } => "put",
            Op::Remove { .. } => "remove",
            Op::Commit { .. } => "commit",
            Op::Abort => "abort",
            Op::Reopen => "reopen",
            Op::Get { .. } => "get",
            Op::CheckIntegrity => "check-integrity",
            Op::Compact => "compact",
            Op::Unwind => "unwind",
        }
    }
}

/// The `fs` operations of a filesystem written in place (POSIX, the
/// embedded core): a target's `ops` declares a subset.
pub const FS_IN_PLACE_OPS: &[&str] = &[
    "create",
    "write",
    "dio-write",
    "read",
    "fsync",
    "fdatasync",
    "truncate",
    "dio-wait",
    "writeback",
    "syncfs",
    "remount",
    "complete",
];

/// The flags of `dio-write` a target may lack (the kernel's direct I/O
/// has no misaligned EINVAL on btrfs, and asynchronous I/O needs an
/// engine of its own): a target that has them lists them in its `ops`
/// beside `dio-write`.
pub const FS_DIO_FLAGS: &[&str] = &["aio", "misaligned"];

/// System calls of the in-place `fs` vocabulary beyond the embedded
/// core's, on targets that declare them (the kernel's filesystems):
/// space (`fallocate(2)`) and names (`rename(2)`, `unlink(2)`, `mkdir(2)`
/// beside the files, an fsync of the directory). The generator draws
/// them only there, so the other targets' workloads, seed for seed, stay
/// what they were.
pub const FS_SYSCALL_OPS: &[&str] = &[
    "fallocate",
    "punch-hole",
    "rename",
    "unlink",
    "mkdir",
    "dir-fsync",
];

/// The namespace operations of the `fs` vocabulary, on copy-on-write
/// targets (littlefs): the executor there runs `close`, `rename`,
/// `unlink` and `mkdir` as the engine's own calls.
pub const FS_NAMESPACE_OPS: &[&str] = &["close", "rename", "unlink", "mkdir"];

/// The `kv` operations every key-value engine has: a target's `ops` for
/// the vocabulary's core (engines with an integrity check, compaction or
/// a defined behaviour for a transaction dropped by a panic add those
/// keywords).
pub const KV_CORE_OPS: &[&str] = &["put", "remove", "commit", "abort", "reopen", "get"];

/// Every operation keyword of the `kv` vocabulary.
pub const KV_OPS: &[&str] = &[
    "put",
    "remove",
    "commit",
    "abort",
    "reopen",
    "get",
    "check-integrity",
    "compact",
    "unwind",
];

/// The workload's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The target, by registered name (`brownout targets`).
    pub target: String,
    pub bugs: Bugs,
    /// Target settings that change its crash behaviour (`settings:`).
    pub settings: Settings,
    /// The DIO barrier contract (`fs` targets with direct I/O).
    pub barrier: Barrier,
    pub mode: CrashMode,
    /// `mode: mix`: prefix mode plus the sampled passes `brownout fuzz`
    /// adds without `--mode` (`run::check::DEFAULT_PASSES`). A reproducer
    /// found in a continuation of such a campaign names it: the state a
    /// continuation starts from is picked among that mix's states.
    pub mix: bool,
    /// Number of files, `f0` to `f{files-1}` (`fs`).
    pub files: u32,
    /// Number of keys, `k0` to `k{keys-1}` (`kv`).
    pub keys: u32,
    /// Completion schedule: each time the filesystem waits and the device
    /// must complete a request, the next pick chooses which (modulo the
    /// number in flight, oldest first); the picks repeat; with none, the oldest.
    pub schedule: Vec<u32>,
    /// The rule a reproducer must trigger; `None` for a clean case.
    pub expect: Option<Rule>,
    /// The seed that picks the crash states continuations start from (a
    /// reproducer found in a continuation names its campaign's seed);
    /// `None`: the run's own (`--seed`, else 0).
    pub seed: Option<u64>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            target: DEFAULT_TARGET.to_string(),
            bugs: Bugs::none(),
            settings: Settings::none(),
            barrier: Barrier::Stable,
            mode: CrashMode::Prefix,
            mix: false,
            files: 4,
            keys: 8,
            schedule: Vec::new(),
            expect: None,
            seed: None,
        }
    }
}

/// The embedded filesystem core: the target when none is named.
pub const DEFAULT_TARGET: &str = "fs-under-test";

/// A workload: header and operations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    pub header: Header,
    pub ops: Vec<Op>,
}

/// A finding about operation `i` of `workload`.
pub fn op_finding(rule: Rule, workload: &Workload, i: usize, message: String) -> Finding {
    let mut f = Finding::new(rule, message);
    f.op = Some(i);
    f.op_text = workload.ops.get(i).map(|op| op.to_string());
    f.file = workload
        .ops
        .get(i)
        .and_then(Op::file)
        .map(|n| format!("f{n}"));
    f
}

/// The write id of operation `index`: 0 stands for "zeroes", so ids start
/// at 1.
pub fn write_id(op_index: usize) -> u32 {
    op_index as u32 + 1
}

/// The byte that write `wid` puts at `offset` of `file`: never zero, so a
/// zero byte is always a hole, an unwritten extent or a truncated tail, and
/// from a run of bytes one can tell which write (and which file) they came
/// from.
pub fn pattern_byte(file: FileId, offset: u64, wid: u32) -> u8 {
    if wid == 0 {
        return 0;
    }
    // A cheap mix (splitmix64 finaliser) of (file, wid, offset).
    let mut x = (u64::from(file) << 56) ^ (u64::from(wid) << 32) ^ offset;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    1 + (x % 255) as u8
}

/// The bytes write `wid` writes at `offset..offset+len` of `file`.
///
/// One execution asks for the same write's bytes several times (the
/// executor, the model, each continuation's run and model), and a wide
/// write is megabytes: recent large patterns are kept per thread, a pure
/// function's results, so nothing about a run depends on the cache. Below
/// them, the bytes are copied from blocks of the pattern kept per thread
/// ([`PatternBlocks`]): generating costs a hash per byte, and consecutive
/// executions write the same (file, write id, block) over and over.
pub fn pattern(file: FileId, offset: u64, len: u64, wid: u32) -> Arc<[u8]> {
    /// Patterns shorter than this are recomputed (cheaper than a lookup).
    const BLOCKS_MIN: u64 = 64;
    /// Patterns from this long on are kept whole.
    const CACHED_MIN: u64 = 4096;
    thread_local! {
        static CACHE: std::cell::RefCell<PatternCache> =
            std::cell::RefCell::new(PatternCache::default());
        static BLOCKS: std::cell::RefCell<PatternBlocks> =
            std::cell::RefCell::new(PatternBlocks::default());
    }
    if len < BLOCKS_MIN || wid == 0 {
        return (offset..offset + len)
            .map(|o| pattern_byte(file, o, wid))
            .collect();
    }
    let make = || -> Arc<[u8]> { BLOCKS.with_borrow_mut(|b| b.assemble(file, offset, len, wid)) };
    if len < CACHED_MIN {
        return make();
    }
    CACHE.with_borrow_mut(|cache| cache.get_or_make((file, offset, len, wid), make))
}

/// Aligned blocks of patterns, per thread, found by (file, write id,
/// block): the pieces [`pattern`] copies out. Forgotten all at once when
/// full (a pure function's results: what is kept changes no byte).
#[derive(Default)]
struct PatternBlocks {
    blocks: std::collections::HashMap<(FileId, u32, u64), Box<[u8]>>,
}

impl PatternBlocks {
    /// Bytes of one block: a filesystem block, the usual unit of a write.
    const BLOCK: u64 = 4096;
    /// Blocks kept per thread (16 MiB).
    const KEPT: usize = 4096;

    /// `pattern(file, offset, len, wid)`, copied from its blocks.
    fn assemble(&mut self, file: FileId, offset: u64, len: u64, wid: u32) -> Arc<[u8]> {
        let end = offset + len;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let mut at = offset;
        while at < end {
            let block = at / Self::BLOCK;
            let from = at - block * Self::BLOCK;
            let to = Self::BLOCK.min(end - block * Self::BLOCK);
            out.extend_from_slice(&self.block(file, wid, block)[from as usize..to as usize]);
            at = (block + 1) * Self::BLOCK;
        }
        debug_assert_eq!(out.len() as u64, len);
        Arc::from(out)
    }

    fn block(&mut self, file: FileId, wid: u32, block: u64) -> &[u8] {
        if self.blocks.len() >= Self::KEPT && !self.blocks.contains_key(&(file, wid, block)) {
            self.blocks.clear();
        }
        self.blocks.entry((file, wid, block)).or_insert_with(|| {
            let start = block * Self::BLOCK;
            (start..start + Self::BLOCK)
                .map(|o| pattern_byte(file, o, wid))
                .collect()
        })
    }
}

/// Recent large patterns of one thread, oldest evicted first, found by
/// their (file, offset, length, write id). A lookup and an insertion cost
/// the same however many are held (they were a scan of up to 4,096 of
/// them and a sum of their sizes).
#[derive(Default)]
struct PatternCache {
    bytes: std::collections::HashMap<PatternKey, Arc<[u8]>>,
    /// Insertion order, for eviction.
    order: std::collections::VecDeque<PatternKey>,
    /// Bytes held, at most `CACHE_BYTES` (unless one pattern is larger).
    held: usize,
}

type PatternKey = (FileId, u64, u64, u32);

impl PatternCache {
    /// Bytes kept per thread.
    const CACHE_BYTES: usize = 16 << 20;

    fn get_or_make(&mut self, key: PatternKey, make: impl FnOnce() -> Arc<[u8]>) -> Arc<[u8]> {
        if let Some(bytes) = self.bytes.get(&key) {
            return bytes.clone();
        }
        let bytes = make();
        self.held += bytes.len();
        self.bytes.insert(key, bytes.clone());
        self.order.push_back(key);
        while self.held > Self::CACHE_BYTES && self.order.len() > 1 {
            let old = self.order.pop_front().expect("more than one held");
            self.held -= self.bytes.remove(&old).map_or(0, |b| b.len());
        }
        bytes
    }
}

// ---------------------------------------------------------------------------
// Validation

/// What is wrong with an operation or a header value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOp {
    #[error("file f{file} is past the file count ({files} files: f0..f{last})", last = files.saturating_sub(1))]
    FileOutOfRange { file: FileId, files: u32 },
    #[error("rename of f{file} onto itself")]
    RenameOntoItself { file: FileId },
    #[error("directory d{dir} is past the directories d0..d{last}", last = files::DIRS - 1)]
    DirOutOfRange { dir: DirId },
    #[error("{what} {value} is past the file limit of {FILE_LIMIT} bytes")]
    PastFileLimit { what: &'static str, value: u64 },
    #[error("length {len} is out of range (1..={MAX_IO})")]
    BadLength { len: u64 },
    #[error("direct I/O at offset {offset}, length {len} is not {BLOCK_SIZE}-byte aligned; add `misaligned` if the workload expects the EINVAL")]
    MisalignedDio { offset: u64, len: u64 },
    #[error("direct I/O marked `misaligned` is aligned (offset {offset}, length {len})")]
    AlignedMarkedMisaligned { offset: u64, len: u64 },
    #[error("file count {0} is out of range (1..={MAX_FILES})")]
    BadFileCount(u32),
    #[error("too many operations ({0}; at most {MAX_OPS})")]
    TooManyOps(usize),
    #[error("schedule too long ({0} picks; at most {MAX_SCHEDULE})")]
    ScheduleTooLong(usize),
    #[error("key k{key} is past the key count ({keys} keys: k0..k{last})", last = keys.saturating_sub(1))]
    KeyOutOfRange { key: KeyId, keys: u32 },
    #[error("value length {len} is out of range (1..={max})")]
    BadValueLength { len: u64, max: u64 },
    #[error("key count {0} is out of range (1..={max})", max = kv::MAX_KEYS)]
    BadKeyCount(u32),
    #[error("target {target} has no operation `{keyword}` (it supports: {supported})")]
    Unsupported {
        target: String,
        keyword: &'static str,
        supported: String,
    },
    #[error("more than {max} put/remove in one transaction: target {target} commits each change on its own (add `commit durable` after each)")]
    TooManyChanges { target: String, max: u32 },
    #[error("target {target} has no non-durable commits (use `commit durable`)")]
    NoNondurableCommit { target: String },
    #[error("target {target} has no O_DSYNC writes (copy on write: a write is durable at the file's `fsync` or `close`)")]
    NoDsyncWrite { target: String },
    #[error("{what} {value} is past target {target}'s limit of {limit}")]
    PastTargetLimit {
        target: String,
        what: &'static str,
        value: u64,
        limit: u64,
    },
}

impl Op {
    /// Checks the operation against `target`'s vocabulary and limits and
    /// the header's file and key counts.
    pub fn validate_for(&self, target: &TargetInfo, header: &Header) -> Result<(), InvalidOp> {
        if !target.supports(self.keyword()) {
            return Err(InvalidOp::Unsupported {
                target: target.name.to_string(),
                keyword: self.keyword(),
                supported: target.ops.join(", "),
            });
        }
        if let Op::DioWrite {
            aio, misaligned, ..
        } = *self
        {
            for (on, flag) in [(aio, "aio"), (misaligned, "misaligned")] {
                if on && !target.supports(flag) {
                    return Err(InvalidOp::Unsupported {
                        target: target.name.to_string(),
                        keyword: flag,
                        supported: target.ops.join(", "),
                    });
                }
            }
        }
        self.validate(header.files)?;
        if let Some(key) = self.key() {
            if key >= header.keys {
                return Err(InvalidOp::KeyOutOfRange {
                    key,
                    keys: header.keys,
                });
            }
        }
        let past = |what, value: u64, limit: u64| {
            if value > limit {
                return Err(InvalidOp::PastTargetLimit {
                    target: target.name.to_string(),
                    what,
                    value,
                    limit,
                });
            }
            Ok(())
        };
        match *self {
            Op::Write { dsync: true, .. }
                if target.contract.file_updates == FileUpdates::CopyOnWrite =>
            {
                Err(InvalidOp::NoDsyncWrite {
                    target: target.name.to_string(),
                })
            }
            Op::Put { len, .. } if len == 0 || len > target.limits.value_len_max => {
                Err(InvalidOp::BadValueLength {
                    len,
                    max: target.limits.value_len_max,
                })
            }
            Op::Write { offset, len, .. }
            | Op::DioWrite { offset, len, .. }
            | Op::Read { offset, len, .. } => past(
                "end offset",
                offset.saturating_add(len),
                target.limits.file_size_max,
            ),
            Op::Truncate { size, .. } => past("size", size, target.limits.file_size_max),
            _ => Ok(()),
        }
    }

    /// Checks the operation against the limits of a workload of `files`
    /// files (any target).
    pub fn validate(&self, files: u32) -> Result<(), InvalidOp> {
        for file in self.files() {
            if file >= files {
                return Err(InvalidOp::FileOutOfRange { file, files });
            }
        }
        match *self {
            Op::Mkdir { dir } if dir >= files::DIRS => {
                return Err(InvalidOp::DirOutOfRange { dir })
            }
            Op::Rename { from, to } if from == to => {
                return Err(InvalidOp::RenameOntoItself { file: from })
            }
            _ => {}
        }
        let range = |offset: u64, len: u64| {
            if len == 0 || len > MAX_IO {
                return Err(InvalidOp::BadLength { len });
            }
            // Checked: the numbers come straight from a text file.
            let end = offset.saturating_add(len);
            if end > FILE_LIMIT {
                return Err(InvalidOp::PastFileLimit {
                    what: "end offset",
                    value: end,
                });
            }
            Ok(())
        };
        match *self {
            Op::Write { offset, len, .. }
            | Op::Read { offset, len, .. }
            | Op::Fallocate { offset, len, .. }
            | Op::PunchHole { offset, len, .. } => range(offset, len),
            Op::DioWrite {
                offset,
                len,
                misaligned,
                ..
            } => {
                range(offset, len)?;
                let aligned = offset % BLOCK == 0 && len % BLOCK == 0;
                match (aligned, misaligned) {
                    (false, false) => Err(InvalidOp::MisalignedDio { offset, len }),
                    (true, true) => Err(InvalidOp::AlignedMarkedMisaligned { offset, len }),
                    _ => Ok(()),
                }
            }
            Op::Truncate { size, .. } if size > FILE_LIMIT => Err(InvalidOp::PastFileLimit {
                what: "size",
                value: size,
            }),
            _ => Ok(()),
        }
    }
}

impl Workload {
    /// Checks every operation against `target`'s vocabulary and bounds.
    pub fn validate_for(&self, target: &TargetInfo) -> Result<(), (Option<usize>, InvalidOp)> {
        self.validate()?;
        for (i, op) in self.ops.iter().enumerate() {
            op.validate_for(target, &self.header)
                .map_err(|e| (Some(i), e))?;
        }
        self.check_commits(target).map_err(|(i, e)| (Some(i), e))
    }

    /// Checks the transactions against what the target's commits can
    /// hold ([`crate::target::Limits::changes_per_commit_max`],
    /// [`crate::target::Limits::nondurable_commits`]); the error names the
    /// operation.
    pub fn check_commits(&self, target: &TargetInfo) -> Result<(), (usize, InvalidOp)> {
        let max = target.limits.changes_per_commit_max;
        let mut pending = 0u32;
        for (i, op) in self.ops.iter().enumerate() {
            match *op {
                Op::Put { .. } | Op::Remove { .. } => {
                    pending += 1;
                    if max > 0 && pending > max {
                        let target = target.name.to_string();
                        return Err((i, InvalidOp::TooManyChanges { target, max }));
                    }
                }
                Op::Commit { durable } => {
                    if !durable && !target.limits.nondurable_commits {
                        let target = target.name.to_string();
                        return Err((i, InvalidOp::NoNondurableCommit { target }));
                    }
                    pending = 0;
                }
                Op::Abort | Op::Reopen | Op::CheckIntegrity | Op::Compact | Op::Unwind => {
                    pending = 0
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The vocabulary its operations belong to (`None`: no operation).
    pub fn vocabulary(&self) -> Option<Vocabulary> {
        self.ops
            .first()
            .map(|op| match KV_OPS.contains(&op.keyword()) {
                true => Vocabulary::Kv,
                false => Vocabulary::Fs,
            })
    }

    /// Checks every operation and the header's limits that hold for any
    /// target.
    pub fn validate(&self) -> Result<(), (Option<usize>, InvalidOp)> {
        let h = &self.header;
        if h.files == 0 || h.files > MAX_FILES {
            return Err((None, InvalidOp::BadFileCount(h.files)));
        }
        if h.keys == 0 || h.keys > kv::MAX_KEYS {
            return Err((None, InvalidOp::BadKeyCount(h.keys)));
        }
        if self.ops.len() > MAX_OPS {
            return Err((None, InvalidOp::TooManyOps(self.ops.len())));
        }
        if h.schedule.len() > MAX_SCHEDULE {
            return Err((None, InvalidOp::ScheduleTooLong(h.schedule.len())));
        }
        for (i, op) in self.ops.iter().enumerate() {
            op.validate(h.files).map_err(|e| (Some(i), e))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Text format

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kw = self.keyword();
        match *self {
            Op::Create { file }
            | Op::Fsync { file }
            | Op::Fdatasync { file }
            | Op::DioWait { file }
            | Op::Close { file }
            | Op::Unlink { file } => write!(f, "{kw} f{file}"),
            Op::Rename { from, to } => write!(f, "{kw} f{from} f{to}"),
            Op::Mkdir { dir } => write!(f, "{kw} d{dir}"),
            Op::Write {
                file,
                offset,
                len,
                dsync,
            } => {
                write!(f, "{kw} f{file} {offset} {len}")?;
                if dsync {
                    f.write_str(" dsync")?;
                }
                Ok(())
            }
            Op::DioWrite {
                file,
                offset,
                len,
                dsync,
                aio,
                misaligned,
            } => {
                write!(f, "{kw} f{file} {offset} {len}")?;
                for (on, word) in [(dsync, "dsync"), (aio, "aio"), (misaligned, "misaligned")] {
                    if on {
                        write!(f, " {word}")?;
                    }
                }
                Ok(())
            }
            Op::Read { file, offset, len } | Op::PunchHole { file, offset, len } => {
                write!(f, "{kw} f{file} {offset} {len}")
            }
            Op::Fallocate {
                file,
                offset,
                len,
                keep_size,
            } => {
                write!(f, "{kw} f{file} {offset} {len}")?;
                if keep_size {
                    f.write_str(" keep-size")?;
                }
                Ok(())
            }
            Op::Truncate { file, size } => write!(f, "{kw} f{file} {size}"),
            Op::Writeback { file, pages } => {
                match file {
                    Some(file) => write!(f, "{kw} f{file}")?,
                    None => write!(f, "{kw} all")?,
                }
                if let Some(p) = pages {
                    write!(f, " pages {p}")?;
                }
                Ok(())
            }
            Op::Syncfs
            | Op::DirFsync
            | Op::Remount
            | Op::Abort
            | Op::Reopen
            | Op::CheckIntegrity
            | Op::Compact
            | Op::Unwind => f.write_str(kw),
            Op::Complete { pick } => write!(f, "{kw} {pick}"),
            Op::Put { key, len } => write!(f, "{kw} k{key} {len}"),
            Op::Remove { key } | Op::Get { key } => write!(f, "{kw} k{key}"),
            Op::Commit { durable } => {
                write!(f, "{kw} {}", if durable { "durable" } else { "nondurable" })
            }
        }
    }
}

impl Workload {
    /// The readable text form (what `parse` reads back).
    pub fn to_text(&self) -> String {
        let h = &self.header;
        let mut s = String::new();
        let _ = writeln!(s, "# brownout workload");
        let _ = writeln!(s, "target: {}", h.target);
        if !h.bugs.is_empty() {
            let _ = writeln!(s, "bugs: {}", h.bugs);
        }
        if !h.settings.is_empty() {
            let _ = writeln!(s, "settings: {}", h.settings);
        }
        let vocabulary = self.vocabulary();
        if vocabulary != Some(Vocabulary::Kv) {
            let _ = writeln!(s, "barrier: {}", h.barrier);
        }
        debug_assert!(
            !h.mix || h.mode == CrashMode::Prefix,
            "mix is prefix mode's"
        );
        match h.mix {
            true => s.push_str("mode: mix\n"),
            false => {
                let _ = writeln!(s, "mode: {}", h.mode);
            }
        }
        if vocabulary == Some(Vocabulary::Kv) || h.keys != Header::default().keys {
            let _ = writeln!(s, "keys: {}", h.keys);
        }
        if vocabulary != Some(Vocabulary::Kv) {
            let _ = writeln!(s, "files: {}", h.files);
        }
        if !h.schedule.is_empty() {
            let picks: Vec<String> = h.schedule.iter().map(u32::to_string).collect();
            let _ = writeln!(s, "schedule: {}", picks.join(" "));
        }
        if let Some(seed) = h.seed {
            let _ = writeln!(s, "seed: {seed}");
        }
        if let Some(rule) = h.expect {
            let _ = writeln!(s, "expect: {}", rule.name());
        }
        for op in &self.ops {
            let _ = writeln!(s, "{op}");
        }
        s
    }
}

/// A parse error in a workload text, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number (0: the text as a whole).
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

fn parse_file(line: usize, word: Option<&str>) -> Result<FileId, ParseError> {
    let w = word.ok_or_else(|| err(line, "missing file argument (expected f0, f1, ...)"))?;
    w.strip_prefix('f')
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| err(line, format!("expected a file like `f0`, found `{w}`")))
}

fn parse_num(line: usize, what: &str, word: Option<&str>) -> Result<u64, ParseError> {
    let w = word.ok_or_else(|| err(line, format!("missing {what} argument")))?;
    w.parse::<u64>()
        .map_err(|_| err(line, format!("expected {what} as a number, found `{w}`")))
}

fn parse_flags<'a>(
    line: usize,
    words: impl Iterator<Item = &'a str>,
    allowed: &[&str],
) -> Result<Vec<&'a str>, ParseError> {
    let mut seen = Vec::new();
    for w in words {
        if !allowed.contains(&w) {
            return Err(err(
                line,
                format!(
                    "unexpected argument `{w}` (allowed here: {})",
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            ));
        }
        if seen.contains(&w) {
            return Err(err(line, format!("`{w}` given twice")));
        }
        seen.push(w);
    }
    Ok(seen)
}

fn parse_op(line: usize, text: &str) -> Result<Op, ParseError> {
    let mut words = text.split_whitespace();
    let kw = words.next().unwrap_or_default();
    let op = match kw {
        "create" | "fsync" | "fdatasync" | "dio-wait" | "close" | "unlink" => {
            let file = parse_file(line, words.next())?;
            match kw {
                "create" => Op::Create { file },
                "fsync" => Op::Fsync { file },
                "fdatasync" => Op::Fdatasync { file },
                "close" => Op::Close { file },
                "unlink" => Op::Unlink { file },
                _ => Op::DioWait { file },
            }
        }
        "rename" => {
            let from = parse_file(line, words.next())?;
            let to = parse_file(line, words.next())?;
            if from == to {
                return Err(err(line, format!("rename of f{from} onto itself")));
            }
            Op::Rename { from, to }
        }
        "mkdir" => {
            let w = words
                .next()
                .ok_or_else(|| err(line, "missing directory argument (expected d0, d1)"))?;
            let dir = w
                .strip_prefix('d')
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| err(line, format!("expected a directory like `d0`, found `{w}`")))?;
            Op::Mkdir { dir }
        }
        "fallocate" | "punch-hole" => {
            let file = parse_file(line, words.next())?;
            let offset = parse_num(line, "offset", words.next())?;
            let len = parse_num(line, "length", words.next())?;
            match kw {
                "fallocate" => {
                    let flags = parse_flags(line, words.by_ref(), &["keep-size"])?;
                    Op::Fallocate {
                        file,
                        offset,
                        len,
                        keep_size: flags.contains(&"keep-size"),
                    }
                }
                _ => Op::PunchHole { file, offset, len },
            }
        }
        "write" | "dio-write" | "read" => {
            let file = parse_file(line, words.next())?;
            let offset = parse_num(line, "offset", words.next())?;
            let len = parse_num(line, "length", words.next())?;
            match kw {
                "write" => {
                    let flags = parse_flags(line, words.by_ref(), &["dsync"])?;
                    Op::Write {
                        file,
                        offset,
                        len,
                        dsync: flags.contains(&"dsync"),
                    }
                }
                "dio-write" => {
                    let flags = parse_flags(line, words.by_ref(), &["dsync", "aio", "misaligned"])?;
                    Op::DioWrite {
                        file,
                        offset,
                        len,
                        dsync: flags.contains(&"dsync"),
                        aio: flags.contains(&"aio"),
                        misaligned: flags.contains(&"misaligned"),
                    }
                }
                _ => Op::Read { file, offset, len },
            }
        }
        "truncate" => {
            let file = parse_file(line, words.next())?;
            let size = parse_num(line, "size", words.next())?;
            Op::Truncate { file, size }
        }
        "writeback" => {
            let target = words
                .next()
                .ok_or_else(|| err(line, "missing argument: `all` or a file like `f0`"))?;
            let file = if target == "all" {
                None
            } else {
                Some(parse_file(line, Some(target))?)
            };
            let pages = match words.next() {
                None => None,
                Some("pages") => {
                    let n = parse_num(line, "page count", words.next())?;
                    Some(u32::try_from(n).map_err(|_| err(line, "page count too large"))?)
                }
                Some(w) => return Err(err(line, format!("expected `pages N`, found `{w}`"))),
            };
            Op::Writeback { file, pages }
        }
        "syncfs" => Op::Syncfs,
        "dir-fsync" => Op::DirFsync,
        "remount" => Op::Remount,
        kw if KV_OPS.contains(&kw) => kv::parse_op(line, kw, &mut words)?,
        "complete" => {
            let pick = parse_num(line, "request pick", words.next())?;
            Op::Complete {
                pick: u32::try_from(pick).map_err(|_| err(line, "request pick too large"))?,
            }
        }
        other => {
            return Err(err(
                line,
                format!(
                    "unknown operation `{other}` (expected one of: {}, {})",
                    [FS_IN_PLACE_OPS, FS_SYSCALL_OPS, FS_NAMESPACE_OPS]
                        .concat()
                        .join(", "),
                    KV_OPS.join(", ")
                ),
            ))
        }
    };
    parse_flags(line, words, &[])?;
    Ok(op)
}

/// Where each part of a parsed workload text was, for errors found after
/// parsing (against the target, by [`check_target`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lines {
    /// The `target:` header's line (0: none).
    pub target: usize,
    /// The `bugs:` header's line (0: none).
    pub bugs: usize,
    /// The `settings:` header's line (0: none).
    pub settings: usize,
    /// The line of each operation.
    pub ops: Vec<usize>,
}

impl Workload {
    /// Parses the text form (syntax, and the bounds that hold for every
    /// target). Errors name the line and what was expected. A workload
    /// that will run must also pass [`check_target`]
    /// (`campaign::registry::parse_workload` does both).
    pub fn parse(text: &str) -> Result<Workload, ParseError> {
        Self::parse_with_lines(text).map(|(w, _)| w)
    }

    /// [`Workload::parse`], with the line of each part.
    pub fn parse_with_lines(text: &str) -> Result<(Workload, Lines), ParseError> {
        let mut w = Workload::default();
        let mut lines = Lines::default();
        let mut seen_keys: Vec<String> = Vec::new();
        let mut any_line = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            any_line = true;
            let first = content.split_whitespace().next().unwrap_or_default();
            if let Some(key) = first.strip_suffix(':') {
                if !w.ops.is_empty() {
                    return Err(err(
                        line,
                        format!("header `{key}:` after the first operation; headers come first"),
                    ));
                }
                if seen_keys.iter().any(|k| k == key) {
                    return Err(err(line, format!("header `{key}:` given twice")));
                }
                let value = content[first.len()..].trim();
                parse_header(line, key, value, &mut w.header)?;
                match key {
                    "target" => lines.target = line,
                    "bugs" => lines.bugs = line,
                    "settings" => lines.settings = line,
                    _ => {}
                }
                seen_keys.push(key.to_string());
                continue;
            }
            if w.ops.len() == MAX_OPS {
                return Err(err(
                    line,
                    format!("too many operations (at most {MAX_OPS})"),
                ));
            }
            let op = parse_op(line, content)?;
            op.validate(w.header.files)
                .map_err(|e| err(line, e.to_string()))?;
            if let Some(key) = op.key() {
                if key >= w.header.keys {
                    let e = InvalidOp::KeyOutOfRange {
                        key,
                        keys: w.header.keys,
                    };
                    return Err(err(line, e.to_string()));
                }
            }
            w.ops.push(op);
            lines.ops.push(line);
        }
        if !any_line {
            return Err(err(0, "empty workload: expected a header and operations"));
        }
        Ok((w, lines))
    }
}

/// Checks a parsed workload against the target its header names, found
/// with `lookup` (`known` lists the names for an error): the target
/// exists, its bug switches exist, and every operation is in its
/// vocabulary and bounds. Errors name the line.
pub fn check_target<'a>(
    w: &Workload,
    lines: &Lines,
    lookup: impl Fn(&str) -> Option<&'a TargetInfo>,
    known: impl Fn() -> String,
) -> Result<(), ParseError> {
    let h = &w.header;
    let Some(info) = lookup(&h.target) else {
        return Err(err(
            lines.target,
            format!("unknown target `{}` (known: {})", h.target, known()),
        ));
    };
    h.bugs.validate(info).map_err(|e| err(lines.bugs, e))?;
    h.settings
        .validate_settings(info)
        .map_err(|e| err(lines.settings, e))?;
    for (op, &line) in w.ops.iter().zip(&lines.ops) {
        op.validate_for(info, h)
            .map_err(|e| err(line, e.to_string()))?;
    }
    w.check_commits(info)
        .map_err(|(i, e)| err(lines.ops[i], e.to_string()))
}

fn parse_header(line: usize, key: &str, value: &str, h: &mut Header) -> Result<(), ParseError> {
    match key {
        // Both checked against the registered targets after parsing.
        "target" => h.target = value.to_string(),
        "bugs" => h.bugs = value.parse::<Bugs>().map_err(|e| err(line, e))?,
        "settings" => h.settings = value.parse::<Settings>().map_err(|e| err(line, e))?,
        "barrier" => h.barrier = value.parse::<Barrier>().map_err(|e| err(line, e))?,
        "keys" => {
            let n = parse_num(line, "key count", Some(value))?;
            if n == 0 || n > u64::from(kv::MAX_KEYS) {
                return Err(err(
                    line,
                    format!("key count {n} out of range (1..={})", kv::MAX_KEYS),
                ));
            }
            h.keys = n as u32;
        }
        "mode" if value == "mix" => {
            h.mode = CrashMode::Prefix;
            h.mix = true;
        }
        "mode" => {
            h.mode = value
                .parse()
                .map_err(|e: String| err(line, format!("{e}, or mix")))?;
            h.mix = false;
        }
        "files" => {
            let n = parse_num(line, "file count", Some(value))?;
            if n == 0 || n > u64::from(MAX_FILES) {
                return Err(err(
                    line,
                    format!("file count {n} out of range (1..={MAX_FILES})"),
                ));
            }
            h.files = n as u32;
        }
        "schedule" => {
            let mut picks = Vec::new();
            for wd in value.split_whitespace() {
                if picks.len() == MAX_SCHEDULE {
                    return Err(err(
                        line,
                        format!("schedule too long (at most {MAX_SCHEDULE} picks)"),
                    ));
                }
                let n = parse_num(line, "schedule pick", Some(wd))?;
                picks.push(u32::try_from(n).map_err(|_| err(line, "schedule pick too large"))?);
            }
            h.schedule = picks;
        }
        "seed" => h.seed = Some(parse_num(line, "seed", Some(value))?),
        "expect" => {
            h.expect = if value == "clean" {
                None
            } else {
                Some(value.parse::<Rule>().map_err(|e| err(line, e.to_string()))?)
            };
        }
        other => {
            return Err(err(
                line,
                format!(
                    "unknown header `{other}:` (expected target, bugs, settings, barrier, mode, files, keys, schedule, seed or expect)"
                ),
            ))
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Generation from arbitrary bytes

/// What the fuzzer does not take from the input bytes: the target's
/// configuration, chosen on the command line.
#[derive(Clone, Debug)]
pub struct FuzzConfig {
    /// The target, by registered name.
    pub target: String,
    pub bugs: Bugs,
    pub barrier: Barrier,
    pub mode: CrashMode,
    /// Upper bound on generated operations.
    pub max_ops: usize,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        FuzzConfig {
            target: DEFAULT_TARGET.to_string(),
            bugs: Bugs::none(),
            barrier: Barrier::default(),
            mode: CrashMode::default(),
            max_ops: 0,
        }
    }
}

/// Base weights of the operation kinds the generator draws, in the order
/// of `from_unstructured`'s match: write, dio-write, read, fsync,
/// fdatasync, truncate, dio-wait, writeback, syncfs, remount, complete.
pub(crate) const BASE_WEIGHTS: [u32; 11] = [20, 22, 6, 8, 6, 8, 6, 6, 3, 2, 13];
// The generator's kinds are `FS_IN_PLACE_OPS` after `create`, in that
// order.
const _: () = assert!(FS_IN_PLACE_OPS.len() == BASE_WEIGHTS.len() + 1);

/// Swarm testing: each workload scales every operation kind's weight by 0,
/// 1, 2 or 3, drawn from the input, so that some workloads leave out whole
/// kinds and dwell on others (deep sequences of a few kinds find more bugs
/// than one fixed mix). All zero falls back to the base weights.
fn swarm_weights(u: &mut Unstructured) -> arbitrary::Result<[u32; 11]> {
    let bits: u32 = u.int_in_range(0..=(1 << 22) - 1)?;
    let mut w = BASE_WEIGHTS;
    for (k, weight) in w.iter_mut().enumerate() {
        *weight *= (bits >> (2 * k)) & 3;
    }
    if w.iter().all(|&x| x == 0) {
        w = BASE_WEIGHTS;
    }
    Ok(w)
}

/// The kind a roll of the input falls on, each kind taking `weights[k]`
/// of the `total` (their sum, above zero).
pub(crate) fn weighted_kind(
    u: &mut Unstructured,
    weights: &[u32],
    total: u32,
) -> arbitrary::Result<usize> {
    let mut roll = u.int_in_range(0..=total - 1)?;
    Ok(weights
        .iter()
        .position(|&w| {
            let hit = roll < w;
            roll = roll.saturating_sub(w);
            hit
        })
        .unwrap_or(0))
}

/// Each of the target's settings on in half the workloads (swarm-style,
/// like the weights).
pub(crate) fn draw_settings(
    u: &mut Unstructured,
    info: &TargetInfo,
) -> arbitrary::Result<Settings> {
    let mut settings = Settings::none();
    for s in &info.settings {
        if u.ratio(1, 2)? {
            settings = settings.with(s.name);
        }
    }
    Ok(settings)
}

/// Offsets are drawn from a small window so that operations overlap.
pub(crate) const WINDOW_BLOCKS: u64 = 8;

fn pick_file(u: &mut Unstructured, files: u32) -> arbitrary::Result<FileId> {
    // Bias towards the first two files: overlap matters more than breadth.
    Ok(if u.ratio(3, 4)? {
        u.int_in_range(0..=files.min(2) - 1)?
    } else {
        u.int_in_range(0..=files - 1)?
    })
}

/// A read or write range: in the window, or (in a wide workload, whose
/// `wide` is the file-size limit) one time in `WIDE_RANGE_ONE_IN`
/// anywhere in the file.
fn pick_range(
    u: &mut Unstructured,
    aligned: bool,
    wide: Option<u64>,
) -> arbitrary::Result<(u64, u64)> {
    if let Some(file_max) = wide {
        if u.ratio(1, WIDE_RANGE_ONE_IN)? {
            return wide_range(u, aligned, file_max);
        }
    }
    window_range(u, aligned)
}

/// A range in the first `WINDOW_BLOCKS` blocks, where operations overlap.
fn window_range(u: &mut Unstructured, aligned: bool) -> arbitrary::Result<(u64, u64)> {
    if aligned || u.ratio(1, 2)? {
        let start = u.int_in_range(0..=WINDOW_BLOCKS - 1)?;
        let blocks = u.int_in_range(1..=3u64)?;
        Ok((start * BLOCK, blocks * BLOCK))
    } else {
        let offset = u.int_in_range(0..=WINDOW_BLOCKS * BLOCK - 1)?;
        let len = u.int_in_range(1..=2 * BLOCK)?;
        Ok((offset, len))
    }
}

/// One workload in this many is *wide* (swarm-style, so that the others
/// keep the speed of small files): up to every file the target allows, up
/// to `max_ops` operations (log-uniform), and one range or truncate in
/// `WIDE_RANGE_ONE_IN` anywhere up to the file-size limit.
pub(crate) const WIDE_ONE_IN: u32 = 8;
pub(crate) const WIDE_RANGE_ONE_IN: u32 = 4;
/// The operation count of a workload that is not wide.
pub(crate) const SHORT_OPS: usize = 24;
/// The file-size limit assumed for a target that declares none.
const UNDECLARED_FILE_MAX: u64 = 1 << 20;

/// `ceil(log2(x))` for `x >= 1`.
pub(crate) fn ceil_log2(x: usize) -> u32 {
    usize::BITS - x.max(1).saturating_sub(1).leading_zeros()
}

/// `floor(log2(x))` for `x >= 1`.
fn log2(x: u64) -> u32 {
    63 - x.max(1).leading_zeros()
}

/// A range anywhere in a file of up to `file_max` bytes: lengths
/// log-uniform up to `MAX_IO`, offsets log-uniform or at a boundary (a
/// power-of-two block count, or the file-size limit itself), ending at
/// it, straddling it or starting at it.
pub(crate) fn wide_range(
    u: &mut Unstructured,
    aligned: bool,
    file_max: u64,
) -> arbitrary::Result<(u64, u64)> {
    let max_blocks = (MAX_IO.min(file_max) / BLOCK).max(1);
    let e = u.int_in_range(0..=log2(max_blocks))?;
    let blocks = u.int_in_range(1..=1u64 << e)?.min(max_blocks);
    let len = if aligned {
        blocks * BLOCK
    } else {
        u.int_in_range(1..=blocks * BLOCK)?.min(file_max)
    };
    let offset = wide_offset(u, file_max, len)?;
    let offset = if aligned {
        offset / BLOCK * BLOCK
    } else {
        offset
    };
    Ok((offset, len))
}

/// An offset for `len` bytes in a file of at most `file_max`.
fn wide_offset(u: &mut Unstructured, file_max: u64, len: u64) -> arbitrary::Result<u64> {
    let top = file_max.saturating_sub(len);
    let offset = if u.ratio(1, 2)? {
        let boundary = if u.ratio(1, 3)? {
            file_max
        } else {
            BLOCK << u.int_in_range(0..=log2(file_max / BLOCK))?
        };
        match u.int_in_range(0..=2)? {
            0 => boundary.saturating_sub(len),
            1 => boundary.saturating_sub(len / 2),
            _ => boundary,
        }
    } else {
        let e = u.int_in_range(log2(BLOCK)..=log2(file_max))?;
        u.int_in_range(0..=(1u64 << e) - 1)?
    };
    Ok(offset.min(top))
}

/// A truncate size anywhere up to `file_max`, boundaries favoured.
pub(crate) fn wide_size(u: &mut Unstructured, file_max: u64) -> arbitrary::Result<u64> {
    let size = wide_offset(u, file_max, 0)?;
    Ok(if u.ratio(1, 2)? {
        size / BLOCK * BLOCK
    } else {
        size
    })
}

impl Workload {
    /// Builds a workload for `cfg`'s target, declared by `info`, from
    /// fuzzer bytes, in its vocabulary: only the operations it declares
    /// (`None`: the whole `fs` vocabulary).
    pub fn from_unstructured(
        u: &mut Unstructured,
        cfg: &FuzzConfig,
        info: Option<&TargetInfo>,
    ) -> arbitrary::Result<Self> {
        match info {
            Some(info) if info.vocabulary == Vocabulary::Kv => kv::generate(u, cfg, info),
            Some(info) if info.contract.file_updates == FileUpdates::CopyOnWrite => {
                files::generate(u, cfg, info)
            }
            _ => Self::fs_from_unstructured(u, cfg, info),
        }
    }

    /// The `fs` generator: a few creates, then operations biased towards
    /// overlapping ranges, block-aligned direct I/O and small files, and a
    /// completion schedule.
    fn fs_from_unstructured(
        u: &mut Unstructured,
        cfg: &FuzzConfig,
        info: Option<&TargetInfo>,
    ) -> arbitrary::Result<Self> {
        let files_max = info.map_or(MAX_FILES, |t| t.limits.files_max);
        let files_max = files_max.clamp(1, MAX_FILES);
        let file_max = info.map_or(UNDECLARED_FILE_MAX, |t| t.limits.file_size_max);
        let file_max = file_max.clamp(BLOCK, FILE_LIMIT);
        let wide = u.ratio(1, WIDE_ONE_IN)?;
        let files: u32 = if wide {
            u.int_in_range(1..=files_max)?
        } else {
            u.int_in_range(1..=3)?
        };
        let wide = wide.then_some(file_max);
        let mut ops = Vec::new();
        for file in 0..files {
            ops.push(Op::Create { file });
        }
        let max_ops = cfg.max_ops.clamp(1, MAX_OPS);
        let mut weights = swarm_weights(u)?;
        // Only what the target declares (same bytes consumed either way).
        for (w, kw) in weights.iter_mut().zip(&FS_IN_PLACE_OPS[1..]) {
            if info.is_some_and(|t| !t.supports(kw)) {
                *w = 0;
            }
        }
        if weights.iter().all(|&w| w == 0) {
            weights[0] = 1;
        }
        let total: u32 = weights.iter().sum();
        // The system calls beyond the core's, where declared (no input
        // consumed where not: the other targets' workloads stay as they
        // were); a name freed by unlink or rename may be created again.
        let mut extra: Vec<&str> = FS_SYSCALL_OPS
            .iter()
            .copied()
            .filter(|kw| info.is_some_and(|t| t.supports(kw)))
            .filter(|&kw| kw != "rename" || files > 1)
            .collect();
        if extra.contains(&"unlink") || extra.contains(&"rename") {
            extra.push("create");
        }
        let limit = max_ops.saturating_sub(ops.len()).max(1);
        let n: usize = if wide.is_some() {
            // Log-uniform: short workloads stay common.
            let e = u.int_in_range(0..=ceil_log2(limit))?;
            u.int_in_range(1..=limit.min(1 << e))?
        } else {
            u.int_in_range(1..=limit.min(SHORT_OPS))?
        };
        for _ in 0..n {
            if u.is_empty() {
                break;
            }
            let file = pick_file(u, files)?;
            if !extra.is_empty() && u.ratio(1, EXTRA_ONE_IN)? {
                ops.push(extra_op(u, file, files, wide, &extra)?);
                continue;
            }
            let kind = weighted_kind(u, &weights, total)?;
            let op = match kind {
                0 => {
                    let (offset, len) = pick_range(u, false, wide)?;
                    Op::Write {
                        file,
                        offset,
                        len,
                        dsync: u.ratio(1, 3)?,
                    }
                }
                1 => {
                    // A flag the target does not declare stays off.
                    let has = |flag| info.is_none_or(|t| t.supports(flag));
                    let misaligned = u.ratio(1, 64)? && has("misaligned");
                    // A misaligned request stays in the window: its offset moves
                    // past the block it was drawn at.
                    let (mut offset, len) = if misaligned {
                        window_range(u, true)?
                    } else {
                        pick_range(u, true, wide)?
                    };
                    if misaligned {
                        offset += u.int_in_range(1..=BLOCK - 1)?;
                    }
                    Op::DioWrite {
                        file,
                        offset,
                        len,
                        dsync: u.ratio(2, 3)?,
                        aio: u.ratio(1, 2)? && has("aio"),
                        misaligned,
                    }
                }
                2 => {
                    let (offset, len) = pick_range(u, false, wide)?;
                    Op::Read { file, offset, len }
                }
                3 => Op::Fsync { file },
                4 => Op::Fdatasync { file },
                5 => {
                    let wide_truncate = match wide {
                        Some(_) => u.ratio(1, WIDE_RANGE_ONE_IN)?,
                        None => false,
                    };
                    let size = if wide_truncate {
                        wide_size(u, file_max)?
                    } else if u.ratio(1, 2)? {
                        u.int_in_range(0..=WINDOW_BLOCKS)? * BLOCK
                    } else {
                        u.int_in_range(0..=WINDOW_BLOCKS * BLOCK)?
                    };
                    Op::Truncate { file, size }
                }
                6 => Op::DioWait { file },
                7 => Op::Writeback {
                    file: if u.ratio(1, 2)? { Some(file) } else { None },
                    pages: if u.ratio(1, 2)? {
                        Some(u.int_in_range(1..=4)?)
                    } else {
                        None
                    },
                },
                8 => Op::Syncfs,
                9 => Op::Remount,
                _ => Op::Complete {
                    pick: u.int_in_range(0..=7)?,
                },
            };
            ops.push(op);
        }
        let picks: usize = u.int_in_range(0..=16)?;
        let mut schedule = Vec::with_capacity(picks);
        for _ in 0..picks {
            schedule.push(u.int_in_range(0..=7)?);
        }
        Ok(Workload {
            header: Header {
                target: cfg.target.clone(),
                bugs: cfg.bugs.clone(),
                barrier: cfg.barrier,
                mode: cfg.mode,
                files,
                schedule,
                ..Header::default()
            },
            ops,
        })
    }
}

/// One in this many operations is one of [`FS_SYSCALL_OPS`], on a
/// target that declares any.
const EXTRA_ONE_IN: u32 = 5;

/// One of `extra` (keywords of [`FS_SYSCALL_OPS`], and `create`) on
/// `file`: space over the ranges writes use (unaligned too: partial
/// blocks are zeroed through the page cache), a rename onto another of
/// the `files`.
fn extra_op(
    u: &mut Unstructured,
    file: FileId,
    files: u32,
    wide: Option<u64>,
    extra: &[&str],
) -> arbitrary::Result<Op> {
    Ok(match *u.choose(extra)? {
        "fallocate" => {
            let (offset, len) = pick_range(u, false, wide)?;
            Op::Fallocate {
                file,
                offset,
                len,
                keep_size: u.ratio(1, 2)?,
            }
        }
        "punch-hole" => {
            let (offset, len) = pick_range(u, false, wide)?;
            Op::PunchHole { file, offset, len }
        }
        "rename" => {
            // Another file: `files` is at least 2 where rename is drawn.
            let to = (file + u.int_in_range(1..=files - 1)?) % files;
            Op::Rename { from: file, to }
        }
        "unlink" => Op::Unlink { file },
        "mkdir" => Op::Mkdir {
            dir: u.int_in_range(0..=files::DIRS - 1)?,
        },
        "dir-fsync" => Op::DirFsync,
        _ => Op::Create { file },
    })
}

/// The workload of execution `index` of a campaign seeded with `seed`, for
/// the target `info` declares (`None`: the in-place `fs` vocabulary but
/// for [`FS_SYSCALL_OPS`]).
pub fn generate(seed: u64, index: u64, config: &FuzzConfig, info: Option<&TargetInfo>) -> Workload {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // Enough bytes for the long workloads too (one in eight).
    let len = if rng.gen_ratio(1, 8) {
        rng.gen_range(1024..8192)
    } else {
        rng.gen_range(64..1024)
    };
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes[..]);
    // `from_unstructured` only fails on exhausted input, which it handles by
    // stopping early; an empty workload is still valid.
    Workload::from_unstructured(&mut Unstructured::new(&bytes), config, info).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Workload {
        Workload::parse(
            "# a comment\n\
             target: fs-under-test\n\
             bugs: dsync-no-flush\n\
             barrier: complete\n\
             mode: reorder\n\
             files: 2\n\
             schedule: 1 0 3\n\
             expect: acked-data\n\
             create f0\n\
             write f0 100 5000 dsync   # trailing comment\n\
             dio-write f1 4096 8192 dsync aio\n\
             dio-write f1 10 4096 misaligned\n\
             read f0 0 10\n\
             fsync f0\nfdatasync f1\ntruncate f0 77\ndio-wait f1\n\
             writeback all pages 2\nwriteback f1\nsyncfs\nremount\ncomplete 3\n",
        )
        .unwrap()
    }

    #[test]
    fn text_round_trips() {
        let w = sample();
        assert_eq!(w.ops.len(), 14);
        assert_eq!(w.header.expect, Some(Rule::AckedData));
        assert_eq!(Workload::parse(&w.to_text()).unwrap(), w);
    }

    /// The generator reaches the embedded core's limits: files past
    /// 64 KiB and past 1 MiB, direct I/O over 4 blocks, more than three
    /// files and more than 24 operations, while most workloads stay small.
    /// `cargo test -p harness reach_of -- --nocapture` prints the shares.
    #[test]
    fn reach_of_generated_workloads() {
        let info = crate::targets::embedded::FsUnderTest::target_info("fs-under-test");
        let cfg = FuzzConfig {
            max_ops: 256,
            ..FuzzConfig::default()
        };
        let n = 4000u64;
        let (mut past_64k, mut past_1m, mut big_dio, mut many_files, mut long) = (0, 0, 0, 0, 0);
        for i in 0..n {
            let w = generate(1, i, &cfg, Some(&info));
            w.validate_for(&info).unwrap();
            let end = w
                .ops
                .iter()
                .map(|op| match *op {
                    Op::Write { offset, len, .. }
                    | Op::DioWrite { offset, len, .. }
                    | Op::Read { offset, len, .. } => offset + len,
                    Op::Truncate { size, .. } => size,
                    _ => 0,
                })
                .max()
                .unwrap_or(0);
            past_64k += u64::from(end > 64 << 10);
            past_1m += u64::from(end > 1 << 20);
            big_dio += u64::from(
                w.ops
                    .iter()
                    .any(|op| matches!(*op, Op::DioWrite { len, .. } if len > 4 * BLOCK)),
            );
            many_files += u64::from(w.header.files > 3);
            long += u64::from(w.ops.len() > 24 + w.header.files as usize);
        }
        let pct = |k: u64| 100.0 * k as f64 / n as f64;
        eprintln!(
            "of {n} workloads: past 64 KiB {:.1}%, past 1 MiB {:.1}%, DIO over 4 blocks {:.1}%, \
             more than 3 files {:.1}%, more than 24 operations {:.1}%",
            pct(past_64k),
            pct(past_1m),
            pct(big_dio),
            pct(many_files),
            pct(long)
        );
        for (what, k) in [
            ("past 64 KiB", past_64k),
            ("past 1 MiB", past_1m),
            ("DIO over 4 blocks", big_dio),
            ("more than 3 files", many_files),
            ("more than 24 operations", long),
        ] {
            assert!(k > 0, "no workload {what}");
        }
        // Small stays the rule: wide workloads are one in eight.
        assert!(pct(past_64k) < 25.0);
    }

    /// The system calls beyond the core's are drawn where a target
    /// declares them, each of them, and never elsewhere.
    #[test]
    fn syscall_ops_are_drawn_only_where_declared() {
        let core = crate::targets::embedded::FsUnderTest::target_info("fs-under-test");
        let mut kernel = core.clone();
        kernel.ops.extend(FS_SYSCALL_OPS);
        let cfg = FuzzConfig::default();
        let mut seen = std::collections::BTreeMap::new();
        for i in 0..500 {
            let w = generate(3, i, &cfg, Some(&kernel));
            w.validate_for(&kernel).unwrap();
            for op in &w.ops {
                *seen.entry(op.keyword()).or_insert(0u32) += 1;
            }
            let plain = generate(3, i, &cfg, Some(&core));
            assert!(plain
                .ops
                .iter()
                .all(|op| !FS_SYSCALL_OPS.contains(&op.keyword())));
        }
        for kw in FS_SYSCALL_OPS {
            assert!(
                seen.get(kw).is_some_and(|&n| n > 0),
                "{kw} never drawn: {seen:?}"
            );
        }
    }

    #[test]
    fn generated_workloads_round_trip_and_validate() {
        let cfg = FuzzConfig {
            max_ops: 40,
            ..FuzzConfig::default()
        };
        let mut bytes = vec![0u8; 4096];
        for seed in 0..500u64 {
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            for b in bytes.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let w =
                Workload::from_unstructured(&mut Unstructured::new(&bytes), &cfg, None).unwrap();
            w.validate().unwrap();
            assert_eq!(Workload::parse(&w.to_text()).unwrap(), w);
        }
    }

    #[test]
    fn errors_name_the_line() {
        let e = Workload::parse("files: 2\ncreate f0\nfrobnicate f0\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unknown operation"), "{e}");
        let e = Workload::parse("files: 2\nwrite f5 0 10\n").unwrap_err();
        assert!(e.message.contains("past the file count"), "{e}");
        let e = Workload::parse("dio-write f0 1 4096\n").unwrap_err();
        assert!(e.message.contains("aligned"), "{e}");
        let e = crate::campaign::registry::parse_workload("bugs: no-such-bug\n").unwrap_err();
        assert!(e.message.contains("unknown bug"), "{e}");
        let e = Workload::parse("expect: rule-9\n").unwrap_err();
        assert!(e.message.contains("unknown oracle rule"), "{e}");
        let e = Workload::parse("write f0 0\n").unwrap_err();
        assert!(e.message.contains("missing length"), "{e}");
        let e = Workload::parse("fsync f0 extra\n").unwrap_err();
        assert!(e.message.contains("unexpected argument"), "{e}");
        let e = Workload::parse(&format!("truncate f0 {}\n", FILE_LIMIT + 1)).unwrap_err();
        assert!(e.message.contains("file limit"), "{e}");
        assert_eq!(Workload::parse("  # only a comment\n").unwrap_err().line, 0);
    }

    #[test]
    fn pattern_bytes_are_nonzero_and_name_their_write() {
        let a = pattern(0, 0, 4096, 7);
        assert!(a.iter().all(|&b| b != 0));
        assert_ne!(a, pattern(0, 0, 4096, 8));
        assert_ne!(a, pattern(1, 0, 4096, 7));
    }

    /// Copied from kept blocks or computed, a pattern is `pattern_byte`
    /// at every offset: ranges inside one block, across blocks, unaligned
    /// at both ends, asked again (kept whole), and past the block cache's
    /// bound (forgotten and made again).
    #[test]
    fn patterns_are_their_bytes_however_they_are_made() {
        let direct = |file, offset, len, wid| -> Vec<u8> {
            (offset..offset + len)
                .map(|o| pattern_byte(file, o, wid))
                .collect()
        };
        let ranges = [
            (0, 0, 1, 1),
            (1, 100, 63, 2),
            (0, 4000, 200, 3),
            (2, 4096, 4096, 4),
            (0, 5000, 70_000, 5),
            (0, 5000, 70_000, 5),
            (1, (1 << 20) - 7, 9000, 9),
            (0, 0, 64, 0),
        ];
        for &(file, offset, len, wid) in &ranges {
            assert_eq!(
                &pattern(file, offset, len, wid)[..],
                &direct(file, offset, len, wid)[..],
                "f{file} {offset}+{len} w{wid}"
            );
        }
        // More blocks than a thread keeps, then an early one again.
        for wid in 1..=40 {
            let _ = pattern(3, 0, 500 * 4096 + 1, wid);
        }
        assert_eq!(&pattern(3, 10, 5000, 1)[..], &direct(3, 10, 5000, 1)[..]);
    }

    /// A reproducer's `seed:` (the campaign seed its continuation states
    /// were picked with) survives the text, and a bad one names its line.
    #[test]
    fn the_seed_header_round_trips() {
        let text = "target: redb\nmode: prefix\nkeys: 2\nseed: 7\nput k0 1\ncommit durable\n";
        let w = Workload::parse(text).unwrap();
        assert_eq!(w.header.seed, Some(7));
        assert_eq!(Workload::parse(&w.to_text()).unwrap(), w);
        assert!(w.to_text().contains("seed: 7\n"));
        let e = Workload::parse("seed: x\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(Workload::parse("put k0 1\n").unwrap().header.seed.is_none());
    }
}
