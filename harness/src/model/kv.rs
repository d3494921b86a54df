//! The reference model of a `kv` workload: the database's history as a
//! list of committed states, and which of them a crash may leave.
//!
//! State 0 is the empty database; state `c` is the one after the `c`-th
//! successful commit. A crash at log position `p` may leave state `j` for
//! any `j` from the last commit acknowledged durable before `p` (its
//! acknowledgement mark lies before `p`) to the last commit that had begun
//! before `p`: commits in between that were not durable, or not yet
//! acknowledged, may or may not have survived, but a transaction is all or
//! nothing, so nothing else is allowed.

use crate::workload::kv::value;
use crate::workload::{write_id, KeyId, Op, Workload};
use std::collections::BTreeMap;

/// A database state: key index to (value, write id).
pub type State = BTreeMap<KeyId, (Vec<u8>, u32)>;

/// One commit, with the log positions the executor recorded.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The operation index of the commit.
    pub op: usize,
    pub durable: bool,
    /// Log position when the commit began: its writes come at or after it.
    pub start: usize,
    /// Log position just after its acknowledgement mark (`usize::MAX`
    /// while unacknowledged).
    pub acked: usize,
}

/// The committed history of one execution.
#[derive(Clone, Debug, Default)]
pub struct KvModel {
    /// `states[c]`: the database after commit `c` (`states[0]`: empty).
    pub states: Vec<State>,
    /// `commits[c - 1]` made `states[c]`.
    pub commits: Vec<Commit>,
    /// The open transaction: key to `Some((value, wid))` or `None`
    /// (removed).
    pending: BTreeMap<KeyId, Option<(Vec<u8>, u32)>>,
}

impl KvModel {
    /// An empty database.
    pub fn new() -> Self {
        KvModel {
            states: vec![State::new()],
            ..KvModel::default()
        }
    }

    /// A database that already holds `base` (a continuation after a
    /// crash: the recovered state, durable).
    pub fn over(base: State) -> Self {
        KvModel {
            states: vec![base],
            ..KvModel::default()
        }
    }

    /// The last committed state.
    pub fn committed(&self) -> &State {
        self.states.last().expect("state 0 always exists")
    }

    /// Operation `i` of `workload` ran and succeeded; `start` and `end`
    /// are the log positions around it (`end` after its mark).
    pub fn apply(&mut self, i: usize, op: &Op, start: usize, end: usize) {
        match *op {
            Op::Put { key, len } => {
                let wid = write_id(i);
                self.pending.insert(key, Some((value(key, len, wid), wid)));
            }
            Op::Remove { key } => {
                self.pending.insert(key, None);
            }
            Op::Commit { durable } => {
                let mut next = self.committed().clone();
                for (k, v) in std::mem::take(&mut self.pending) {
                    match v {
                        Some(v) => next.insert(k, v),
                        None => next.remove(&k),
                    };
                }
                self.states.push(next);
                self.commits.push(Commit {
                    op: i,
                    durable,
                    start,
                    acked: end,
                });
            }
            // Each runs between transactions: the open one is dropped.
            Op::Abort | Op::Reopen | Op::CheckIntegrity | Op::Compact | Op::Unwind => {
                self.pending.clear()
            }
            _ => {}
        }
    }

    /// What `get key` must return now: the open transaction's write, else
    /// the last committed value.
    pub fn expected_get(&self, key: KeyId) -> Option<&(Vec<u8>, u32)> {
        match self.pending.get(&key) {
            Some(v) => v.as_ref(),
            None => self.committed().get(&key),
        }
    }

    /// The states a crash at position `p` may leave: `lo..=hi`.
    pub fn allowed(&self, p: usize) -> (usize, usize) {
        let lo = self
            .commits
            .iter()
            .rposition(|c| c.durable && c.acked <= p)
            .map_or(0, |c| c + 1);
        let hi = self.commits.iter().filter(|c| c.start < p).count();
        debug_assert!(lo <= hi, "an acknowledged commit had begun");
        (lo, hi.max(lo))
    }

    /// The state (index) equal to `observed`, if any.
    pub fn find(&self, observed: &State) -> Option<usize> {
        self.states.iter().rposition(|s| s == observed)
    }
}

/// What the engine's scan returned, as a state: `Err` names an entry that
/// no put of the workload wrote.
pub fn observed_state(
    workload: &Workload,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> Result<State, String> {
    let mut state = State::new();
    for (k, v) in entries {
        let key = crate::workload::kv::key_index(k).ok_or_else(|| {
            format!(
                "a key no operation wrote: {:?}",
                String::from_utf8_lossy(&k[..k.len().min(16)])
            )
        })?;
        let wid = identify(workload, key, v).ok_or_else(|| {
            format!(
                "k{key} holds {} bytes no put of this workload wrote (first: {:02x?})",
                v.len(),
                &v[..v.len().min(8)]
            )
        })?;
        state.insert(key, (v.clone(), wid));
    }
    Ok(state)
}

/// The write id of the put that wrote `v` to `key`.
fn identify(workload: &Workload, key: KeyId, v: &[u8]) -> Option<u32> {
    workload
        .ops
        .iter()
        .enumerate()
        .find_map(|(i, op)| match *op {
            Op::Put { key: k, len } if k == key && len == v.len() as u64 => {
                let wid = write_id(i);
                (value(key, len, wid) == v).then_some(wid)
            }
            _ => None,
        })
}

/// Words for a state: `{k0: put #3, k2: put #7}`.
pub fn describe(workload: &Workload, state: &State) -> String {
    let items: Vec<String> = state
        .iter()
        .map(|(k, (_, wid))| {
            let op = *wid as usize - 1;
            format!("k{k}: op #{op} `{}`", workload.ops[op])
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}
