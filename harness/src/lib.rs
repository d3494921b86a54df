//! brownout: crash-consistency fuzzing for storage code.
//!
//! A [`Target`] is storage code plus a small adapter ([`target`]): its
//! device model, its workload vocabulary and its contract. brownout
//! generates workloads in that vocabulary, runs them on a recording device
//! ([`device`]), rebuilds every crash state the log allows (`replay`),
//! recovers each one and holds it to the contract through a reference
//! model ([`model`], [`run`]). [`campaign`] fuzzes, minimises and replays
//! corpora; [`cli::main`] is the whole `brownout` command line for any
//! list of targets.
//!
//! Layout, each module using only those before it: [`finding`] and
//! [`guard`] (used by all), [`device`] (the recorders), [`target`] (what a
//! target declares), [`workload`] (vocabularies, text, generation),
//! [`engine`] (the adapter traits), [`model`] (what a crash may leave),
//! [`run`] (execute one workload, check its crash states; the runnable
//! [`Target`]), [`targets`] (the adapters that ship with brownout),
//! [`campaign`] (the registry, fuzz loop, minimiser, corpus), [`cli`].

pub mod campaign;
pub mod cli;
pub mod device;
pub mod engine;
pub mod finding;
pub mod guard;
pub mod model;
pub mod run;
pub mod target;
pub mod targets;
pub mod workload;

pub use campaign::fuzz_loop::{fuzz, FuzzOptions, Summary};
pub use campaign::registry::{register, run_workload};
pub use engine::files::{FilesEngine, FilesError};
pub use engine::fs::{FsEngine, FsError};
pub use engine::kv::{KvEngine, KvError};
pub use finding::{Finding, Rule};
pub use run::check::OracleOptions;
pub use run::execute::ExecOptions;
pub use run::pipeline::{Outcome, RunError};
pub use run::target::{FilesTarget, FsTarget, KvTarget, Target};
pub use target::{DeviceModel, TargetInfo, Vocabulary};
pub use workload::{CrashMode, FuzzConfig, Workload};
