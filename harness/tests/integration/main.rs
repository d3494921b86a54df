//! The harness's integration tests.
//! One binary (a single link; the files' tests run in parallel), a
//! module per file.

#[path = "../bad_inputs/mod.rs"]
mod bad_inputs;
#[path = "../common/mod.rs"]
mod common;

mod buckets;
mod clean_fuzz;
mod corpus;
mod determinism;
mod files_engine;
mod reach;
mod recovery_crashes;
mod robustness;
mod svg;
mod variants;
