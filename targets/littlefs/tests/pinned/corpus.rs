//! The reproducers of a pinned version's bugs
//! (`targets/littlefs-<version>/corpus/`), each expecting its finding,
//! checked as `brownout corpus` checks them: brownout still finds what it
//! rediscovered. Each pinned package runs this file as its `corpus` test
//! (`[[test]]` in its Cargo.toml), compiled against its own littlefs.

#[path = "../../src/adapter.rs"]
#[allow(dead_code)]
mod adapter;
#[path = "../../src/lfs.rs"]
#[allow(dead_code)]
mod lfs;

#[test]
fn every_reproducer_still_finds_its_bug() {
    let littlefs = brownout::FilesTarget::new(adapter::Littlefs {
        version: env!("CARGO_PKG_VERSION"),
    });
    brownout::register(Box::leak(Box::new(littlefs)));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = brownout::campaign::corpus::check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(n > 0, "{}: no cases", dir.display());
}
