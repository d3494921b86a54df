//! Helpers of the CLI tests: the library tests' helpers, and the binary.
#![allow(dead_code)]

#[path = "../../../harness/tests/common/mod.rs"]
mod shared;
#[allow(unused_imports)]
pub use shared::*;

/// The `brownout` binary, with no `BROWNOUT_*` variable inherited (the
/// cargo-fuzz target's configuration must not leak into CLI tests).
pub fn brownout_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_brownout"));
    for var in [
        "BROWNOUT_TARGET",
        "BROWNOUT_BUGS",
        "BROWNOUT_BARRIER",
        "BROWNOUT_MODE",
        "BROWNOUT_MAX_OPS",
    ] {
        c.env_remove(var);
    }
    c
}
