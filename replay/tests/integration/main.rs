//! replay's integration tests.
//! One binary (a single link; the files' tests run in parallel), a
//! module per file.

#[path = "../common/mod.rs"]
mod common;

mod formats;
mod incremental;
mod states;
