//! sequential-storage's corpus (`targets/sequential-storage/corpus/`): the
//! current release's finding, expecting it, and the reproducers of the
//! bugs brownout rediscovered in older versions, clean on the current
//! release (its regression tests), checked as `brownout corpus` checks
//! them.

#[test]
fn every_sequential_storage_corpus_case_behaves_as_it_says() {
    for t in brownout_sequential_storage::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n >= 2, "{}: {n} cases", dir.display());
}
