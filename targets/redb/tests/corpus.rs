//! redb's corpus (`targets/redb/corpus/`): the reproducers of the bugs
//! brownout rediscovered in older versions, each `expect: clean` on the
//! current release (they are its regression tests), checked through the
//! same library calls as `brownout corpus`.

use brownout::campaign::corpus::{check_case, list};
use brownout::campaign::registry::parse_workload;
use brownout::{ExecOptions, OracleOptions};

#[test]
fn every_redb_corpus_case_behaves_as_it_says() {
    for t in brownout_redb::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let cases = list(&dir).unwrap();
    assert!(!cases.is_empty(), "{}", dir.display());
    for path in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let w = parse_workload(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let verdict = check_case(&w, &ExecOptions::default(), &OracleOptions::default()).unwrap();
        assert!(verdict.ok, "{}: {}", path.display(), verdict.detail);
    }
}
