//! tickv's corpus (`targets/tickv/corpus/`): the reproducers of
//! FINDINGS.md, each expecting its finding, checked as `brownout corpus`
//! checks them.

#[test]
fn every_tickv_corpus_case_behaves_as_it_says() {
    for t in brownout_tickv::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n >= 2, "{}: {n} cases", dir.display());
}
