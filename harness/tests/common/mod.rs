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
    campaign_with_seeds(bugs, barrier, mode, seed, execs, keep_going, false)
}

/// Every workload of `corpus/`, as seeds of a campaign with `config`.
pub fn corpus_seeds(config: &FuzzConfig) -> Vec<harness::workload::Workload> {
    harness::corpus::list(&corpus_dir())
        .unwrap()
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let w = harness::workload::Workload::parse(&text).unwrap();
            harness::mutate::as_seed(w, config)
        })
        .collect()
}

/// A campaign as above, seeded with `corpus/` (`--corpus`) if `seeded`.
pub fn campaign_with_seeds(
    bugs: BugSet,
    barrier: Barrier,
    mode: CrashMode,
    seed: u64,
    execs: u64,
    keep_going: bool,
    seeded: bool,
) -> Summary {
    let config = FuzzConfig {
        bugs,
        barrier,
        mode,
        max_ops: 24,
    };
    let seeds = if seeded {
        corpus_seeds(&config)
    } else {
        Vec::new()
    };
    let opts = FuzzOptions {
        config,
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
        seeds,
    };
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}

/// The `brownout` binary, with no `BROWNOUT_*` variable inherited (the
/// cargo-fuzz target's configuration must not leak into CLI tests).
pub fn brownout_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_brownout"));
    for var in [
        "BROWNOUT_BUGS",
        "BROWNOUT_BARRIER",
        "BROWNOUT_MODE",
        "BROWNOUT_MAX_OPS",
    ] {
        c.env_remove(var);
    }
    c
}
