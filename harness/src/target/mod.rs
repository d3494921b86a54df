//! What a target declares: its device model, its vocabulary (a declared
//! subset of operations, and the bounds of its workloads), its contract
//! and its bug switches ([`TargetInfo`]). These three vary independently
//! (littlefs is an `fs` vocabulary over `flash` or `disk`; redb is `kv`
//! over `file`), so they are separate declarations.
//!
//! The engine-facing half of a target is in [`crate::engine`] (the adapter
//! traits); the runnable object the campaign works with is
//! [`crate::run::target::Target`]; the names a workload file or
//! `--target` can use are in [`crate::campaign::registry`].

#![deny(missing_docs)]

use serde::Serialize;

/// What the recording device looks like to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceModel {
    /// A block device: asynchronous completion, volatile cache, FUA, flush.
    Disk,
    /// One byte-addressable file: write, set_len, sync_data; a page cache
    /// over sectors (writes and length changes volatile until sync_data).
    File,
    /// NOR flash: erase to ones, program clears bits, durable on return.
    Flash,
}

impl DeviceModel {
    /// The model's name (`disk`, `file`, `flash`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceModel::Disk => "disk",
            DeviceModel::File => "file",
            DeviceModel::Flash => "flash",
        }
    }
}

/// The family of operations a target speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vocabulary {
    /// Files: create, write, direct I/O, fsync, truncate, … (a subset).
    Fs,
    /// Key-value: put, remove, commit, abort, reopen, get.
    Kv,
}

impl Vocabulary {
    /// The vocabulary's name (`fs`, `kv`).
    pub fn name(self) -> &'static str {
        match self {
            Vocabulary::Fs => "fs",
            Vocabulary::Kv => "kv",
        }
    }
}

/// What the oracle holds a target to. Each claim defaults to the weakest
/// promise: never wrong, finds less.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contract {
    /// Which returns acknowledge what, in the engine's words.
    pub acknowledges: &'static str,
    /// What is atomic, in the engine's words.
    pub atomicity: &'static str,
    /// Whether opening (mounting) after any crash must succeed.
    pub recovery_must_succeed: bool,
    /// What a crash may leave of a file (the `fs` vocabulary; `kv`
    /// targets say [`FileUpdates::InPlace`], which they never use).
    pub file_updates: FileUpdates,
    /// When a new file's name survives a crash (the `fs` vocabulary; the
    /// others say [`Names::FileFsync`], which they never use).
    pub names: Names,
    /// What size a file may have after a crash (the `fs` vocabulary; the
    /// others say [`Sizes::Stepwise`], which they never use).
    pub sizes: Sizes,
}

/// What size an in-place file may have after a crash, beyond the
/// acknowledged floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sizes {
    /// One of the sizes the operations could have left, each size change
    /// all or nothing (`fs-under-test`).
    Stepwise,
    /// Anywhere between the smallest and the largest of those: the
    /// on-disk size follows writeback as it completes (ext4's
    /// `i_disksize`, XFS's on-disk size at I/O completion, btrfs's
    /// `disk_i_size`), which nothing in Linux documents away. The bytes
    /// below it are still checked one by one.
    Writeback,
}

impl Contract {
    /// What the in-place model needs of the contract: when names are
    /// durable and which sizes a crash may leave.
    pub fn promises(&self) -> (Names, Sizes) {
        (self.names, self.sizes)
    }
}

/// When a change of a name (a create, and where the target has them an
/// unlink or a rename) is durable: what a filesystem may promise beyond
/// POSIX, or what POSIX promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Names {
    /// An fsync of the file makes its creation durable, as syncfs and
    /// unmount do (`fs-under-test`, littlefs).
    FileFsync,
    /// Only an fsync of the directory (`dir-fsync`), syncfs or unmount
    /// make a change of a name durable, POSIX's rule. Until then the name
    /// may show any of its states since the last such call (a file
    /// created since may be missing, and everything written to it with
    /// it). Linux filesystems, held to their documented contract.
    Directory,
}

