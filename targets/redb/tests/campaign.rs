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

fn campaign(mode: Option<CrashMode>, seed: u64, execs: u64) -> Summary {
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
        ..OracleOptions::default()
    };
    let opts = FuzzOptions {
        config: FuzzConfig {
            target: "redb".to_string(),
            mode: mode.unwrap_or_default(),
            max_ops: 24,
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
    assert_clean(&campaign(None, 1, 40));
}

#[test]
fn redb_is_clean_in_reorder_mode() {
    assert_clean(&campaign(Some(CrashMode::Reorder), 2, 15));
}

#[test]
fn redb_is_clean_in_torn_mode() {
    assert_clean(&campaign(Some(CrashMode::Torn), 3, 5));
}
