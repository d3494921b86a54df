//! The lock tracker: every `i_rwsem` acquisition and every wait on
//! `i_dio_count` goes through it, with the caller's source location.
//!
//! The filesystem is single-threaded, but it models two tasks: the
//! *submitter* (the process that called the operation) and the *completion*
//! work (Linux's DIO completion workqueue). A real kernel would block a task
//! that asks for a lock held by the other; here the tracker decides instead
//! whether the request would block forever (recursion, or a cycle between
//! `i_rwsem` and `i_dio_count`) and reports it as a `DeadlockReport`, or
//! whether it would merely have to wait (the work item is retried later).

use std::collections::BTreeMap;
use std::fmt;
use std::panic::Location;

use crate::error::{DeadlockKind, DeadlockReport};

/// A context that can hold locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// The process that issued the public operation.
    Submitter,
    /// The DIO completion work (the workqueue worker).
    Completion,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Submitter => "submitter",
            Task::Completion => "dio-completion-work",
        })
    }
}

/// Why an acquisition did not succeed.
#[derive(Debug)]
pub enum LockError {
    /// It never could: a deadlock.
    Deadlock(DeadlockReport),
    /// The lock is held by a task that will release it later; a work item
    /// retries instead of blocking the single thread.
    WouldBlock,
}

#[derive(Clone, Debug)]
struct Holder {
    task: Task,
    location: &'static Location<'static>,
}

#[derive(Clone, Debug)]
struct Wait {
    /// Waiting for `i_dio_count` of this inode to drop to zero.
    ino: u32,
    location: &'static Location<'static>,
}

/// Records who holds which `i_rwsem`, who waits in `inode_dio_wait`, and
/// which task holds a reference on an inode's `i_dio_count` (a DIO
/// completion that has not reached `inode_dio_end`).
#[derive(Clone, Debug, Default)]
pub struct LockTracker {
    i_rwsem: BTreeMap<u32, Holder>,
    waits: BTreeMap<Task, Wait>,
    dio_refs: BTreeMap<Task, (u32, u64)>,
}

fn loc(l: &Location<'_>) -> String {
    format!("{}:{}:{}", l.file(), l.line(), l.column())
}

impl LockTracker {
    /// `inode_lock`: takes `i_rwsem` of `ino` for `task`.
    #[track_caller]
    pub fn lock(&mut self, task: Task, ino: u32) -> Result<(), LockError> {
        let here = Location::caller();
        let Some(h) = self.i_rwsem.get(&ino) else {
            self.i_rwsem.insert(
                ino,
                Holder {
                    task,
                    location: here,
                },
            );
            return Ok(());
        };
        let lock = format!("i_rwsem(ino {ino})");
        if h.task == task {
            return Err(LockError::Deadlock(DeadlockReport {
                kind: DeadlockKind::Recursion,
                cycle: vec![
                    format!("{task} holds {lock} (taken at {})", loc(h.location)),
                    format!("{task} requests {lock} again at {}", loc(here)),
                ],
                lock,
                holder: Some(h.task.to_string()),
                holder_location: Some(loc(h.location)),
                requester: task.to_string(),
                requester_location: loc(here),
            }));
        }
        // The holder sleeps in inode_dio_wait on some inode; if the requester
        // is a DIO completion still counted in that inode's i_dio_count, the
        // holder waits for the requester and the requester for the holder.
        if let (Some(w), Some(&(ref_ino, dio))) =
            (self.waits.get(&h.task), self.dio_refs.get(&task))
        {
            if w.ino == ref_ino {
                return Err(LockError::Deadlock(DeadlockReport {
                    kind: DeadlockKind::Cycle,
                    cycle: vec![
                        format!("{} holds {lock} (taken at {})", h.task, loc(h.location)),
                        format!(
                            "{} waits for i_dio_count(ino {}) == 0 in inode_dio_wait at {}",
                            h.task,
                            w.ino,
                            loc(w.location)
                        ),
                        format!("{task} (completion of dio {dio}) holds a reference on i_dio_count(ino {ref_ino}) until inode_dio_end"),
                        format!("{task} requests {lock} at {}", loc(here)),
                    ],
                    lock,
                    holder: Some(h.task.to_string()),
                    holder_location: Some(loc(h.location)),
                    requester: task.to_string(),
                    requester_location: loc(here),
                }));
            }
        }
        Err(LockError::WouldBlock)
    }

    /// `inode_unlock`.
    pub fn unlock(&mut self, task: Task, ino: u32) {
        if self.i_rwsem.get(&ino).is_some_and(|h| h.task == task) {
            self.i_rwsem.remove(&ino);
        }
    }

    /// Whether `task` holds `i_rwsem` of `ino`.
    pub fn holds(&self, task: Task, ino: u32) -> bool {
        self.i_rwsem.get(&ino).is_some_and(|h| h.task == task)
    }

    /// `task` starts sleeping in `inode_dio_wait(ino)`.
    #[track_caller]
    pub fn begin_dio_wait(&mut self, task: Task, ino: u32) {
        self.waits.insert(
            task,
            Wait {
                ino,
                location: Location::caller(),
            },
        );
    }

    pub fn end_dio_wait(&mut self, task: Task) {
        self.waits.remove(&task);
    }

    /// `task` runs the completion of DIO `dio` on `ino`, which still counts
    /// in `i_dio_count` (between `inode_dio_begin` and `inode_dio_end`).
    pub fn set_dio_ref(&mut self, task: Task, r: Option<(u32, u64)>) {
        match r {
            Some(r) => {
                self.dio_refs.insert(task, r);
            }
            None => {
                self.dio_refs.remove(&task);
            }
        }
    }

    /// Drops everything `task` holds or waits for: after an operation failed,
    /// so a later operation does not trip over a stale record.
    pub fn release_all(&mut self, task: Task) {
        self.i_rwsem.retain(|_, h| h.task != task);
        self.waits.remove(&task);
        self.dio_refs.remove(&task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursion_is_reported() {
        let mut t = LockTracker::default();
        t.lock(Task::Submitter, 0).unwrap();
        match t.lock(Task::Submitter, 0) {
            Err(LockError::Deadlock(r)) => assert_eq!(r.kind, DeadlockKind::Recursion),
            other => panic!("expected recursion, got {other:?}"),
        }
    }

    #[test]
    fn cycle_is_reported_and_plain_contention_blocks() {
        let mut t = LockTracker::default();
        t.lock(Task::Submitter, 1).unwrap();
        assert!(matches!(
            t.lock(Task::Completion, 1),
            Err(LockError::WouldBlock)
        ));
        t.begin_dio_wait(Task::Submitter, 1);
        t.set_dio_ref(Task::Completion, Some((1, 7)));
        match t.lock(Task::Completion, 1) {
            Err(LockError::Deadlock(r)) => {
                assert_eq!(r.kind, DeadlockKind::Cycle);
                assert_eq!(r.cycle.len(), 4);
            }
            other => panic!("expected cycle, got {other:?}"),
        }
        t.unlock(Task::Submitter, 1);
        assert!(t.lock(Task::Completion, 1).is_ok());
    }
}
