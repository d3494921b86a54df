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
//! Layout, arrows pointing down only: [`finding`] and [`guard`] (used by
//! all) → [`target`] (the adapter API) → [`workload`] → [`model`] →
//! [`device`] → [`run`] → [`campaign`] → [`cli`]; [`targets`] holds the
//! adapters that ship with brownout.

pub mod campaign;
pub mod cli;
pub mod device;
pub mod finding;
pub mod guard;
pub mod model;
pub mod run;
pub mod target;
pub mod targets;
pub mod workload;

pub use campaign::fuzz_loop::{fuzz, FuzzOptions, Summary};
pub use finding::{Finding, Rule};
pub use run::check::OracleOptions;
pub use run::execute::ExecOptions;
pub use run::pipeline::{run_workload, Outcome, RunError};
pub use target::fs::{FsEngine, FsError, FsTarget};
pub use target::kv::{KvEngine, KvError, KvTarget};
pub use target::{register, DeviceModel, Target, TargetInfo, Vocabulary};
pub use workload::{CrashMode, FuzzConfig, Workload};
