//! The example targets' corpus (`targets/examples/corpus/`): each case
//! behaves as its `expect:` header says, checked through the same library
//! calls as `brownout corpus`.

#[test]
fn every_example_corpus_case_behaves_as_it_says() {
    for t in brownout_examples::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n >= 2, "{}: {n} cases", dir.display());
}
