//! redb (<https://github.com/cberner/redb>) as a brownout target: the
//! current release, `redb` in `brownout targets`. The adapter is in
//! [`adapter`]; the pinned historical versions under
//! `targets/redb-<version>/` compile the same file against their redb.

pub mod adapter;

use brownout::{KvTarget, Target};

/// The redb version this package links.
pub const VERSION: &str = "4.6.0";

/// The `redb` target.
pub fn targets() -> Vec<&'static dyn Target> {
    vec![Box::leak(Box::new(KvTarget::new(adapter::Redb {
        version: VERSION,
    })))]
}
