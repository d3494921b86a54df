//! The reproducers of this pinned version's bugs (`corpus/`), each
//! expecting its finding, checked through the same library calls as
//! `brownout corpus`: brownout still finds what it rediscovered.

#[path = "../../redb/src/adapter.rs"]
#[allow(dead_code)]
mod adapter;

use brownout::campaign::corpus::{check_case, list};
use brownout::campaign::registry::parse_workload;
use brownout::{ExecOptions, KvTarget, OracleOptions};

#[test]
fn every_reproducer_still_finds_its_bug() {
    let redb = KvTarget::new(adapter::Redb {
        version: env!("CARGO_PKG_VERSION"),
    });
    brownout::register(Box::leak(Box::new(redb)));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let cases = list(&dir).unwrap();
    assert!(!cases.is_empty(), "{}", dir.display());
    for path in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let w = parse_workload(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(w.header.expect.is_some(), "{}: a reproducer", path.display());
        let verdict = check_case(&w, &ExecOptions::default(), &OracleOptions::default()).unwrap();
        assert!(verdict.ok, "{}: {}", path.display(), verdict.detail);
    }
}
