//! Robustness of the harness (issue 6): every bad workload text is a typed
//! error naming its line; the step budget turns a runaway mount into a
//! finding, not a hang; a panic while running a workload is a finding that
//! keeps the fuzz loop going; the per-execution bounds exist and are
//! reported.

use brownout::campaign::fuzz_loop::{fuzz_with, Counters, FuzzOptions};
use brownout::campaign::registry::run_workload;
use brownout::finding::Rule;
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::run::pipeline::{Outcome, RunError};
use brownout::workload::{Barrier, Bugs};
use brownout::workload::{
    CrashMode, FuzzConfig, ParseError, Workload, FILE_LIMIT, MAX_FILES, MAX_IO, MAX_OPS,
};
use fs_under_test::Bug;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::bad_inputs::bad_workloads;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

#[test]
fn bad_workload_texts_are_typed_errors_naming_the_line() {
    let cases = bad_workloads();
    for (text, line, needle) in &cases {
        match brownout::campaign::registry::parse_workload(text) {
            Err(ParseError { line: l, message }) => {
                assert_eq!(l, *line, "{text:?}: {message}");
                assert!(
                    message.contains(needle),
                    "{text:?}: `{message}` lacks `{needle}`"
                );
            }
            Ok(w) => panic!("{text:?} parsed: {w:?}"),
        }
    }
    // The good counterparts parse.
    for text in [
        "dio-write f0 1 4096 misaligned\n",
        "bugs: dsync-no-flush, fsync-no-flush\nexpect: 2\n",
        "expect: clean\n",
        &format!("write f0 {} 1\n", FILE_LIMIT - 1),
        &"syncfs\n".repeat(MAX_OPS),
    ] {
        Workload::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
    eprintln!("bad workload texts: {} cases", cases.len());
}

fn load(name: &str) -> Workload {
    Workload::parse(&std::fs::read_to_string(corpus_dir().join(name)).unwrap()).unwrap()
}

/// The step budget bounds mount and recovery: a budget too small for a
/// filesystem is a rule-1 finding "did not finish in N steps", never a
/// hang, and never any other finding.
#[test]
fn step_budget_is_a_finding_not_a_hang() {
    let w = load("clean-every-op-prefix.workload");
    let (mut fresh, mut recovery, mut clean) = (0, 0, 0);
    for budget in (1..=100).chain([1_000, 1_000_000]) {
        let eo = ExecOptions {
            step_budget: budget,
        };
        let out = run_workload(&w, &eo, &OracleOptions::default()).unwrap();
        match out.finding {
            None => clean += 1,
            Some(f) => {
                let text = format!("did not finish in {budget} steps");
                assert!(f.message.contains(&text), "budget {budget}: {f}");
                assert!(
                    matches!(f.rule, Rule::Recovery | Rule::ReadYourWrites),
                    "{f}"
                );
                if f.state.is_some() {
                    assert!(f.message.starts_with("recovery did not finish"), "{f}");
                    recovery += 1;
                } else {
                    fresh += 1;
                }
            }
        }
    }
    assert!(
        fresh > 0 && recovery > 0 && clean > 0,
        "{fresh} {recovery} {clean}"
    );
    eprintln!("step budgets: {fresh} fresh-mount, {recovery} recovery findings, {clean} clean");
}

fn options(bugs: Bugs, execs: u64, keep_going: bool) -> FuzzOptions {
    FuzzOptions {
        config: FuzzConfig {
            target: brownout::workload::DEFAULT_TARGET.to_string(),
            bugs,
            barrier: Barrier::Stable,
            mode: CrashMode::Prefix,
            max_ops: 24,
        },
        seeds: Vec::new(),
        seed: 7,
        execs: Some(execs),
        time: None,
        jobs: 2,
        keep_going,
        exec: ExecOptions::default(),
        oracle: OracleOptions::default(),
    }
}

/// Stands in for a filesystem that panics on some workloads.
fn sometimes_panics(
    w: &Workload,
    eo: &ExecOptions,
    oo: &OracleOptions,
) -> Result<Outcome, RunError> {
    if w.ops.len().is_multiple_of(3) {
        let v: Vec<u8> = Vec::new();
        let _ = v[w.ops.len()];
    }
    if w.ops.len() % 3 == 1 {
        panic!("journal replay went wrong: {} ops", w.ops.len());
    }
    run_workload(w, eo, oo)
}

#[test]
fn a_panic_is_a_finding_and_the_workers_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(Bugs::none(), 60, true);
    let counters = Counters::default();
    let s = fuzz_with(
        &opts,
        &counters,
        &AtomicBool::new(false),
        Some(dir.path()),
        &sometimes_panics,
    );
    assert!(s.error.is_none(), "{:?}", s.error);
    // Every execution ran: the panics did not stop the workers.
    assert_eq!(s.execs, 60);
    // Two panic sites, two buckets, every hit counted in one, and one
    // reproducer file per bucket.
    assert_eq!(s.buckets.len(), 2, "{:?}", s.buckets);
    assert_eq!(s.found.len(), 2);
    let hits: u64 = s.buckets.iter().map(|b| b.count).sum();
    assert!(hits >= 20, "{hits}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    for case in &s.found {
        let p = case.finding.panic.as_deref().expect("a panic finding");
        assert!(
            p.contains("index out of bounds") || p.contains("journal replay went wrong"),
            "{p}"
        );
        assert!(p.contains("robustness.rs:"), "no location in {p}");
        assert!(
            case.finding.message.contains("panicked"),
            "{}",
            case.finding
        );
        // Written before it was reported, and readable.
        let path = case.reproducer.as_ref().expect("saved");
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("panic:"), "{text}");
        Workload::parse(&text).unwrap();
    }
    // Without --keep-going: the first panic (lowest execution) stops it.
    let opts = options(Bugs::none(), 60, false);
    let s = fuzz_with(
        &opts,
        &Counters::default(),
        &AtomicBool::new(false),
        None,
        &sometimes_panics,
    );
    assert_eq!(s.found.len(), 1);
    assert!(s.found[0].finding.panic.is_some());
}

