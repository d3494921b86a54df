//! Words for a data mismatch: which write a byte came from, which rule a
//! wrong byte breaks, what was expected instead.

use crate::finding::{Finding, Rule};
use crate::model::fs::{Mismatch, Model, Value};
use crate::workload::{FileId, Workload};

fn describe_value(workload: &Workload, model: &Model, ino: usize, m: usize) -> String {
    let md = &model.files[ino].mods[m];
    let number = |op: usize| model.op_number(op);
    match (md.value, md.op) {
        (Value::Zero, None) => "zeroes (never written)".to_string(),
        (Value::Zero, Some(op)) => format!("zeroes (op #{} `{}`)", number(op), workload.ops[op]),
        (Value::Write { wid }, Some(op)) => {
            format!("write #{wid} (op #{} `{}`)", number(op), workload.ops[op])
        }
        (Value::Write { wid }, None) => format!("write #{wid}"),
        (Value::Base, _) => "what the recovered file held before the continuation".to_string(),
    }
}

/// Fills `f` with the rule, operation, range, expected and observed values
/// of a data mismatch. The rule is chosen from what the bytes are: an older
/// value of this file where an acknowledged write should be is rule 2 (or
/// 4 when only the `dio_wait` barrier promised it); bytes that a truncate
/// had cut off, or that this file never held, are rule 5. `file` is the
/// name the bytes were read by, `ino` the model's file they were judged
/// against.
pub fn describe_mismatch(
    f: &mut Finding,
    workload: &Workload,
    model: &Model,
    (file, ino): (FileId, usize),
    base: u64,
    data: &[u8],
    m: &Mismatch,
) {
    let fm = &model.files[ino];
    let run = &data[(m.lo - base) as usize..(m.hi - base) as usize];
    let rule_if_crash = if m.allowed_without_barrier {
        Rule::DioBarrier
    } else {
        match (m.observed_mod, m.verdict.superseder) {
            (Some(_), Some((sup, _))) if fm.mods[sup].value != Value::Zero => Rule::AckedData,
            _ => Rule::StaleData,
        }
    };
    // A run-time read keeps rule 8; a crash state takes the rule above.
    if f.rule != Rule::ReadYourWrites {
        f.rule = rule_if_crash;
        f.rule_number = rule_if_crash.number();
    }
    if let Some((sup, source)) = m.verdict.superseder {
        if f.rule != Rule::ReadYourWrites {
            let op = source.op();
            f.op = Some(op);
            f.op_text = Some(workload.ops[op].to_string());
        }
        let _ = sup;
    }
    f.file = Some(format!("f{file}"));
    f.range = Some((m.lo, m.hi));
    let expected: Vec<String> = m
        .verdict
        .allowed
        .iter()
        .map(|&a| describe_value(workload, model, ino, a))
        .collect();
    f.expected = Some(format!("one of: {}", expected.join("; ")));
    let observed = match m.observed_mod {
        Some(om) => format!("{} (superseded)", describe_value(workload, model, ino, om)),
        None => match model.identify(workload, run) {
            Some(w) => format!(
                "bytes of f{} offset {} from op #{} `{}`{}{}",
                w.file,
                w.offset,
                w.op,
                w.text,
                if w.before_crash {
                    ", written before the crash this run recovered from"
                } else {
                    ""
                },
                if w.file != file {
                    " (another file's data)"
                } else {
                    ""
                }
            ),
            None if run.iter().all(|&b| b == 0) => "zeroes".to_string(),
            None => format!(
                "bytes no write of this workload produced (first: {:02x?})",
                &run[..run.len().min(8)]
            ),
        },
    };
    f.observed = Some(observed);
    if f.message.is_empty() || f.rule != Rule::ReadYourWrites {
        f.message = match f.rule {
            Rule::AckedData => format!("f{file}: acknowledged data lost after a crash"),
            Rule::DioBarrier => format!("f{file}: O_DSYNC direct I/O lost after dio_wait returned"),
            Rule::StaleData => format!("f{file}: stale or foreign data after a crash"),
            _ => f.message.clone(),
        };
    }
}
