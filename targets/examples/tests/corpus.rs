//! The example targets' corpus (`targets/examples/corpus/`): each case
//! behaves as its `expect:` header says, checked through the same library
//! calls as `brownout corpus`.

use brownout::campaign::corpus::{check_case, list};
use brownout::campaign::registry::parse_workload;
use brownout::{ExecOptions, OracleOptions};

#[test]
fn every_example_corpus_case_behaves_as_it_says() {
    for t in brownout_examples::targets() {
        brownout::register(t);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let cases = list(&dir).unwrap();
    assert!(cases.len() >= 2, "{cases:?}");
    for path in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let w = parse_workload(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let verdict = check_case(&w, &ExecOptions::default(), &OracleOptions::default()).unwrap();
        assert!(verdict.ok, "{}: {}", path.display(), verdict.detail);
    }
}
