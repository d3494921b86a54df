//! Fuzz campaigns against the example targets: brownout finds the naive
//! store's broken atomicity and nothing wrong with the write-ahead log.

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::workload::{CrashMode, FuzzConfig};
use std::sync::atomic::AtomicBool;

fn register() {
    for t in brownout_examples::targets() {
        brownout::register(t);
    }
}

/// A seeded, bounded campaign on one thread that stops at the first
/// finding.
fn campaign(
    target: &str,
    mode: CrashMode,
    seed: u64,
    execs: u64,
    oracle: OracleOptions,
) -> Summary {
    register();
    let opts = FuzzOptions {
        config: FuzzConfig {
            target: target.to_string(),
            mode,
            max_ops: 24,
            ..FuzzConfig::default()
        },
        seed,
        execs: Some(execs),
        time: None,
        jobs: 1,
        keep_going: false,
        exec: ExecOptions::default(),
        oracle: OracleOptions { seed, ..oracle },
        seeds: Vec::new(),
    };
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}

/// Asserts a campaign found nothing, showing the finding if it did.
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
fn targets_are_registered_by_name() {
    register();
    for name in ["example-inplace", "example-wal"] {
        let t = brownout::campaign::registry::lookup(name).expect("registered");
        assert_eq!(t.info().name, name);
        assert_eq!(t.info().limits.device_bytes, 256 << 10);
    }
}

#[test]
fn inplace_breaks_atomicity_in_prefix_mode() {
    let s = campaign(
        "example-inplace",
        CrashMode::Prefix,
        1,
        300,
        OracleOptions::default(),
    );
    assert_eq!(s.error, None);
    let case = s
        .found
        .first()
        .expect("brownout finds the naive store's torn transaction");
    assert_eq!(
        case.finding.rule,
        brownout::Rule::StaleData,
        "{:?}",
        case.finding
    );
}

#[test]
fn wal_is_clean_in_prefix_mode() {
    assert_clean(&campaign(
        "example-wal",
        CrashMode::Prefix,
        2,
        200,
        OracleOptions::default(),
    ));
}

#[test]
fn wal_is_clean_in_reorder_mode() {
    assert_clean(&campaign(
        "example-wal",
        CrashMode::Reorder,
        3,
        200,
        OracleOptions::default(),
    ));
}

#[test]
fn wal_is_clean_in_torn_mode() {
    assert_clean(&campaign(
        "example-wal",
        CrashMode::Torn,
        4,
        200,
        OracleOptions::default(),
    ));
}

#[test]
fn wal_is_clean_with_crashes_during_recovery() {
    let oracle = OracleOptions {
        recovery_crashes: 1,
        ..OracleOptions::default()
    };
    assert_clean(&campaign("example-wal", CrashMode::Torn, 5, 300, oracle));
}
