//! Every bug variant is found by a seeded fuzz run from an empty corpus,
//! with one of the rules BUGS.md expects for it.

use crate::common;

use brownout::targets::embedded::variants::HUNTS;
use brownout::workload::Bugs;

#[test]
fn every_variant_is_found() {
    let mut missed = Vec::new();
    for h in HUNTS {
        let s = common::campaign(Bugs::one(h.bug.name()), h.barrier, h.mode, 1, 20_000, false);
        assert_eq!(s.error, None);
        match s.found.first() {
            Some(case) if h.rules.contains(&case.finding.rule) => {}
            Some(case) => missed.push(format!(
                "{}: found {} instead of {:?}:\n{}",
                h.bug, case.finding.rule, h.rules, case.finding
            )),
            None => missed.push(format!("{}: not found in {} executions", h.bug, s.execs)),
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

/// The default campaign (no `--mode`) finds the flush omissions that prefix
/// states cannot show: its sampled pass holds the state that loses the
/// volatile cache at every position.
#[test]
fn the_default_mix_finds_flush_omissions_prefix_cannot() {
    use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions};
    use std::sync::atomic::AtomicBool;
    for bug in ["fsync-no-flush", "checkpoint-no-flush"] {
        let mut opts = FuzzOptions::new(brownout::workload::DEFAULT_TARGET);
        opts.config.bugs = Bugs::one(bug);
        opts.seed = 1;
        opts.execs = Some(300);
        let s = fuzz(&opts, &Counters::default(), &AtomicBool::new(false));
        let case = s
            .found
            .first()
            .unwrap_or_else(|| panic!("{bug}: not found"));
        assert!(s.sampled_states > 0);
        // Saved in the mode of the pass that found it, so it replays.
        assert_ne!(
            case.workload.header.mode,
            brownout::workload::CrashMode::Prefix
        );
        let again = brownout::campaign::registry::run_workload(
            &case.workload,
            &opts.exec,
            &brownout::run::check::OracleOptions::default(),
        )
        .unwrap();
        assert!(again.finding.is_some(), "{bug}: reproducer replays clean");

        // Prefix states alone (no sampled pass, no continuation, whose
        // checks include lost-cache states) cannot see it.
        opts.oracle.passes.clear();
        opts.oracle.continue_states = 0;
        let s = fuzz(&opts, &Counters::default(), &AtomicBool::new(false));
        assert!(s.found.is_empty(), "{bug}: prefix alone found it");
        assert_eq!(s.sampled_states, 0);
    }
}
