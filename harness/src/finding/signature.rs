//! Buckets: the signature of a finding, what the many findings of one bug
//! share, so that a campaign reports bugs rather than hits.
//!
//! A signature is built only from what minimisation keeps (the minimiser
//! of a bucket's reproducer preserves it): the target, the rule, the kind
//! of the operation whose promise broke (its keyword and flags, not its
//! file, offsets or sizes), the class of the crash state (none, prefix,
//! dropped volatile writes, torn, a crash inside recovery) and, for a
//! panic, where it was raised. State ids, positions, byte ranges and panic
//! messages (which embed numbers) are left out: they differ between hits
//! of one bug.

use super::Finding;
use crate::workload::CrashMode;
use serde::Serialize;
use std::fmt;

/// The class of crash state a finding was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateClass {
    /// While the workload ran: no crash.
    NoCrash,
    /// A prefix of the log (`p…`): writes persisted in order.
    Prefix,
    /// Volatile writes dropped or reordered within an epoch (`r…`).
    DroppedVolatile,
    /// A torn write (`t…`).
    Torn,
    /// A crash inside recovery's own writes (`…/…`).
    RecoveryCrash,
}

impl StateClass {
    /// The class of state `id` (`None`: found while running). A
    /// continuation's state (`p24+t3.0.0`) is classed by the state inside
    /// the continuation: that is where the promise broke.
    pub fn of(id: Option<&str>) -> StateClass {
        let Some(id) = id else {
            return StateClass::NoCrash;
        };
        if id.contains('/') {
            return StateClass::RecoveryCrash;
        }
        match crate::run::check::mode_of_state(id) {
            Some(CrashMode::Reorder) => StateClass::DroppedVolatile,
            Some(CrashMode::Torn) => StateClass::Torn,
            _ => StateClass::Prefix,
        }
    }

    /// The class in words.
    pub fn words(self) -> &'static str {
        match self {
            StateClass::NoCrash => "no crash",
            StateClass::Prefix => "prefix",
            StateClass::DroppedVolatile => "dropped volatile write",
            StateClass::Torn => "torn write",
            StateClass::RecoveryCrash => "crash inside recovery",
        }
    }
}

/// A finding's bucket: equal signatures, same bug (as far as brownout can
/// tell). Ordered, so buckets list deterministically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature {
    pub target: String,
    pub rule_number: u8,
    /// The operation's keyword and flags (`write dsync`, `commit durable`),
    /// `-` when the finding names none.
    pub op: String,
    pub state: StateClass,
    /// For a panic: `crate/src/file.rs:line` (no column, no message).
    pub panic_at: Option<String>,
}

impl Signature {
    /// The signature of `finding`, found on `target`.
    pub fn of(target: &str, finding: &Finding) -> Signature {
        Signature {
            target: target.to_string(),
            rule_number: finding.rule.number(),
            op: finding.op_text.as_deref().map_or("-".to_string(), op_kind),
            state: StateClass::of(finding.state.as_deref()),
            panic_at: finding.panic.as_deref().and_then(panic_location),
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} · rule {} · {} · {}",
            self.target,
            self.rule_number,
            self.op,
            self.state.words()
        )?;
        if let Some(at) = &self.panic_at {
            write!(f, " · panic at {at}")?;
        }
        Ok(())
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An operation's keyword and flags, from its text: the words that are
/// neither numbers nor file or key names (`write f0 0 4096 dsync` →
/// `write dsync`).
fn op_kind(text: &str) -> String {
    let names = |w: &str| {
        w.len() > 1
            && (w.starts_with('f') || w.starts_with('k'))
            && w[1..].bytes().all(|b| b.is_ascii_digit())
    };
    text.split_whitespace()
        .filter(|w| !w.bytes().all(|b| b.is_ascii_digit()) && !names(w) && *w != "all")
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a panic was raised, from a finding's panic text (`… (at
/// path:line:col)`): the path from the crate's folder on (the one holding
/// `src/`), and the line.
fn panic_location(text: &str) -> Option<String> {
    let at = text.rsplit_once("(at ")?.1.strip_suffix(')')?;
    let mut parts = at.rsplitn(3, ':');
    let (_col, line, path) = (parts.next()?, parts.next()?, parts.next()?);
    let path = path.replace('\\', "/");
    let short = match path.rfind("/src/") {
        Some(i) => {
            let crate_start = path[..i].rfind('/').map_or(0, |j| j + 1);
            &path[crate_start..]
        }
        None => path.as_str(),
    };
    Some(format!("{short}:{line}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Rule;

    #[test]
    fn state_classes() {
        assert_eq!(StateClass::of(None), StateClass::NoCrash);
        assert_eq!(StateClass::of(Some("p41")), StateClass::Prefix);
        assert_eq!(StateClass::of(Some("r164.0")), StateClass::DroppedVolatile);
        assert_eq!(StateClass::of(Some("t1075.0.0")), StateClass::Torn);
        assert_eq!(StateClass::of(Some("r164.0+t34.0.0")), StateClass::Torn);
        assert_eq!(StateClass::of(Some("p86/p16")), StateClass::RecoveryCrash);
        assert_eq!(
            StateClass::of(Some("p41+p60/p16")),
            StateClass::RecoveryCrash
        );
    }

    #[test]
    fn what_varies_between_hits_is_left_out() {
        let hit = |op: &str, state: &str, panic: Option<&str>| {
            let mut f = Finding::new(Rule::AckedData, "lost");
            f.op = Some(3);
            f.op_text = Some(op.to_string());
            f.state = Some(state.to_string());
            f.panic = panic.map(str::to_string);
            Signature::of("fs-under-test", &f)
        };
        let a = hit("write f0 0 4096 dsync", "p12", None);
        assert_eq!(a, hit("write f2 8192 512 dsync", "p977", None));
        assert_ne!(a, hit("write f0 0 4096", "p12", None));
        assert_ne!(a, hit("write f0 0 4096 dsync", "t12.0.1", None));
        assert_eq!(
            a.to_string(),
            "fs-under-test · rule 2 · write dsync · prefix"
        );
        let p = |msg: &str| {
            hit(
                "commit durable",
                "p1",
                Some(&format!(
                    "{msg} (at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/redb-4.6.0/src/tree_store/page_store/cached_file.rs:943:17)"
                )),
            )
        };
        assert_eq!(
            p("cache inconsistency 4096 != 16384"),
            p("cache inconsistency 8192 != 4096")
        );
        assert_eq!(
            p("x").panic_at.as_deref(),
            Some("redb-4.6.0/src/tree_store/page_store/cached_file.rs:943")
        );
        assert_eq!(op_kind("put k12 3578"), "put");
        assert_eq!(op_kind("writeback all pages 3"), "writeback pages");
        assert_eq!(
            panic_location("boom (at harness/tests/robustness.rs:125:17)").as_deref(),
            Some("harness/tests/robustness.rs:125")
        );
    }
}
