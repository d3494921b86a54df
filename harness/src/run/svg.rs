//! `brownout show FILE --svg OUT`: a finding as a picture. One
//! self-contained SVG with a time axis in log positions: the workload's
//! operations as spans (call to return), the block requests as spans
//! (submission to completion: writes, FUA and PREFLUSH writes, flushes,
//! discards), the acknowledgement marks, the crash point of the finding,
//! and, at that point, which writes were durable, which volatile or
//! in-flight writes the crash state kept, and which it dropped. Hovering
//! an element shows its details (`<title>`).

use crate::finding::Finding;
use crate::run::execute::Execution;
use crate::workload::Workload;
use replay::log::EntryRef;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Width of the label column, pixels.
const LABEL_W: usize = 320;
/// Pixels per log position.
const COL_W: usize = 14;
/// Height of one row.
const ROW_H: usize = 18;
/// Margin around the drawing.
const PAD: usize = 12;

/// One block request, from the log.
struct Request {
    id: u64,
    kind: &'static str,
    submitted: usize,
    completed: Option<usize>,
    detail: String,
}

/// How a request stands at the finding's crash point.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AtCrash {
    Durable,
    Kept,
    Dropped,
    Later,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn x(pos: usize) -> usize {
    LABEL_W + pos * COL_W
}

/// The requests of `exec`'s log, in submission order.
fn requests(exec: &Execution) -> Vec<Request> {
    let mut reqs: Vec<Request> = Vec::new();
    let mut index: BTreeMap<u64, usize> = BTreeMap::new();
    for pos in 0..exec.log.len() {
        let (id, kind, detail) = match exec.log.entry(pos) {
            EntryRef::Write {
                id,
                sector,
                data,
                flags,
            } => {
                let kind = match (flags.fua, flags.preflush) {
                    (true, _) => "fua",
                    (false, true) => "preflush",
                    _ => "write",
                };
                let mut d = format!("write {id}: sector {sector}, {} bytes", data.len());
                if flags.preflush {
                    d.push_str(", PREFLUSH");
                }
                if flags.fua {
                    d.push_str(", FUA");
                }
                (id, kind, d)
            }
            EntryRef::Flush { id } => (id, "flush", format!("flush {id}")),
            EntryRef::Discard {
                id,
                sector,
                nr_sectors,
            } => (
                id,
                "discard",
                format!("discard {id}: sector {sector} +{nr_sectors}"),
            ),
            EntryRef::Complete { id } => {
                if let Some(&i) = index.get(&id) {
                    reqs[i].completed = Some(pos);
                }
                continue;
            }
            EntryRef::Mark { .. } => continue,
        };
        let detail = match exec.owners.get(&id) {
            Some(o) => format!("{detail} [{}]", crate::run::show::owner(Some(o))),
            None => detail,
        };
        index.insert(id, reqs.len());
        reqs.push(Request {
            id,
            kind,
            submitted: pos,
            completed: None,
            detail,
        });
    }
    reqs
}

/// Lanes for spans `[from, to]`, greedily: the first lane free at `from`.
fn lanes(spans: &[(usize, usize)]) -> (Vec<usize>, usize) {
    let mut ends: Vec<usize> = Vec::new();
    let mut lane_of = Vec::with_capacity(spans.len());
    for &(from, to) in spans {
        match ends.iter().position(|&e| e < from) {
            Some(l) => {
                ends[l] = to;
                lane_of.push(l);
            }
            None => {
                ends.push(to);
                lane_of.push(ends.len() - 1);
            }
        }
    }
    (lane_of, ends.len())
}

