//! Bounded, seeded campaigns against littlefs v2.9.3, every bucket kept
//! (`--keep-going`): in each crash mode brownout finds the pending-move
//! listing bug of FINDINGS.md (finding 1) on its own, and nothing else,
//! so a false positive, or a new bug, fails here. The long hunts are
//! `brownout fuzz --target littlefs` (see targets/README.md).

#![cfg(feature = "littlefs")]

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::workload::CrashMode;
use std::sync::atomic::AtomicBool;

fn campaign(mode: CrashMode, seed: u64, execs: u64) -> Summary {
    for t in brownout_littlefs::targets() {
        brownout::register(t);
    }
    let mut opts = FuzzOptions::new("littlefs");
    opts.seed = seed;
    opts.execs = Some(execs);
    opts.keep_going = true;
    opts.oracle.seed = seed;
    opts.config.mode = mode;
    opts.oracle.passes = Vec::new();
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}

/// Every bucket is finding 1: a crash inside a rename, and the tree read
/// back lacks a file.
fn only_the_pending_move(s: &Summary) {
    assert_eq!(s.error, None);
    assert!(s.crash_states > 0);
    assert!(!s.buckets.is_empty(), "finding 1 not found");
    for b in &s.buckets {
        let f = &b.case.finding;
        assert!(
            b.signature.op == "rename" && f.observed.is_some(),
            "a bucket that is not finding 1: {f}\n{}",
            b.case.workload.to_text()
        );
    }
}

#[test]
fn prefix_finds_the_pending_move_and_nothing_else() {
    only_the_pending_move(&campaign(CrashMode::Prefix, 1, 1500));
}

#[test]
fn reorder_finds_the_pending_move_and_nothing_else() {
    only_the_pending_move(&campaign(CrashMode::Reorder, 4, 200));
}
