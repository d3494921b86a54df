//! Buckets of findings (`--keep-going`): a bug's hits share a signature,
//! the signature survives minimisation, each bucket has one reproducer
//! file, and two bugs give two buckets.

use crate::common;

use brownout::campaign::fuzz_loop::{fuzz_with, Counters};
use brownout::campaign::minimize::minimize_in_bucket;
use brownout::campaign::registry::run_workload;
use brownout::finding::Signature;
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::workload::{Barrier, Bugs, CrashMode, Workload};
use std::sync::atomic::AtomicBool;

/// Minimising a bug's reproducer within its bucket keeps its signature
/// (the point of building signatures only from what minimisation keeps).
#[test]
fn a_bucket_minimised_stays_the_same_bucket() {
    let (eo, oo) = (ExecOptions::default(), OracleOptions::default());
    let mut checked = 0;
    for path in brownout::campaign::corpus::list(&common::corpus_dir()).unwrap() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("bug-") {
            continue;
        }
        let w = Workload::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let target = w.header.target.clone();
        let before = run_workload(&w, &eo, &oo).unwrap().finding.expect(&name);
        let m = minimize_in_bucket(&w, &eo, &oo, 40).unwrap();
        assert_eq!(
            Signature::of(&target, &m.finding),
            Signature::of(&target, &before),
            "{name}"
        );
        assert!(m.workload.ops.len() <= w.ops.len(), "{name}");
        checked += 1;
    }
    assert!(checked >= 15, "{checked} bug reproducers");
}

/// Two bugs on at once: at least two buckets, every hit counted in one,
/// and exactly one reproducer file per bucket.
#[test]
fn two_bugs_two_buckets_one_file_each() {
    let bugs: Bugs = ["dsync-no-flush", "fsync-no-flush"].into_iter().collect();
    let mut opts =
        brownout::campaign::fuzz_loop::FuzzOptions::new(brownout::workload::DEFAULT_TARGET);
    opts.config.bugs = bugs;
    opts.config.barrier = Barrier::Stable;
    opts.config.mode = CrashMode::Reorder;
    opts.config.max_ops = 24;
    opts.oracle.passes.clear();
    opts.seed = 5;
    opts.execs = Some(60);
    opts.keep_going = true;
    let dir = tempfile::tempdir().unwrap();
    let s = fuzz_with(
        &opts,
        &Counters::default(),
        &AtomicBool::new(false),
        Some(dir.path()),
        &run_workload,
    );
    assert_eq!(s.error, None);
    assert!(s.buckets.len() >= 2, "{:?}", s.buckets);
    let hits: u64 = s.buckets.iter().map(|b| b.count).sum();
    assert!(hits >= s.buckets.len() as u64);
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, s.buckets.len());
    let mut signatures: Vec<_> = s.buckets.iter().map(|b| b.signature.clone()).collect();
    signatures.sort();
    signatures.dedup();
    assert_eq!(
        signatures.len(),
        s.buckets.len(),
        "one bucket per signature"
    );
    for b in &s.buckets {
        // The representative is the smallest hit, and its file is there.
        assert!(b.case.reproducer.as_ref().is_some_and(|p| p.exists()));
        assert_eq!(
            Signature::of(&opts.config.target, &b.case.finding),
            b.signature
        );
        assert!(b.first_exec <= b.case.exec);
    }
}
