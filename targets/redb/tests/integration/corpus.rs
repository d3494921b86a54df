//! redb's corpus (`targets/redb/corpus/`): the reproducers of the bugs
//! brownout rediscovered in older versions, each `expect: clean` on the
//! current release (they are its regression tests), checked as `brownout
//! corpus` checks them.

#[test]
fn every_redb_corpus_case_behaves_as_it_says() {
    for t in brownout_redb::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n >= 4, "{}: {n} cases", dir.display());
}
