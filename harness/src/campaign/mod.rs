//! Campaigns over many workloads: the fuzz loop and its mutator, buckets
//! of findings, the minimiser, the corpus check, reproducer files, and the
//! bodies of the cargo-fuzz targets.

pub mod bucket;
pub mod corpus;
pub mod fuzz_loop;
pub mod fuzz_targets;
pub mod minimize;
pub mod mutate;
pub mod registry;
pub mod reproducer;
