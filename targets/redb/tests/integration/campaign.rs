//! Bounded, seeded campaigns against the current redb release in every
//! crash mode, recovery crashes and crash-and-continue on (the defaults):
//! none may report a finding (zero false positives on someone else's
//! code). The long hunts are `brownout fuzz --target redb` (see
//! targets/README.md).

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::workload::{CrashMode, FuzzConfig};
use std::sync::atomic::AtomicBool;

fn campaign(mode: Option<CrashMode>, seed: u64, execs: u64, max_ops: usize) -> Summary {
    campaign_with(mode, seed, execs, max_ops, OracleOptions::default())
}

fn campaign_with(
    mode: Option<CrashMode>,
    seed: u64,
    execs: u64,
    max_ops: usize,
    oracle: OracleOptions,
) -> Summary {
    for t in brownout_redb::targets() {
        brownout::register(t);
    }
    let oracle = OracleOptions {
        seed,
        // No mode: the default campaign (prefix plus the sampled passes).
        passes: match mode {
            None => brownout::run::check::DEFAULT_PASSES.to_vec(),
            Some(_) => Vec::new(),
        },
        ..oracle
    };
    let opts = FuzzOptions {
        config: FuzzConfig {
            target: "redb".to_string(),
            mode: mode.unwrap_or_default(),
            max_ops,
            ..FuzzConfig::default()
        },
        seed,
        execs: Some(execs),
        time: None,
        jobs: 1,
        keep_going: false,
        exec: ExecOptions::default(),
        oracle,
        seeds: Vec::new(),
    };
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}

fn assert_clean(s: &Summary) {
    assert_eq!(s.error, None);
    if let Some(case) = s.found.first() {
        panic!(
            "execution {}: {:?}\n{}",
            case.exec,
            case.finding,
            case.workload.to_text()
        );
    }
    assert!(s.crash_states > 0, "crash states were checked");
}

#[test]
fn redb_is_clean_in_the_default_campaign() {
    assert_clean(&campaign(None, 1, 30, 24));
}

#[test]
fn redb_is_clean_in_reorder_mode() {
    assert_clean(&campaign(Some(CrashMode::Reorder), 2, 8, 24));
}

/// Torn mode tears every pending page write at every sector, in every
/// subset of the volatile writes, and crashes inside redb's repair of
/// each (its repair writes many pages: 7 recovery states per crash
/// state). A few short workloads with recovery crashes off (the default
/// campaign above has them) already check thousands of states.
#[test]
fn redb_is_clean_in_torn_mode() {
    let oracle = OracleOptions {
        recovery_crashes: 0,
        ..OracleOptions::default()
    };
    assert_clean(&campaign_with(Some(CrashMode::Torn), 3, 3, 12, oracle));
}
