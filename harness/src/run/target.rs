//! [`Target`]: a target as the campaign sees it, one object per engine,
//! built from an adapter with [`FsTarget`], [`FilesTarget`] or
//! [`KvTarget`]. Everything
//! below it is generic over the engine: dispatch happens once per workload.

use crate::engine::files::FilesEngine;
use crate::engine::fs::FsEngine;
use crate::engine::kv::KvEngine;
use crate::run::check::OracleOptions;
use crate::run::continuation::Resumed;
use crate::run::execute::{ExecOptions, Execution};
use crate::run::pipeline::{run_fs, Outcome, RunError};
use crate::target::{TargetInfo, Vocabulary};
use crate::workload::Workload;

/// A runnable target: object-safe, one per engine. Build one from an
/// adapter with [`FsTarget`] or [`KvTarget`] rather than by hand.
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

    /// Runs `workload`, then the continuation that `oracle.only_state`
    /// names (`OUTER+…`) without checking its crash states (for
    /// timelines): `None` where the continuation did not run (its
    /// recovery failed or panicked, or left nothing to continue from).
    fn resume(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Option<Resumed>, replay::ReplayError>;

    /// Whether this machine can run the target (`Err`: what is missing).
    /// The command line asks before it runs anything.
    fn available(&self) -> Result<(), String> {
        Ok(())
    }

    /// Gives back what the target keeps between runs (devices, mounts).
    /// The command line calls it for every target when it ends, even by
    /// a panic.
    fn release(&self) {}
}

impl std::fmt::Debug for dyn Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.info().name)
    }
}

/// An [`FsEngine`] as a [`Target`].
pub struct FsTarget<E> {
    engine: E,
    info: TargetInfo,
}

impl<E: FsEngine> FsTarget<E> {
    /// Wraps `engine`.
    pub fn new(engine: E) -> Self {
        let info = engine.info();
        assert_eq!(
            info.vocabulary,
            Vocabulary::Fs,
            "an FsEngine speaks the fs vocabulary"
        );
        FsTarget { engine, info }
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }
}

impl<E: FsEngine> Target for FsTarget<E> {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    fn run(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Outcome, RunError> {
        let oracle = oracle.for_device(self.info.limits.tear_bytes);
        run_fs(&self.engine, workload, exec, &oracle)
    }

    fn execute(&self, workload: &Workload, exec: &ExecOptions) -> Execution {
        crate::run::execute::execute(&self.engine, workload, exec)
    }

    fn resume(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Option<Resumed>, replay::ReplayError> {
        let oracle = oracle.for_device(self.info.limits.tear_bytes);
        let outer = self.execute(workload, exec);
        crate::run::continuation::resume_named(&self.engine, workload, &outer, exec, &oracle)
    }

    fn available(&self) -> Result<(), String> {
        self.engine.available()
    }

    fn release(&self) {
        self.engine.release()
    }
}

/// A [`KvEngine`] as a [`Target`].
pub struct KvTarget<E> {
    engine: E,
    info: TargetInfo,
}

impl<E: KvEngine> KvTarget<E> {
    /// Wraps `engine`.
    pub fn new(engine: E) -> Self {
        let info = engine.info();
        assert_eq!(
            info.vocabulary,
            Vocabulary::Kv,
            "a KvEngine speaks the kv vocabulary"
        );
        KvTarget { engine, info }
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }
}

impl<E: KvEngine> Target for KvTarget<E> {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    fn run(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Outcome, RunError> {
        let oracle = oracle.for_device(self.info.limits.tear_bytes);
        crate::run::kv::run(&self.engine, &self.info, workload, exec, &oracle)
    }

    fn execute(&self, workload: &Workload, exec: &ExecOptions) -> Execution {
        crate::run::kv::execute(&self.engine, &self.info, workload, exec).0
    }

    fn resume(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Option<Resumed>, replay::ReplayError> {
        let oracle = oracle.for_device(self.info.limits.tear_bytes);
        let outer = self.execute(workload, exec);
        crate::run::kv::resume_named(&self.engine, &self.info, workload, &outer, &oracle)
    }
}

/// A [`FilesEngine`] (a copy-on-write file system) as a [`Target`].
pub struct FilesTarget<E> {
    engine: E,
    info: TargetInfo,
}

impl<E: FilesEngine> FilesTarget<E> {
    /// Wraps `engine`.
    pub fn new(engine: E) -> Self {
        let info = engine.info();
        assert!(
            info.vocabulary == Vocabulary::Fs
                && info.contract.file_updates == crate::target::FileUpdates::CopyOnWrite,
            "a FilesEngine speaks the fs vocabulary with copy-on-write files"
        );
        FilesTarget { engine, info }
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }
}

impl<E: FilesEngine> Target for FilesTarget<E> {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    fn run(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Outcome, RunError> {
        let oracle = oracle.for_device(self.info.limits.tear_bytes);
        crate::run::files::run(&self.engine, &self.info, workload, exec, &oracle)
    }

    fn execute(&self, workload: &Workload, exec: &ExecOptions) -> Execution {
        crate::run::files::execute(&self.engine, &self.info, workload, exec).0
    }

    fn resume(
        &self,
        workload: &Workload,
        exec: &ExecOptions,
        oracle: &OracleOptions,
    ) -> Result<Option<Resumed>, replay::ReplayError> {
        let oracle = oracle.for_device(self.info.limits.tear_bytes);
        let outer = self.execute(workload, exec);
        crate::run::files::resume_named(&self.engine, &self.info, workload, &outer, &oracle)
    }
}
