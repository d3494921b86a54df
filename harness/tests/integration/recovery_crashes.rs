//! Crash during recovery (`--recovery-crashes N`): the embedded core with
//! a recovery that writes (it checkpoints the journal home at mount), once
//! correct and once with a planted recovery bug that marks the journal
//! empty before the blocks it replayed are durable at home. The planted
//! bug is a test adapter's switch, not a catalogue variant.

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::targets::embedded::FsUnderTest;
use brownout::workload::{Barrier, Bugs, CrashMode, FuzzConfig};
use brownout::FsTarget;
use std::sync::atomic::AtomicBool;
use std::sync::Once;

const REPLAYING: &str = "test-replaying-recovery";
const PLANTED: &str = "test-recovery-skips-flush";

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, recovery_skips_flush) in [(REPLAYING, false), (PLANTED, true)] {
            let engine = FsUnderTest {
                name,
                checkpoint_on_mount: true,
                recovery_skips_flush,
                ..FsUnderTest::default()
            };
            brownout::register(Box::leak(Box::new(FsTarget::new(engine))));
        }
    });
}

fn campaign(target: &str, mode: CrashMode, recovery_crashes: u32, execs: u64) -> Summary {
    register();
    let opts = FuzzOptions {
        config: FuzzConfig {
            target: target.to_string(),
            bugs: Bugs::none(),
            barrier: Barrier::Stable,
            mode,
            max_ops: 24,
        },
        seed: 0x5EC0,
        execs: Some(execs),
        time: None,
        jobs: 1,
        keep_going: false,
        exec: ExecOptions::default(),
        // Crashes inside recovery alone: a continuation after the
        // recovery (a second crash once it is done) finds this bug too.
        oracle: OracleOptions {
            recovery_crashes,
            continue_states: 0,
            ..OracleOptions::default()
        },
        seeds: Vec::new(),
    };
    let s = fuzz(&opts, &Counters::default(), &AtomicBool::new(false));
    assert!(s.error.is_none(), "{:?}", s.error);
    s
}

#[test]
fn a_recovery_that_empties_the_journal_too_early_is_found_only_by_crashing_inside_it() {
    assert!(
        campaign(PLANTED, CrashMode::Reorder, 0, 100)
            .found
            .is_empty(),
        "without crashes inside recovery, the planted bug stays hidden"
    );
    let found = campaign(PLANTED, CrashMode::Reorder, 1, 400);
    let case = found
        .found
        .first()
        .expect("the planted recovery bug is found with --recovery-crashes 1");
    let state = case.finding.state.clone().unwrap_or_default();
    assert!(
        state.contains('/'),
        "the finding is in a nested crash state: {}",
        case.finding
    );
    // The same workload, checked without nested crashes, is clean: the
    // first recovery is correct when nothing interrupts it.
    let outcome = brownout::run_workload(
        &case.workload,
        &ExecOptions::default(),
        &OracleOptions {
            recovery_crashes: 0,
            continue_states: 0,
            ..OracleOptions::default()
        },
    )
    .unwrap();
    assert!(outcome.finding.is_none(), "{:?}", outcome.finding);
    // And `--state A/B` replays exactly that nested state.
    let again = brownout::run_workload(
        &case.workload,
        &ExecOptions::default(),
        &OracleOptions {
            recovery_crashes: 1,
            only_state: Some(state.clone()),
            ..OracleOptions::default()
        },
    )
    .unwrap();
    let f = again.finding.expect("the nested state reproduces");
    assert_eq!(f.state.as_deref(), Some(state.as_str()));
    assert_eq!(f.rule, case.finding.rule);
}

#[test]
fn a_correct_writing_recovery_survives_crashes_inside_it() {
    for (mode, execs) in [
        // A torn execution checks about 15,000 states, each with the
        // crash states of its recovery: one is plenty here.
        (CrashMode::Prefix, 200),
        (CrashMode::Reorder, 60),
        (CrashMode::Torn, 1),
    ] {
        let s = campaign(REPLAYING, mode, 1, execs);
        assert!(
            s.found.is_empty(),
            "{mode}: {}\n{}",
            s.found[0].finding,
            s.found[0].workload.to_text()
        );
        assert_eq!(s.execs, execs);
        if mode == CrashMode::Prefix {
            assert!(s.recovery_states > 0, "recovery's own writes were crashed");
        }
    }
}
