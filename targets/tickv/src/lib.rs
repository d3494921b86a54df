//! tickv (<https://github.com/tock/tock/tree/master/libraries/tickv>) as a
//! brownout target: the current release. The adapter is in [`adapter`].

pub mod adapter;

use brownout::{KvTarget, Target};

/// The tickv version this package links.
pub const VERSION: &str = "2.0.0";

/// The `tickv` target.
pub fn targets() -> Vec<&'static dyn Target> {
    vec![Box::leak(Box::new(KvTarget::new(adapter::Tickv {
        version: VERSION,
    })))]
}
