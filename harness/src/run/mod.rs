//! Running one workload on one target: execute it (run-time rules 6–8),
//! then check every crash state of its log (rules 1–5), per vocabulary.

pub mod check;
pub mod continuation;
pub mod execute;
pub mod files;
mod kept;
pub mod kv;
pub mod pipeline;
pub mod show;
pub mod svg;
pub mod target;
