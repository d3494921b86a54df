//! ekv's corpus (`targets/ekv/corpus/`): the reproducer of FINDINGS.md,
//! expecting its finding, checked as `brownout corpus` checks it.

#[test]
fn every_ekv_corpus_case_behaves_as_it_says() {
    for t in brownout_ekv::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n >= 1, "{}: {n} cases", dir.display());
}