/// What a crash may leave of a file: the two models of the `fs`
/// vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileUpdates {
    /// Written in place (POSIX): each byte of a write may reach the disk
    /// on its own, and is durable once an fsync (or O_DSYNC, or the
    /// barrier) covering it has returned (`fs-under-test`, Linux).
    InPlace,
    /// Copy on write: a file after a crash equals exactly one of its
    /// committed versions (each sync or close commits one) at or after the
    /// last acknowledged one, and each rename, remove and mkdir is all or
    /// nothing (littlefs).
    CopyOnWrite,
}

/// A named bug switch a target carries (off by default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BugSwitch {
    /// Kebab-case name, as in `--bug NAME` and a workload's `bugs:`.
    pub name: &'static str,
    /// One line on what the switch breaks.
    pub summary: &'static str,
}

/// A named setting of the code under test that changes its crash
/// behaviour (redb's two-phase commit, say): off by default, turned on by
/// a workload's `settings:`; the generator turns each on in half of its
/// workloads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// Kebab-case name, as in a workload's `settings:`.
    pub name: &'static str,
    /// One line on what it changes.
    pub summary: &'static str,
}

/// Bounds a target declares; the generator reaches them and the parser
/// enforces them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Most files a workload may name (`fs`).
    pub files_max: u32,
    /// Largest file offset or size (`fs`).
    pub file_size_max: u64,
    /// Most keys a workload may name (`kv`).
    pub keys_max: u32,
    /// Longest value (`kv`).
    pub value_len_max: u64,
    /// Size of the recording device in bytes.
    pub device_bytes: u64,
    /// The unit a torn write keeps or loses whole: what the device
    /// writes atomically (512 for a disk of 512-byte sectors, 4096 for
    /// a 4Kn disk). `--tear` may only make it coarser.
    pub tear_bytes: u64,
    /// Most puts and removes one commit may hold (`kv`; 0: no bound). A
    /// store whose every update is its own atomic, durable operation (a
    /// flash key-value map) declares 1: the generator then commits after
    /// each change.
    pub changes_per_commit_max: u32,
    /// Whether `commit nondurable` exists (`kv`): a commit that is not
    /// durable until a later durable one.
    pub nondurable_commits: bool,
    /// Whether a `put` may replace a present key (`kv`). A store that
    /// refuses it (tickv appends only) declares `false`: the generator
    /// then removes a key, in a commit of its own, before it puts it
    /// again, and the engine reports a put it refuses anyway (after a
    /// crash left the key present) with [`KvError::refused`].
    ///
    /// [`KvError::refused`]: crate::engine::kv::KvError::refused
    pub put_overwrites: bool,
}

/// Everything `brownout targets` shows about a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    /// The name `--target` and a workload's `target:` header use.
    pub name: &'static str,
    /// The version of the code under test.
    pub version: String,
    /// Its device model.
    pub device: DeviceModel,
    /// Its vocabulary.
    pub vocabulary: Vocabulary,
    /// The operation keywords of the vocabulary it supports.
    pub ops: Vec<&'static str>,
    /// What the oracle holds it to.
    pub contract: Contract,
    /// Its bug switches.
    pub bugs: Vec<BugSwitch>,
    /// Its settings.
    pub settings: Vec<Setting>,
    /// Its bounds.
    pub limits: Limits,
}

impl TargetInfo {
    /// Whether the target supports operation `keyword`.
    pub fn supports(&self, keyword: &str) -> bool {
        self.ops.contains(&keyword)
    }

    /// Whether the target has a setting `name`.
    pub fn has_setting(&self, name: &str) -> bool {
        self.settings.iter().any(|s| s.name == name)
    }

    /// Whether the target has a bug switch `name`.
    pub fn has_bug(&self, name: &str) -> bool {
        self.bugs.iter().any(|b| b.name == name)
    }
}
