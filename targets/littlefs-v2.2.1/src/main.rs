//! brownout with one target: littlefs v2.2.1 (pinned, through
//! littlefs2-sys 0.2.0), with the adapter of the current release
//! (`targets/littlefs/src/adapter.rs` over `lfs.rs`).

#[path = "../../littlefs/src/adapter.rs"]
mod adapter;
#[path = "../../littlefs/src/lfs.rs"]
#[allow(dead_code)] // what only the tests of the current release use
mod lfs;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let littlefs = brownout::FilesTarget::new(adapter::Littlefs {
        version: env!("CARGO_PKG_VERSION"),
    });
    brownout::cli::main(&[Box::leak(Box::new(littlefs))])
}
