//! Zero false positives: with no bug switch on, a fixed, seeded budget of
//! fuzzing finds nothing, in every crash mode and under both barrier
//! contracts, continuations after crashes included. The budgets are in
//! executions (deterministic) and sized so the file takes a minute or two
//! of CI: a regression gate. The soaks that give the zero-false-positive
//! claim its weight run outside `cargo test` (`brownout bench
//! --clean-time 600`, README "Clean soaks").

use crate::common;

use brownout::workload::CrashMode;
use brownout::workload::{Barrier, Bugs};

fn assert_clean(mode: CrashMode, barrier: Barrier, execs: u64) {
    let s = common::campaign(Bugs::none(), barrier, mode, 0xC1EA, execs, true);
    assert_eq!(s.error, None);
    assert_eq!(s.execs, execs);
    if let Some(case) = s.found.first() {
        panic!(
            "false positive in {mode} mode (barrier {barrier}), execution {}:\n{}\n{}",
            case.exec,
            case.finding,
            case.workload.to_text()
        );
    }
    assert!(s.crash_states > execs, "crash states were checked");
}

#[test]
fn clean_corpus_mutations() {
    // `--corpus`: the seeds, then mutations of them (spliced, reordered,
    // with operations on files not yet created), must stay clean too.
    let s = common::campaign_with_seeds(
        Bugs::none(),
        Barrier::Stable,
        CrashMode::Reorder,
        0xC0E5,
        150,
        true,
        true,
    );
    assert_eq!(s.error, None);
    if let Some(case) = s.found.first() {
        panic!(
            "false positive from a corpus mutation, execution {}:\n{}\n{}",
            case.exec,
            case.finding,
            case.workload.to_text()
        );
    }
}

#[test]
fn clean_prefix() {
    assert_clean(CrashMode::Prefix, Barrier::Stable, 1500);
}

#[test]
fn clean_reorder() {
    assert_clean(CrashMode::Reorder, Barrier::Stable, 300);
}

#[test]
fn clean_torn() {
    assert_clean(CrashMode::Torn, Barrier::Stable, 100);
}

#[test]
fn clean_barrier_complete() {
    assert_clean(CrashMode::Reorder, Barrier::Complete, 200);
}
