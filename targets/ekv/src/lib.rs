//! ekv (<https://github.com/embassy-rs/ekv>) as a brownout target: the
//! current release. The adapter is in [`adapter`].

pub mod adapter;

use brownout::{KvTarget, Target};

/// The ekv version this package links.
pub const VERSION: &str = "1.0.0";

/// The `ekv` target.
pub fn targets() -> Vec<&'static dyn Target> {
    vec![Box::leak(Box::new(KvTarget::new(adapter::Ekv {
        version: VERSION,
    })))]
}
