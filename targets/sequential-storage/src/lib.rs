//! sequential-storage (<https://github.com/tweedegolf/sequential-storage>)
//! as a brownout target: its map, the current release. The adapter is in
//! [`adapter`]; the pinned 8.0.0 under `targets/sequential-storage-8.0.0/`
//! compiles the same file against its version.

pub mod adapter;

use brownout::{KvTarget, Target};

/// The sequential-storage version this package links.
pub const VERSION: &str = "8.0.2";

/// The `sequential-storage` target.
pub fn targets() -> Vec<&'static dyn Target> {
    vec![Box::leak(Box::new(KvTarget::new(
        adapter::SequentialStorage { version: VERSION },
    )))]
}
