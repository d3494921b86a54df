//! Panics inside the filesystem under test become findings, not a dead
//! fuzzer.
//!
//! [`catch`] runs a closure under [`std::panic::catch_unwind`]. While a
//! thread is inside `catch`, a process-wide panic hook (installed once)
//! records the panic's message and location for that thread and prints
//! nothing; outside it, the previous hook runs as usual. The executor names
//! the operation it is running with [`set_op`], so that a panic can be
//! pinned to an operation of the workload.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A caught panic: its message and where it was raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicReport {
    pub message: String,
    /// `file:line:column` of the `panic!`, when known.
    pub location: Option<String>,
    /// The workload operation being executed (see [`set_op`]), if any.
    pub op: Option<usize>,
}

impl PanicReport {
    /// Whether the panic was raised in brownout's own code (the harness or
    /// `replay`) rather than in the filesystem under test: a bug of the
    /// tool, an error (exit 2), never a finding. Told by the location's
    /// source path; a panic without a location, or raised in any other
    /// crate (the filesystem, or the standard library on its behalf), is
    /// the target's.
    pub fn in_harness(&self) -> bool {
        self.location.as_deref().is_some_and(|loc| {
            let path = loc.replace('\\', "/");
            let ours = ["harness/src/", "replay/src/"]
                .iter()
                .any(|dir| path.starts_with(dir) || path.contains(&format!("/{dir}")));
            // An adapter is the target's code, even when it ships with
            // brownout.
            ours && !path.contains("harness/src/targets/")
        })
    }
}

impl PanicReport {
    /// `message (at file:line:col)`.
    pub fn text(&self) -> String {
        match &self.location {
            Some(loc) => format!("{} (at {loc})", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)?;
        if let Some(loc) = &self.location {
            write!(f, " (at {loc})")?;
        }
        Ok(())
    }
}

thread_local! {
    /// How deep this thread is in nested `catch` calls.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// What the hook saw of the last panic on this thread.
    static LAST: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
    /// The operation the executor is running on this thread.
    static OP: Cell<Option<usize>> = const { Cell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
                return;
            }
            let message = payload_text(info.payload());
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            LAST.with(|last| *last.borrow_mut() = Some((message, location)));
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

/// Records the operation this thread's executor is running (`None`
/// between workloads); a panic caught by [`catch`] names it.
pub fn set_op(op: Option<usize>) {
    OP.with(|o| o.set(op));
}

/// Runs `f`; a panic inside it (on this thread) comes back as a
/// [`PanicReport`] instead of unwinding further, and prints nothing.
/// Nested calls are fine: the innermost one catches.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, PanicReport> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let saved_op = OP.with(Cell::get);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    let op = OP.with(|o| o.replace(saved_op));
    result.map_err(|payload| {
        let (message, location) = LAST
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| (payload_text(payload.as_ref()), None));
        PanicReport {
            message,
            location,
            op,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_message_and_location_quietly() {
        let line = line!() + 1;
        let r = catch(|| -> u32 { panic!("boom {}", 7) });
        let p = r.unwrap_err();
        assert_eq!(p.message, "boom 7");
        let loc = p.location.clone().unwrap();
        assert!(loc.starts_with(&format!("{}:{line}:", file!())), "{loc}");
        assert_eq!(catch(|| 5).unwrap(), 5);
        assert!(p.in_harness(), "this file is harness code");
    }

    #[test]
    fn tells_harness_panics_from_the_targets() {
        let at = |loc: &str| PanicReport {
            message: String::new(),
            location: Some(loc.to_string()),
            op: None,
        };
        assert!(at("harness/src/oracle.rs:10:5").in_harness());
        assert!(at("/src/brownout/replay/src/image.rs:1:1").in_harness());
        assert!(!at("fs-under-test/src/dio.rs:10:5").in_harness());
        assert!(!at("../fs-under-test/src/fs.rs:3:9").in_harness());
        assert!(!at("/rustc/abc/library/core/src/slice/mod.rs:1:1").in_harness());
        assert!(!at("harness/tests/robustness.rs:1:1").in_harness());
        let none = PanicReport {
            location: None,
            ..at("")
        };
        assert!(!none.in_harness());
    }

    #[test]
    fn names_the_operation_and_restores_it() {
        set_op(Some(1));
        let p = catch(|| {
            set_op(Some(4));
            panic!("in op 4")
        })
        .unwrap_err();
        assert_eq!(p.op, Some(4));
        assert_eq!(OP.with(Cell::get), Some(1));
        set_op(None);
    }

    #[test]
    fn nested_catches_and_non_string_payloads() {
        let outer = catch(|| {
            let inner = catch(|| std::panic::panic_any(42u8));
            assert!(inner.unwrap_err().message.contains("not a string"));
            let v: Vec<u8> = Vec::new();
            #[allow(clippy::unnecessary_operation)]
            v[3]
        });
        assert!(outer.unwrap_err().message.contains("index out of bounds"));
    }
}
