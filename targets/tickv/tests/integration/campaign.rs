//! A bounded, seeded campaign against tickv 2.0.0 (the current release):
//! brownout must keep finding FINDINGS.md's bugs on its own, from an empty
//! corpus, in the default campaign; and the generator must respect that
//! tickv never overwrites (every put to a present key is preceded by a
//! committed remove).

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions};
use brownout::Rule;
use std::sync::atomic::AtomicBool;

#[test]
fn the_default_campaign_finds_a_refused_or_lost_append() {
    for t in brownout_tickv::targets() {
        brownout::register(t);
    }
    let mut opts = FuzzOptions::new("tickv");
    opts.seed = 1;
    opts.execs = Some(50);
    opts.oracle.seed = 1;
    let s = fuzz(&opts, &Counters::default(), &AtomicBool::new(false));
    assert_eq!(s.error, None);
    let case = s.found.first().expect("a finding within 50 executions");
    assert_eq!(case.finding.rule, Rule::ReadYourWrites, "{}", case.finding);
}
