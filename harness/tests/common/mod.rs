//! Helpers shared by the harness's integration tests.
#![allow(dead_code)]

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::workload::{Barrier, Bugs};
use brownout::workload::{CrashMode, FuzzConfig};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// A seeded, bounded fuzz campaign on one thread.
pub fn campaign(
    bugs: Bugs,
    barrier: Barrier,
    mode: CrashMode,
    seed: u64,
    execs: u64,
    keep_going: bool,
) -> Summary {
    campaign_with_seeds(bugs, barrier, mode, seed, execs, keep_going, false)
}

/// Every workload of `corpus/`, as seeds of a campaign with `config`.
pub fn corpus_seeds(config: &FuzzConfig) -> Vec<brownout::workload::Workload> {
    brownout::campaign::corpus::list(&corpus_dir())
        .unwrap()
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let w = brownout::workload::Workload::parse(&text).unwrap();
            brownout::campaign::mutate::as_seed(w, config)
        })
        .collect()
}

/// A campaign as above, seeded with `corpus/` (`--corpus`) if `seeded`.
pub fn campaign_with_seeds(
    bugs: Bugs,
    barrier: Barrier,
    mode: CrashMode,
    seed: u64,
    execs: u64,
    keep_going: bool,
    seeded: bool,
) -> Summary {
    let config = FuzzConfig {
        target: brownout::workload::DEFAULT_TARGET.to_string(),
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
