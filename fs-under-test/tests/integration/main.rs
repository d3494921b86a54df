//! The embedded core's integration tests.
//! One binary (a single link; the files' tests run in parallel), a
//! module per file.

// FsError carries a whole DeadlockReport on purpose (see the crate root).
#![allow(clippy::result_large_err)]

#[path = "../common/mod.rs"]
mod common;

mod bugs;
mod crash;
mod model;
mod robust;
mod smoke;
