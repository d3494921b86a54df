//! The targets that ship with brownout. Each is an adapter over the
//! public API in [`crate::target`], exactly as a user's would be; other
//! crates add theirs with [`crate::campaign::registry::register`] (the example
//! engines under `targets/` at the top of the repository do).

pub mod embedded;

use crate::run::target::FsTarget;
use crate::run::target::Target;

/// The targets registered before anything else: the embedded filesystem
/// core, the default target.
pub(crate) fn built_in() -> Vec<&'static dyn Target> {
    let embedded: &'static dyn Target =
        Box::leak(Box::new(FsTarget::new(embedded::FsUnderTest::default())));
    vec![embedded]
}
