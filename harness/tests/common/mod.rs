//! Helpers shared by the harness's integration tests.
#![allow(dead_code)]

use fs_under_test::{Barrier, BugSet};
use harness::executor::ExecOptions;
use harness::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use harness::oracle::OracleOptions;
use harness::workload::{CrashMode, FuzzConfig};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// A seeded, bounded fuzz campaign on one thread.
pub fn campaign(
    bugs: BugSet,
    barrier: Barrier,
    mode: CrashMode,
    seed: u64,
    execs: u64,
    keep_going: bool,
) -> Summary {
    let opts = FuzzOptions {
        config: FuzzConfig {
            bugs,
            barrier,
            mode,
            max_ops: 24,
        },
        seed,
        execs: Some(execs),
        time: None,
        jobs: 1,
        keep_going,
        exec: ExecOptions::default(),
        oracle: OracleOptions {
            seed,
            ..OracleOptions::default()
        },
    };
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}
