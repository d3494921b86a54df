//! A bounded, seeded campaign against ekv 1.0.0 (the current release):
//! brownout must keep finding the meta-page rollover of FINDINGS.md on its
//! own, from an empty corpus, in the default campaign.

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions};
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::workload::FuzzConfig;
use brownout::Rule;
use std::sync::atomic::AtomicBool;

#[test]
fn the_default_campaign_finds_the_meta_page_rollover() {
    for t in brownout_ekv::targets() {
        brownout::register(t);
    }
    let opts = FuzzOptions {
        config: FuzzConfig {
            target: "ekv".to_string(),
            max_ops: 256,
            ..FuzzConfig::default()
        },
        seed: 1,
        execs: Some(20),
        time: None,
        jobs: 1,
        keep_going: false,
        exec: ExecOptions::default(),
        oracle: OracleOptions {
            seed: 1,
            passes: brownout::run::check::DEFAULT_PASSES.to_vec(),
            ..OracleOptions::default()
        },
        seeds: Vec::new(),
    };
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
