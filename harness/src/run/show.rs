//! `brownout show`: the timeline of one execution — each operation with
//! the block requests, completions and acknowledgement marks it caused, in
//! log order, so a finding's crash position can be read against it.

use crate::device::disk::BioOwner;
use crate::run::execute::Execution;
use crate::workload::Workload;

/// Sectors per 4 KiB block, for block numbers in the timeline.
const SECTORS_PER_BLOCK: u64 = 8;
use replay::log::EntryRef;
use std::fmt::Write as _;

/// Who issued a request, in the timeline's words (also the picture's,
/// `run::svg`).
pub(crate) fn owner(o: Option<&BioOwner>) -> String {
    match o {
        Some(BioOwner::Dio { file, dio }) => format!("dio f{file} #{dio}"),
        Some(BioOwner::Writeback { file }) => format!("writeback f{file}"),
        Some(BioOwner::Other(label)) => label.to_string(),
        None => "other".into(),
    }
}

/// The timeline text of `exec`, from the first operation on (`all`: from
/// mkfs on). `continued_from`: `exec` is a continuation, which ran
/// `workload`'s operations numbered from there on; its timeline starts
/// with the recovery it continued from.
pub fn timeline(
    workload: &Workload,
    exec: &Execution,
    all: bool,
    continued_from: Option<usize>,
) -> String {
    let mut out = String::new();
    let first = if all || continued_from.is_some() {
        0
    } else {
        exec.times.first().map_or(0, |t| t.start)
    };
    let first_op = continued_from.unwrap_or(0);
    let mut op_iter = exec.times.iter().enumerate().peekable();
    for pos in first..exec.log.len() {
        while let Some((i, t)) = op_iter.peek() {
            if t.start > pos {
                break;
            }
            let status = if t.ok {
                ""
            } else {
                "  (failed or did not return)"
            };
            let _ = writeln!(out, "== op #{}: {}{status}", first_op + i, workload.ops[*i]);
            op_iter.next();
        }
        let line = match exec.log.entry(pos) {
            EntryRef::Write {
                id,
                sector,
                data,
                flags,
            } => {
                let mut f = String::new();
                for (on, name) in [
                    (flags.preflush, " PREFLUSH"),
                    (flags.fua, " FUA"),
                    (flags.metadata, " META"),
                ] {
                    if on {
                        f.push_str(name);
                    }
                }
                format!(
                    "W {id:>4}  block {:>4}+{:<2} sectors {}{f}  [{}]",
                    sector / SECTORS_PER_BLOCK,
                    sector % SECTORS_PER_BLOCK,
                    data.len() / 512,
                    owner(exec.owners.get(&id))
                )
            }
            EntryRef::Flush { id } => {
                format!("F {id:>4}  flush  [{}]", owner(exec.owners.get(&id)))
            }
            EntryRef::Discard {
                id,
                sector,
                nr_sectors,
            } => {
                format!("D {id:>4}  sector {sector} +{nr_sectors}")
            }
            EntryRef::Complete { id } => format!("C {id:>4}"),
            EntryRef::Mark { label, .. } => format!("M       {label}"),
        };
        let _ = writeln!(out, "{pos:>5}  {line}");
    }
    out
}
