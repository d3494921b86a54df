//! The reproducers of this pinned version's bugs (`corpus/`), each
//! expecting its finding, checked as `brownout corpus` checks them:
//! brownout still finds what it rediscovered.

#[path = "../../redb/src/adapter.rs"]
#[allow(dead_code)]
mod adapter;

#[test]
fn every_reproducer_still_finds_its_bug() {
    let redb = brownout::KvTarget::new(adapter::Redb {
        version: env!("CARGO_PKG_VERSION"),
    });
    brownout::register(Box::leak(Box::new(redb)));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n >= 1, "{}: {n} cases", dir.display());
}
