//! Every bug variant is found by a seeded fuzz run from an empty corpus,
//! with one of the rules BUGS.md expects for it.

mod common;

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
