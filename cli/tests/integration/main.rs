//! The command line's integration tests: the binary run as a user runs it.
//! One binary (a single link; the files' tests run in parallel), a
//! module per file.

#[path = "../common/mod.rs"]
mod common;

mod cli_errors;
mod fuzz_process;
mod fuzz_targets;
mod linux;
mod targets;
