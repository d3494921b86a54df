//! brownout with one target: redb 4.2.0 (pinned), through the adapter of
//! the current release (`targets/redb/src/adapter.rs`).

#[path = "../../redb/src/adapter.rs"]
mod adapter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let redb = brownout::KvTarget::new(adapter::Redb {
        version: env!("CARGO_PKG_VERSION"),
    });
    brownout::cli::main(&[Box::leak(Box::new(redb))])
}
