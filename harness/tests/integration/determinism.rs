//! Same workload, same log, byte for byte; same seed, same finding.

use crate::common;

use brownout::campaign::fuzz_loop::generate;
use brownout::campaign::registry::execute_workload;
use brownout::run::execute::ExecOptions;
use brownout::workload::{Barrier, Bugs};
use brownout::workload::{CrashMode, FuzzConfig};

#[test]
fn executions_are_byte_for_byte_identical() {
    let cfg = FuzzConfig {
        target: brownout::workload::DEFAULT_TARGET.to_string(),
        max_ops: 40,
        ..FuzzConfig::default()
    };
    for i in 0..200 {
        let w = generate(7, i, &cfg);
        let a = execute_workload(&w, &ExecOptions::default()).unwrap();
        let b = execute_workload(&w, &ExecOptions::default()).unwrap();
        let (mut la, mut lb) = (Vec::new(), Vec::new());
        a.log.write_native(&mut la).unwrap();
        b.log.write_native(&mut lb).unwrap();
        assert_eq!(la, lb, "execution {i} differs");
        assert_eq!(a.finding, b.finding);
    }
}

#[test]
fn campaigns_with_the_same_seed_find_the_same_thing() {
    let bug = fs_under_test::Bug::FdatasyncSkipsSize;
    let a = common::campaign(
        Bugs::one(bug.name()),
        Barrier::Stable,
        CrashMode::Prefix,
        3,
        5000,
        false,
    );
    let b = common::campaign(
        Bugs::one(bug.name()),
        Barrier::Stable,
        CrashMode::Prefix,
        3,
        5000,
        false,
    );
    let key = |s: &brownout::campaign::fuzz_loop::Summary| {
        s.found
            .first()
            .map(|c| (c.exec, c.finding.clone(), c.workload.clone()))
    };
    assert!(key(&a).is_some());
    assert_eq!(key(&a), key(&b));
}
