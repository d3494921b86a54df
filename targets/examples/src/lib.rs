//! Worked example targets (README, "Testing your own storage code").
//!
//! Two deliberately small key-value stores over brownout's `file` device
//! model (one byte-addressable file with `write`, `set_len` and
//! `sync_data`), each with a [`KvEngine`](brownout::KvEngine) adapter, to
//! show what testing your own storage code with brownout looks like:
//!
//! - [`inplace`] (`example-inplace`) is the naive store: one fixed slot per
//!   key, a commit overwrites the changed slots in place. It claims a
//!   commit is all or nothing, and brownout shows it is not: a crash
//!   between two slot writes leaves half a transaction, a torn slot write
//!   leaves half a value.
//! - [`wal`] (`example-wal`) is the same store fixed: every commit is one
//!   checksummed, sequence-numbered record appended to a log, replay stops
//!   at the first invalid record, and open cuts a torn tail off before
//!   anything is appended after it. brownout finds nothing wrong with it
//!   in any crash mode, crashes inside its recovery included.
//!
//! Each adapter is a [`KvEngine`](brownout::KvEngine); [`targets`] wraps
//! them in [`KvTarget`](brownout::KvTarget)s, which is all the campaign,
//! the minimiser and the CLI need (register them with
//! [`brownout::register`] or hand them to `brownout::cli::main`).

pub mod inplace;
pub mod wal;

use brownout::KvTarget;
use brownout::Target;

/// Every example target: `example-inplace` and `example-wal`.
pub fn targets() -> Vec<&'static dyn Target> {
    vec![
        Box::leak(Box::new(KvTarget::new(inplace::InPlace))),
        Box::leak(Box::new(KvTarget::new(wal::Wal::default()))),
    ]
}

/// The README's code blocks, compiled and run as doctests (so the
/// "Testing your own storage code" snippets cannot rot).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
