//! Findings: what the oracle reports, in words a filesystem developer can
//! act on, and as JSON for scripts.

mod rule;
mod signature;
pub use rule::Rule;
use serde::Serialize;
pub use signature::{Signature, StateClass};
use std::fmt;

/// One violation of an oracle rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    /// The rule's number, for scripts.
    pub rule_number: u8,
    /// The operation whose promise broke, or during which it happened
    /// (0-based index into the workload's operations).
    pub op: Option<usize>,
    /// That operation, as written in the workload.
    pub op_text: Option<String>,
    /// The crash state (`None` for a run-time finding).
    pub state: Option<String>,
    /// Log position of the crash.
    pub position: Option<usize>,
    /// Volatile or in-flight writes the crash state persisted (log request
    /// ids; `id:n` when only the first n sectors were).
    pub persisted: Vec<String>,
    pub file: Option<String>,
    /// Byte range `[lo, hi)` of the file.
    pub range: Option<(u64, u64)>,
    pub expected: Option<String>,
    pub observed: Option<String>,
    pub message: String,
    /// When the filesystem panicked: the panic message and its location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panic: Option<String>,
    /// The command that reproduces it (filled in when the workload has been
    /// written to a file).
    pub reproduce: Option<String>,
    /// For a crash during recovery: the nested state ids within the
    /// recovery of `state` (`p3`, or `p3/p1` two levels down), folded into
    /// `state` once the outer state is known.
    #[serde(skip)]
    pub nested: Option<String>,
}

impl Finding {
    pub fn new(rule: Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            rule_number: rule.number(),
            op: None,
            op_text: None,
            state: None,
            position: None,
            persisted: Vec::new(),
            file: None,
            range: None,
            expected: None,
            observed: None,
            message: message.into(),
            panic: None,
            reproduce: None,
            nested: None,
        }
    }

    /// Whether two findings are "the same" for minimisation and corpus
    /// checks: same rule, same file.
    pub fn same_kind(&self, other: &Finding) -> bool {
        self.rule == other.rule && self.file == other.file
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "FINDING: {}: {}", self.rule, self.message)?;
        if let (Some(op), Some(text)) = (self.op, &self.op_text) {
            writeln!(f, "  operation:  #{op} `{text}`")?;
        }
        if let Some(state) = &self.state {
            write!(f, "  crash:      state {state}")?;
            if let Some(p) = self.position {
                write!(f, " (after log entry {p})")?;
            }
            if self.state.as_deref().is_some_and(|s| s.contains('/')) {
                write!(f, ", crashed again inside its recovery")?;
            }
            if self.persisted.is_empty() {
                writeln!(f, ", no volatile write persisted")?;
            } else {
                writeln!(
                    f,
                    ", persisted volatile writes: {}",
                    self.persisted.join(" ")
                )?;
            }
        }
        if let Some(file) = &self.file {
            write!(f, "  file:       {file}")?;
            if let Some((lo, hi)) = self.range {
                write!(f, " bytes {lo}..{hi}")?;
            }
            writeln!(f)?;
        }
        if let Some(e) = &self.expected {
            writeln!(f, "  expected:   {e}")?;
        }
        if let Some(o) = &self.observed {
            writeln!(f, "  observed:   {o}")?;
        }
        if let Some(p) = &self.panic {
            writeln!(f, "  panic:      {p}")?;
        }
        if let Some(cmd) = &self.reproduce {
            writeln!(f, "  reproduce:  {cmd}")?;
        }
        Ok(())
    }
}