/// The SVG of `exec` (the execution of `workload`) and its `finding`.
/// `continued_from`: `exec` is a continuation, which ran `workload`'s
/// operations numbered from there on (`show::timeline`).
pub fn render(
    workload: &Workload,
    exec: &Execution,
    finding: Option<&Finding>,
    continued_from: Option<usize>,
) -> String {
    let len = exec.log.len();
    let first_op = continued_from.unwrap_or(0);
    // A continuation's picture starts with the recovery it continued from.
    let first = match continued_from {
        Some(_) => 0,
        None => exec.times.first().map_or(0, |t| t.start),
    };
    let reqs: Vec<Request> = requests(exec)
        .into_iter()
        .filter(|r| r.completed.unwrap_or(len) >= first)
        .collect();
    // The crash point, when the finding's state is a state of this log: of
    // the workload's own log, `ID`; of a continuation's, `OUTER+ID`. (A
    // recovery's state, `…/ID`, lies in yet another log.)
    let crash = finding.and_then(|f| {
        let state = f.state.as_deref()?;
        let own = match continued_from {
            Some(_) => state.split_once('+')?.1,
            None => state,
        };
        (!own.is_empty() && !own.contains('+') && !own.contains('/'))
            .then_some(f.position?)
            .filter(|&p| p <= len)
    });
    let persisted: BTreeSet<u64> = finding
        .map(|f| {
            f.persisted
                .iter()
                .filter_map(|p| p.split(':').next()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let at = crash.and_then(|p| replay::requests_at(&exec.log, p).ok());
    let status = |id: u64| -> AtCrash {
        let Some(at) = &at else {
            return AtCrash::Later;
        };
        if at.durable.contains(&id) {
            AtCrash::Durable
        } else if at.volatile.contains(&id) || at.in_flight.contains(&id) {
            if persisted.contains(&id) {
                AtCrash::Kept
            } else {
                AtCrash::Dropped
            }
        } else {
            AtCrash::Later
        }
    };

    let spans: Vec<(usize, usize)> = reqs
        .iter()
        .map(|r| (r.submitted, r.completed.unwrap_or(len)))
        .collect();
    let (lane_of, n_lanes) = lanes(&spans);
    let marks: Vec<(usize, String)> = (first..len)
        .filter_map(|pos| match exec.log.entry(pos) {
            EntryRef::Mark { label, .. } => Some((pos, label.to_string())),
            _ => None,
        })
        .collect();

    let n_ops = exec.times.len();
    let header_h = 3 * ROW_H;
    let ops_top = header_h + ROW_H + PAD;
    let marks_top = ops_top + n_ops * ROW_H + ROW_H / 2;
    let reqs_top = marks_top + ROW_H + ROW_H / 2;
    let legend_top = reqs_top + n_lanes.max(1) * ROW_H + ROW_H;
    let height = legend_top + 2 * ROW_H + PAD;
    // Wide enough for the legend, whatever the log's length.
    let width = (x(len.saturating_sub(first)) + 160).max(PAD + 4 * 220);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">
<style>
.op {{ fill: #cfe3f7; stroke: #4a78a8; }}
.op.failed {{ fill: #f3d6d6; }}
.op.broken {{ stroke: #c0392b; stroke-width: 2.5; }}
.req {{ stroke: #333; stroke-width: 0.5; }}
.write {{ fill: #6fa8dc; }}
.fua {{ fill: #8e7cc3; }}
.preflush {{ fill: #76a5af; }}
.flush {{ fill: #e69138; }}
.discard {{ fill: #b7b7b7; }}
.kept {{ stroke: #38761d; stroke-width: 2.5; }}
.dropped {{ opacity: 0.35; stroke: #c0392b; stroke-width: 1.5; stroke-dasharray: 3 2; }}
.durable {{ stroke: #000; stroke-width: 1.5; }}
.mark {{ stroke: #38761d; stroke-width: 1; }}
.crash {{ stroke: #c0392b; stroke-width: 2; stroke-dasharray: 6 3; }}
.axis {{ stroke: #999; stroke-width: 0.5; }}
text.small {{ font-size: 9px; }}
</style>
<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"##
    );
    // Title and the finding in words.
    let title = format!(
        "{} ({} operations, {} log entries)",
        workload.header.target,
        workload.ops.len(),
        len
    );
    let _ = writeln!(
        s,
        r##"<text x="{PAD}" y="{}" font-size="13" font-weight="bold">{}</text>"##,
        PAD + 4,
        esc(&title)
    );
    let summary = match finding {
        Some(f) => format!("FINDING: {}: {}", f.rule, f.message),
        None => "no finding".to_string(),
    };
    let _ = writeln!(
        s,
        r##"<text class="finding" x="{PAD}" y="{}">{}</text>"##,
        PAD + 4 + ROW_H,
        esc(&summary)
    );
    if let Some(f) = finding {
        let state = match (&f.state, crash) {
            (Some(st), Some(p)) => format!("crash: state {st}, after log entry {p}"),
            (Some(st), None) => format!(
                "crash: state {st} (in a recovery's or a continuation's own log: not on this axis)"
            ),
            (None, _) => "no crash: found while the workload ran".to_string(),
        };
        let _ = writeln!(
            s,
            r##"<text x="{PAD}" y="{}">{}</text>"##,
            PAD + 4 + 2 * ROW_H,
            esc(&state)
        );
    }
    // Axis: a tick every 10 positions.
    let axis_y = header_h + PAD;
    let _ = writeln!(
        s,
        r##"<text x="{PAD}" y="{}">log position</text>"##,
        axis_y + 4
    );
    for pos in (first..=len).filter(|p| p % 10 == 0) {
        let _ = writeln!(
            s,
            r##"<line class="axis" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/><text class="small" x="{0}" y="{3}" text-anchor="middle">{pos}</text>"##,
            x(pos - first),
            axis_y + 8,
            legend_top - ROW_H / 2,
            axis_y + 4
        );
    }
    // Operations.
    for (i, t) in exec.times.iter().enumerate() {
        let y = ops_top + i * ROW_H;
        let op = workload.ops.get(i).map_or(String::new(), |o| o.to_string());
        let end = if t.end == crate::model::fs::NEVER {
            len
        } else {
            t.end
        };
        let n = first_op + i;
        let broken = finding.is_some_and(|f| f.op == Some(n));
        let class = match (t.ok, broken) {
            (_, true) => "op broken",
            (false, false) => "op failed",
            _ => "op",
        };
        let _ = writeln!(
            s,
            r##"<text x="{PAD}" y="{}">#{n} {}</text><rect class="{class}" x="{}" y="{}" width="{}" height="{}"><title>#{n} {}: called at {}, returned at {}</title></rect>"##,
            y + ROW_H - 5,
            esc(&op),
            x(t.start.saturating_sub(first)),
            y + 2,
            (end.saturating_sub(t.start) * COL_W).max(3),
            ROW_H - 4,
            esc(&op),
            t.start,
            if t.end == crate::model::fs::NEVER {
                "never".to_string()
            } else {
                t.end.to_string()
            }
        );
    }
    // Acknowledgement marks.
    let _ = writeln!(
        s,
        r##"<text x="{PAD}" y="{}">marks (acknowledgements)</text>"##,
        marks_top + ROW_H - 5
    );
    for (pos, label) in &marks {
        let xm = x(pos - first);
        let _ = writeln!(
            s,
            r##"<line class="mark" x1="{xm}" y1="{}" x2="{xm}" y2="{}"><title>mark at {pos}: {}</title></line><path d="M {xm} {} l -4 -7 l 8 0 z" fill="#38761d"><title>mark at {pos}: {}</title></path>"##,
            ops_top,
            marks_top + ROW_H,
            esc(label),
            marks_top + ROW_H,
            esc(label)
        );
    }
    // Block requests, in lanes.
    let _ = writeln!(
        s,
        r##"<text x="{PAD}" y="{}">block requests (submitted → completed)</text>"##,
        reqs_top + ROW_H - 5
    );
    for (r, lane) in reqs.iter().zip(&lane_of) {
        let y = reqs_top + lane * ROW_H;
        let end = r.completed.unwrap_or(len);
        let st = status(r.id);
        let state_class = match st {
            AtCrash::Durable => " durable",
            AtCrash::Kept => " kept",
            AtCrash::Dropped => " dropped",
            AtCrash::Later => "",
        };
        let state_words = match st {
            AtCrash::Durable => "; durable at the crash",
            AtCrash::Kept => "; volatile at the crash, kept by this crash state",
            AtCrash::Dropped => "; volatile at the crash, dropped by this crash state",
            AtCrash::Later => "",
        };
        let x0 = x(r.submitted.saturating_sub(first));
        let w = ((end.saturating_sub(r.submitted)).max(1) * COL_W).saturating_sub(2);
        let _ = writeln!(
            s,
            r##"<rect class="req {}{state_class}" data-id="{}" x="{x0}" y="{}" width="{w}" height="{}"><title>{}: submitted at {}, {}{state_words}</title></rect><text class="small" x="{}" y="{}">{}{}</text>"##,
            r.kind,
            r.id,
            y + 2,
            ROW_H - 4,
            esc(&r.detail),
            r.submitted,
            r.completed
                .map_or("never completed".to_string(), |c| format!(
                    "completed at {c}"
                )),
            x0 + 2,
            y + ROW_H - 6,
            match r.kind {
                "flush" => "F",
                "discard" => "D",
                _ => "W",
            },
            r.id
        );
    }
    // The crash point.
    if let Some(p) = crash {
        let xc = x(p.saturating_sub(first));
        let _ = writeln!(
            s,
            r##"<line class="crash" x1="{xc}" y1="{}" x2="{xc}" y2="{}"/><text x="{}" y="{}" fill="#c0392b" font-weight="bold">crash</text>"##,
            header_h + PAD + 8,
            legend_top - ROW_H / 2,
            xc + 3,
            header_h + PAD + 18
        );
    }
    // Legend.
    let items = [
        ("op", "operation (call → return)"),
        ("req write", "write"),
        ("req fua", "FUA write"),
        ("req preflush", "PREFLUSH write"),
        ("req flush", "flush"),
        ("req write durable", "durable at the crash"),
        ("req write kept", "kept by the crash state"),
        ("req write dropped", "dropped by the crash state"),
    ];
    for (k, (class, words)) in items.iter().enumerate() {
        let lx = PAD + (k % 4) * 220;
        let ly = legend_top + (k / 4) * ROW_H;
        let _ = writeln!(
            s,
            r##"<rect class="{class}" x="{lx}" y="{}" width="24" height="{}"/><text x="{}" y="{}">{words}</text>"##,
            ly + 2,
            ROW_H - 6,
            lx + 30,
            ly + ROW_H - 6
        );
    }
    s.push_str("</svg>\n");
    s
}
