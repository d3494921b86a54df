//! The adapter traits: how brownout drives a storage engine, one trait per
//! vocabulary.
//!
//! - [`fs::FsEngine`]: a filesystem mounted on a recording
//!   [`Disk`](crate::device::disk::Disk) (the `fs` vocabulary);
//! - [`kv::KvEngine`]: a key-value engine over a recording device (the
//!   `kv` vocabulary; today the `file` model).
//!
//! Each method has one duty; the executor decides what to run, the model
//! what a crash may leave, the oracle whether the engine kept its
//! contract. Wrap an engine in [`crate::FsTarget`] or [`crate::KvTarget`]
//! and register it ([`crate::register`]), or hand it to
//! [`crate::cli::main`].
//!
//! Who is blamed for a panic: brownout's own code (this crate outside
//! `src/targets/`, and `replay`) is an internal error; anything else — the
//! engine and its adapter — is a finding ([`crate::guard`]).

#![deny(missing_docs)]

pub mod fs;
pub mod kv;
