//! `harness`: brownout's workload model, deterministic executor, recording
//! device, reference model and oracle, fuzz loop and CLI support.

pub mod corpus;
pub mod device;
pub mod executor;
pub mod finding;
pub mod fuzz_loop;
pub mod fuzz_targets;
pub mod guard;
pub mod minimize;
pub mod model;
pub mod mutate;
pub mod oracle;
pub mod pipeline;
pub mod reproducer;
pub mod rule;
pub mod show;
pub mod variants;
pub mod workload;
pub mod workload_bytes;
