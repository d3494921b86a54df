//! littlefs (<https://github.com/littlefs-project/littlefs>) as a brownout
//! target: the current release, v2.9.3, through `littlefs2-sys` 0.4.0.
//! The C library needs libclang to build, so everything here is behind
//! the `littlefs` feature (`cargo run --release --features littlefs`
//! from the repository root); without it [`targets`] is empty. The pinned
//! v2.2.1 under `targets/littlefs-v2.2.1/` compiles the same adapter.

#[cfg(feature = "littlefs")]
pub mod adapter;
#[cfg(feature = "littlefs")]
pub mod lfs;

use brownout::Target;

/// The littlefs version this package links.
pub const VERSION: &str = "2.9.3";

/// Without the `littlefs` feature: the target's name and how to build it
/// in, for the command line's "unknown target" errors.
pub fn unavailable() -> Option<(&'static str, &'static str)> {
    match cfg!(feature = "littlefs") {
        true => None,
        false => Some((
            "littlefs",
            "build with `--features littlefs` (C: needs libclang, `apt-get install libclang-dev`)",
        )),
    }
}

/// The `littlefs` target (none without the `littlefs` feature).
pub fn targets() -> Vec<&'static dyn Target> {
    #[cfg(feature = "littlefs")]
    {
        vec![Box::leak(Box::new(brownout::FilesTarget::new(
            adapter::Littlefs { version: VERSION },
        )))]
    }
    #[cfg(not(feature = "littlefs"))]
    {
        Vec::new()
    }
}
