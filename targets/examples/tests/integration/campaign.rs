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

/// A recovery that appends after a torn tail instead of cutting it off
/// (planted in a test adapter of `example-wal`): every record written
/// after the recovery sits behind garbage, and a second crash loses them.
/// Only crash and continue shows it; the same campaign on the correct log
/// is clean.
#[test]
fn a_wal_that_appends_after_its_torn_tail_is_caught_by_continuing() {
    const PLANTED: &str = "test-wal-appends-after-torn-tail";
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let engine = brownout_examples::wal::Wal {
            name: PLANTED,
            appends_after_torn_tail: true,
        };
        brownout::register(Box::leak(Box::new(brownout::KvTarget::new(engine))));
    });
    let oracle = |continue_states| OracleOptions {
        continue_states,
        ..OracleOptions::default()
    };
    let without = campaign(PLANTED, CrashMode::Torn, 7, 150, oracle(0));
    assert!(without.found.is_empty(), "found without continuing");
    let with = campaign(PLANTED, CrashMode::Torn, 7, 150, oracle(2));
    let case = with.found.first().expect("found by crash and continue");
    let state = case.finding.state.clone().unwrap_or_default();
    assert!(state.contains('+'), "{}", case.finding);
    // `--state OUTER+INNER` replays it.
    let again = brownout::campaign::registry::run_workload(
        &case.workload,
        &ExecOptions::default(),
        &OracleOptions {
            only_state: Some(state.clone()),
            ..OracleOptions::default()
        },
    )
    .unwrap();
    assert_eq!(again.finding.map(|f| f.state), Some(Some(state)));
    assert_clean(&campaign(NAME_WAL, CrashMode::Torn, 7, 150, oracle(2)));
}

const NAME_WAL: &str = brownout_examples::wal::NAME;
