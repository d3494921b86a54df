//! A bounded, seeded campaign against ekv 1.0.0 (the current release):
//! brownout must keep finding the meta-page rollover of FINDINGS.md on its
//! own, from an empty corpus, in the default campaign.

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions};
use brownout::Rule;
use std::sync::atomic::AtomicBool;

#[test]
fn the_default_campaign_finds_the_meta_page_rollover() {
    for t in brownout_ekv::targets() {
        brownout::register(t);
    }
    let mut opts = FuzzOptions::new("ekv");
    opts.seed = 1;
    opts.execs = Some(20);
    opts.oracle.seed = 1;
    let s = fuzz(&opts, &Counters::default(), &AtomicBool::new(false));
    assert_eq!(s.error, None);
    let case = s.found.first().expect("a finding within 20 executions");
    assert!(
        matches!(
            case.finding.rule,
            Rule::AckedData | Rule::StaleData | Rule::Recovery
        ),
        "{}",
        case.finding
    );
}
