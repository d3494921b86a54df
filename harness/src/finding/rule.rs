//! The oracle rules of DESIGN.md, by number and name.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One oracle rule. Rules 1–5 are checked on crash states, 6–8 while the
/// workload runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Rule {
    Recovery = 1,
    AckedData = 2,
    AckedSize = 3,
    DioBarrier = 4,
    StaleData = 5,
    RuntimeBarrier = 6,
    Deadlock = 7,
    ReadYourWrites = 8,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::Recovery,
        Rule::AckedData,
        Rule::AckedSize,
        Rule::DioBarrier,
        Rule::StaleData,
        Rule::RuntimeBarrier,
        Rule::Deadlock,
        Rule::ReadYourWrites,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::Recovery => "recovery",
            Rule::AckedData => "acked-data",
            Rule::AckedSize => "acked-size",
            Rule::DioBarrier => "dio-barrier",
            Rule::StaleData => "stale-data",
            Rule::RuntimeBarrier => "runtime-barrier",
            Rule::Deadlock => "deadlock",
            Rule::ReadYourWrites => "read-your-writes",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Rule::Recovery => "recovery succeeds",
            Rule::AckedData => "acknowledged data are durable",
            Rule::AckedSize => "acknowledged size is durable",
            Rule::DioBarrier => "the DIO barrier holds",
            Rule::StaleData => "no foreign or stale data",
            Rule::RuntimeBarrier => "runtime DIO barrier",
            Rule::Deadlock => "no deadlock",
            Rule::ReadYourWrites => "read your writes",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {} ({})", self.number(), self.name())
    }
}

/// A rule name that is none of the eight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown oracle rule `{0}` (expected 1-8 or one of: recovery, acked-data, acked-size, dio-barrier, stale-data, runtime-barrier, deadlock, read-your-writes)")]
pub struct UnknownRule(pub String);

impl FromStr for Rule {
    type Err = UnknownRule;
    /// Accepts `4`, `rule-4`, `rule 4` or `dio-barrier`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let number = t
            .strip_prefix("rule-")
            .or_else(|| t.strip_prefix("rule "))
            .unwrap_or(t);
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.name() == t || number.parse::<u8>().ok() == Some(r.number()))
            .ok_or_else(|| UnknownRule(s.to_string()))
    }
}

impl From<Rule> for String {
    fn from(r: Rule) -> String {
        r.name().to_string()
    }
}

impl TryFrom<String> for Rule {
    type Error = UnknownRule;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_names() {
        for r in Rule::ALL {
            assert_eq!(r.name().parse::<Rule>(), Ok(r));
            assert_eq!(r.number().to_string().parse::<Rule>(), Ok(r));
            assert_eq!(format!("rule-{}", r.number()).parse::<Rule>(), Ok(r));
        }
        assert!("9".parse::<Rule>().is_err());
        assert!("stale".parse::<Rule>().is_err());
    }
}