#[test]
fn no_panic_no_finding_and_memory_is_reported() {
    let opts = options(Bugs::none(), 40, true);
    let dir = tempfile::tempdir().unwrap();
    let s = fuzz_with(
        &opts,
        &Counters::default(),
        &AtomicBool::new(false),
        Some(dir.path()),
        &run_workload,
    );
    assert!(s.found.is_empty() && s.error.is_none());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // Bounded figures: at most max_ops operations of at most MAX_IO bytes,
    // plus the filesystem's own writes, all within the device's size per
    // pass over it; the image is the device.
    let info = brownout::campaign::registry::lookup(brownout::workload::DEFAULT_TARGET)
        .unwrap()
        .info();
    assert_eq!(s.image_bytes, info.limits.device_bytes);
    assert_eq!(s.max_ops, 24);
    assert!(s.max_log_bytes > 0 && s.max_log_entries > 0);
    let bound = (s.max_ops as u64) * (MAX_IO + s.image_bytes);
    assert!(s.max_log_bytes <= bound, "{} > {bound}", s.max_log_bytes);
    let json = serde_json::to_value(&s).unwrap();
    for key in ["max_log_bytes", "max_log_entries", "image_bytes", "max_ops"] {
        assert!(json[key].is_u64(), "{key} missing from {json}");
    }
}

#[test]
fn bounds_exist() {
    // The constants that bound one execution.
    const _: () = assert!(MAX_OPS == 512);
    const _: () = assert!(MAX_IO <= 256 * 1024 && FILE_LIMIT <= 1 << 30 && MAX_FILES <= 8);
    // Generated workloads respect max_ops whatever the configuration.
    for max_ops in [1usize, 5, 24, MAX_OPS, usize::MAX] {
        let cfg = FuzzConfig {
            target: brownout::workload::DEFAULT_TARGET.to_string(),
            bugs: Bugs::none(),
            max_ops,
            ..FuzzConfig::default()
        };
        for i in 0..50 {
            let w = brownout::campaign::fuzz_loop::generate(3, i, &cfg);
            // The creates of the files come first, then at least one op.
            let files = w.header.files as usize;
            assert!(w.ops.len() <= max_ops.clamp(1, MAX_OPS).max(files + 1));
            w.validate().unwrap();
        }
    }
    // A bug switch on still finds (the catch does not hide findings).
    let opts = options(Bugs::one(Bug::DsyncNoFlush.name()), 200, false);
    let s = fuzz_with(
        &opts,
        &Counters::default(),
        &AtomicBool::new(false),
        None,
        &run_workload,
    );
    assert_eq!(s.found.len(), 1);
    assert!(s.found[0].finding.panic.is_none());
}

/// Stands in for a bug in brownout itself: a panic raised in the harness's
/// own source (a device of a size that is not whole sectors).
fn harness_panics(_: &Workload, _: &ExecOptions, _: &OracleOptions) -> Result<Outcome, RunError> {
    let _ = brownout::device::disk::Disk::new(513, Vec::new(), false);
    unreachable!("the device asserts whole sectors")
}

#[test]
fn a_panic_in_the_harness_is_an_error_not_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let s = fuzz_with(
        &options(Bugs::none(), 20, true),
        &Counters::default(),
        &AtomicBool::new(false),
        Some(dir.path()),
        &harness_panics,
    );
    assert!(
        s.found.is_empty(),
        "{:?}",
        s.found.first().map(|c| &c.finding)
    );
    let e = s.error.expect("an internal error");
    assert!(
        e.contains("internal error") && e.contains("device/disk.rs"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn without_keep_going_only_the_reported_reproducer_is_written() {
    // Two workers race past the first finding; whatever they find above it
    // must not land in --out (which ones would depend on thread timing).
    for seed in 1..4 {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(Bugs::one(Bug::DsyncNoFlush.name()), 400, false);
        opts.seed = seed;
        let s = fuzz_with(
            &opts,
            &Counters::default(),
            &AtomicBool::new(false),
            Some(dir.path()),
            &run_workload,
        );
        assert_eq!(s.found.len(), 1);
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files, vec![s.found[0].reproducer.clone().unwrap()]);
    }
}
