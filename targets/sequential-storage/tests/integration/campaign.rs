//! Bounded, seeded campaigns against the current sequential-storage
//! release. Between flash calls (`prefix`, the default campaign with its
//! sampled passes; `reorder`), recovery crashes and crash-and-continue on:
//! no finding (zero false positives on someone else's code). Inside flash
//! calls (`torn`): the interrupted erase of FINDINGS.md, finding 2, which
//! brownout must keep finding on its own. The long hunts are `brownout
//! fuzz --target sequential-storage` (see targets/README.md).

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::workload::CrashMode;
use brownout::Rule;
use std::sync::atomic::AtomicBool;

fn campaign(mode: Option<CrashMode>, seed: u64, execs: u64) -> Summary {
    for t in brownout_sequential_storage::targets() {
        brownout::register(t);
    }
    let mut opts = FuzzOptions::new("sequential-storage");
    opts.seed = seed;
    opts.execs = Some(execs);
    opts.oracle.seed = seed;
    if let Some(mode) = mode {
        // One mode alone, without the default campaign's sampled passes.
        opts.config.mode = mode;
        opts.oracle.passes = Vec::new();
    }
    fuzz(&opts, &Counters::default(), &AtomicBool::new(false))
}

fn assert_clean(s: &Summary) {
    assert_eq!(s.error, None);
    if let Some(case) = s.found.first() {
        panic!(
            "execution {}: {:?}\n{}",
            case.exec,
            case.finding.to_string(),
            case.workload.to_text()
        );
    }
    assert!(s.crash_states > 0);
}

#[test]
fn the_default_campaign_is_clean() {
    for seed in [1, 2] {
        assert_clean(&campaign(None, seed, 120));
    }
}

#[test]
fn reorder_is_clean() {
    assert_clean(&campaign(Some(CrashMode::Reorder), 3, 60));
}

#[test]
fn torn_finds_the_interrupted_erase() {
    let s = campaign(Some(CrashMode::Torn), 1, 100);
    assert_eq!(s.error, None);
    let case = s.found.first().expect("finding 2 within 100 executions");
    assert!(
        matches!(case.finding.rule, Rule::AckedData | Rule::StaleData),
        "{}",
        case.finding
    );
}
