//! The adapter traits: how brownout drives a storage engine, one trait per
//! vocabulary.
//!
//! - [`fs::FsEngine`]: a filesystem mounted on a recording
//!   [`Disk`](crate::device::disk::Disk) (the `fs` vocabulary);
//! - [`files::FilesEngine`]: a copy-on-write file system over any
//!   recording device (the `fs` vocabulary with namespace operations;
//!   littlefs);
//! - [`kv::KvEngine`]: a key-value engine over a recording device (the
//!   `kv` vocabulary).
//!
//! Each method has one duty; the executor decides what to run, the model
//! what a crash may leave, the oracle whether the engine kept its
//! contract. Wrap an engine in [`crate::FsTarget`], [`crate::FilesTarget`]
//! or [`crate::KvTarget`]
//! and register it ([`crate::register`]), or hand it to
//! [`crate::cli::main`].
//!
//! Who is blamed for a panic: brownout's own code (this crate outside
//! `src/targets/`, and `replay`) is an internal error; anything else — the
//! engine and its adapter — is a finding ([`crate::guard`]).

#![deny(missing_docs)]

pub mod files;
pub mod fs;
pub mod kv;

/// Runs an engine's future to completion on the calling thread, for
/// engines with an async API (embedded stores) whose device never makes
/// them wait: one poll finishes it.
///
/// # Panics
/// If the future is not ready after that poll: it awaited something
/// other than the device, which an adapter must not hide.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => {
            panic!("the engine awaited something other than the recording device")
        }
    }
}
