//! A campaign's findings grouped by signature ([`Signature`]): one bucket
//! per bug, with its hit count, when it was first seen, and the smallest
//! workload that hit it, whose reproducer is the bucket's one file.

use crate::campaign::fuzz_loop::FoundCase;
use crate::finding::Signature;
use std::collections::BTreeMap;
use std::path::Path;

/// Every hit of one signature.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub signature: Signature,
    /// How many executions hit it.
    pub count: u64,
    /// The lowest execution index that hit it, and its time.
    pub first_exec: u64,
    pub first_secs: f64,
    /// An unmodified `--corpus` seed hit it: a bug already known.
    pub known: bool,
    /// The smallest workload that hit it (fewest operations, then shortest
    /// text, then lowest execution index), with its reproducer.
    pub case: FoundCase,
}

/// The buckets of a campaign, by signature.
#[derive(Default)]
pub struct Buckets {
    by_signature: BTreeMap<Signature, Bucket>,
}

/// What [`Buckets::add`] did with a hit.
pub enum Added {
    /// A new bucket, represented by this hit.
    New,
    /// The bucket's smallest workload so far: the representative from now
    /// on (the previous one's reproducer, if any, is returned to remove).
    Smaller(Option<std::path::PathBuf>),
    /// Counted; the bucket keeps its representative.
    Counted,
}

impl Buckets {
    /// Counts `case` (of `signature`; `known`: it is an unmodified corpus
    /// seed) in its bucket.
    pub fn add(&mut self, signature: Signature, case: FoundCase, known: bool) -> Added {
        match self.by_signature.get_mut(&signature) {
            None => {
                self.by_signature.insert(
                    signature.clone(),
                    Bucket {
                        signature,
                        count: 1,
                        first_exec: case.exec,
                        first_secs: case.secs,
                        known,
                        case,
                    },
                );
                Added::New
            }
            Some(b) => {
                b.count += 1;
                b.known |= known;
                if case.exec < b.first_exec {
                    b.first_exec = case.exec;
                    b.first_secs = case.secs;
                }
                if size_key(&case) < size_key(&b.case) {
                    let old = std::mem::replace(&mut b.case, case);
                    Added::Smaller(old.reproducer)
                } else {
                    Added::Counted
                }
            }
        }
    }

    /// The representative of `signature`'s bucket.
    pub fn case_mut(&mut self, signature: &Signature) -> Option<&mut FoundCase> {
        self.by_signature.get_mut(signature).map(|b| &mut b.case)
    }

    /// The buckets, first seen first.
    pub fn into_sorted(self) -> Vec<Bucket> {
        let mut v: Vec<Bucket> = self.by_signature.into_values().collect();
        v.sort_by(|a, b| (a.first_exec, &a.signature).cmp(&(b.first_exec, &b.signature)));
        v
    }
}

/// Smaller first: fewer operations, shorter text, earlier execution.
fn size_key(case: &FoundCase) -> (usize, usize, u64) {
    (
        case.workload.ops.len(),
        case.workload.to_text().len(),
        case.exec,
    )
}

/// Removes a bucket's superseded reproducer, unless it is the same file
/// as the new one (equal content, equal name).
pub fn remove_superseded(old: Option<&Path>, new: Option<&Path>) {
    if let Some(old) = old {
        if Some(old) != new {
            // Best effort: a file left behind is a duplicate, not a loss.
            let _ = std::fs::remove_file(old);
        }
    }
}
