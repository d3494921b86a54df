//! littlefs's corpus (`targets/littlefs/corpus/`): the current release's
//! finding, expecting it, and the reproducer of the bug brownout
//! rediscovered in v2.2.1, clean on the current release (its regression
//! test), checked as `brownout corpus` checks them.

#![cfg(feature = "littlefs")]

#[test]
fn every_littlefs_corpus_case_behaves_as_it_says() {
    for t in brownout_littlefs::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n >= 2, "{}: {n} cases", dir.display());
}
