//! The `brownout` binary: the command line of `brownout::cli` over the
//! built-in target (the embedded filesystem core), the example engines
//! of `targets/examples`, redb (`targets/redb`), sequential-storage
//! (`targets/sequential-storage`), ekv (`targets/ekv`), tickv
//! (`targets/tickv`), Linux ext4, XFS and btrfs on the running kernel
//! (`targets/linux`) and, with the `littlefs` feature, littlefs
//! (`targets/littlefs`). A user's own binary looks the same, with their
//! targets in the list.

// mimalloc: a crash-state check allocates and frees chunks, pages and
// whole databases by the million; glibc's allocator took a quarter of a
// redb campaign's time, and mimalloc makes campaigns 10-25% faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let mut targets = brownout_examples::targets();
    targets.extend(brownout_redb::targets());
    targets.extend(brownout_sequential_storage::targets());
    targets.extend(brownout_ekv::targets());
    targets.extend(brownout_tickv::targets());
    targets.extend(brownout_littlefs::targets());
    targets.extend(brownout_linux::targets());
    if let Some((name, how)) = brownout_littlefs::unavailable() {
        brownout::campaign::registry::register_unavailable(name, how);
    }
    brownout::cli::main(&targets)
}
