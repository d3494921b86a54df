//! Targets: the storage code brownout tests, behind one small API.
//!
//! A target is someone's storage engine plus an adapter that declares
//! three separate things, because they vary independently (littlefs is an
//! `fs` vocabulary over `flash` or `disk`; redb is `kv` over `file`):
//!
//! - its **device model** ([`DeviceModel`]): what the recording device
//!   looks like to the engine — a block device with a volatile cache
//!   ([`crate::device::disk::Disk`]), one byte-addressable file with
//!   `sync_data` ([`crate::device::file::File`]), or NOR flash;
//! - its **vocabulary** ([`Vocabulary`]): the operations the generator may
//!   emit, as a declared subset ([`TargetInfo::ops`]); the parser rejects
//!   the rest, naming the line;
//! - its **contract** ([`Contract`]): what the oracle holds it to, in the
//!   engine's own words.
//!
//! An adapter implements one vocabulary trait, [`fs::FsEngine`] or
//! [`kv::KvEngine`]; wrapping it in [`fs::FsTarget`] or [`kv::KvTarget`]
//! gives a [`Target`], the object the campaign, the minimiser, the corpus
//! and the CLI work with. Register it ([`register`]) or hand it to
//! [`crate::cli::main`], which registers what it is given. Everything
//! below a `Target` is generic over the engine: dispatch happens once per
//! workload.
//!
//! Who is blamed for a panic: brownout's own code (this crate outside
//! `src/targets/`, and `replay`) is an internal error; anything else —
//! the engine and its adapter — is a finding ([`crate::guard`]).

#![deny(missing_docs)]

pub mod fs;
pub mod kv;

use crate::run::check::OracleOptions;
use crate::run::execute::{ExecOptions, Execution};
use crate::run::pipeline::{Outcome, RunError};
use crate::workload::Workload;
use serde::Serialize;
use std::sync::{OnceLock, RwLock};

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
}

/// A named bug switch a target carries (off by default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BugSwitch {
    /// Kebab-case name, as in `--bug NAME` and a workload's `bugs:`.
    pub name: &'static str,
    /// One line on what the switch breaks.
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
    /// Its bounds.
    pub limits: Limits,
}

impl TargetInfo {
    /// Whether the target supports operation `keyword`.
    pub fn supports(&self, keyword: &str) -> bool {
        self.ops.contains(&keyword)
    }

    /// Whether the target has a bug switch `name`.
    pub fn has_bug(&self, name: &str) -> bool {
        self.bugs.iter().any(|b| b.name == name)
    }
}

/// A target as the campaign sees it: object-safe, one per engine. Build
/// one from an adapter with [`fs::FsTarget`] or [`kv::KvTarget`] rather
/// than implementing it by hand.
pub trait Target: Send + Sync {
    /// Name, version, device model, vocabulary, contract, switches, limits.
    fn info(&self) -> &TargetInfo;

    /// Runs `workload` and checks every crash state of its log.
    fn run(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Outcome, RunError>;

    /// Runs `workload` without checking crash states (for timelines).
    fn execute(&self, workload: &Workload, exec: &ExecOptions) -> Execution;
}

impl std::fmt::Debug for dyn Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.info().name)
    }
}

fn registry() -> &'static RwLock<Vec<&'static dyn Target>> {
    static REGISTRY: OnceLock<RwLock<Vec<&'static dyn Target>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(crate::targets::built_in()))
}

/// Makes `target` known by name to workload files, `--target` and
/// `brownout targets`. A second target of the same name replaces the first.
pub fn register(target: &'static dyn Target) {
    let mut all = registry().write().unwrap_or_else(|e| e.into_inner());
    let name = target.info().name;
    match all.iter_mut().find(|t| t.info().name == name) {
        Some(slot) => *slot = target,
        None => all.push(target),
    }
}

/// The target called `name`.
pub fn lookup(name: &str) -> Option<&'static dyn Target> {
    let all = registry().read().unwrap_or_else(|e| e.into_inner());
    all.iter().copied().find(|t| t.info().name == name)
}

/// Every registered target, in registration order (built-in first).
pub fn all() -> Vec<&'static dyn Target> {
    registry().read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The names of every registered target, for error messages.
pub fn names() -> String {
    all()
        .iter()
        .map(|t| t.info().name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The target a workload names, or the error a user should see.
pub fn of(workload: &Workload) -> Result<&'static dyn Target, RunError> {
    lookup(&workload.header.target).ok_or_else(|| RunError::UnknownTarget {
        name: workload.header.target.clone(),
        known: names(),
    })
}
