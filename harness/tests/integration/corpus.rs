//! `cargo test` replays the corpus: clean cases stay clean, each reproducer
//! still triggers its `expect:` rule under its own switches.

use crate::common;

use brownout::campaign::corpus::{check_case, list};
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::workload::Workload;

#[test]
fn every_corpus_case_behaves_as_it_says() {
    let dir = common::corpus_dir();
    let cases = list(&dir).expect("corpus directory");
    assert!(
        !cases.is_empty(),
        "no *.workload files in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for path in &cases {
        let text = std::fs::read_to_string(path).unwrap();
        let w = Workload::parse(&text).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
        let v = check_case(&w, &ExecOptions::default(), &OracleOptions::default()).unwrap();
        if !v.ok {
            failures.push(format!("{}: {}", path.display(), v.detail));
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_bug_variant_has_a_reproducer_in_the_corpus() {
    let dir = common::corpus_dir();
    let mut missing = Vec::new();
    for &bug in fs_under_test::Bug::ALL {
        let found = list(&dir).unwrap().iter().any(|p| {
            let w = Workload::parse(&std::fs::read_to_string(p).unwrap()).unwrap();
            w.header.expect.is_some() && w.header.bugs.contains(bug.name())
        });
        if !found {
            missing.push(bug.name());
        }
    }
    assert!(missing.is_empty(), "no reproducer for: {missing:?}");
}
