//! brownout with one target: sequential-storage 8.0.0 (pinned), through
//! the adapter of the current release
//! (`targets/sequential-storage/src/adapter.rs`).

#[path = "../../sequential-storage/src/adapter.rs"]
#[allow(dead_code)] // the accessors for tests
mod adapter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let store = brownout::KvTarget::new(adapter::SequentialStorage {
        version: env!("CARGO_PKG_VERSION"),
    });
    brownout::cli::main(&[Box::leak(Box::new(store))])
}
