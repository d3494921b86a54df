//! Workloads as libFuzzer inputs: the inverse of
//! [`Workload::from_unstructured`].
//!
//! cargo-fuzz hands the `workload` target raw bytes, which
//! `from_unstructured` turns into a workload (the bug switches, barrier and
//! crash mode come from a [`FuzzConfig`], not from the bytes). [`decode`] is
//! exactly that decoding, shared by the target and `brownout import-crash`,
//! so an imported crash is the workload the target ran. [`encode`] goes the
//! other way, for `brownout export-seeds`: it writes the bytes that decode
//! back to a given workload.
//!
//! Not every workload is a generator output: the generator creates its
//! one to three files first, draws offsets from an 8-block window, lengths
//! up to two blocks, at most 16 schedule picks, and so on. [`project`] maps
//! a workload onto the nearest one the generator can produce and lists what
//! it changed; [`encode_lossy`] encodes that projection. A workload the
//! generator can produce round-trips exactly: `decode(encode(w)) == w` (up
//! to the header fields the bytes do not carry).

use crate::target::TargetInfo;
use crate::workload::BLOCK_SIZE;
use crate::workload::{
    ceil_log2, FuzzConfig, Op, Workload, BASE_WEIGHTS, DEFAULT_TARGET, MAX_FILES, MAX_OPS,
    SHORT_OPS, WIDE_ONE_IN, WIDE_RANGE_ONE_IN, WINDOW_BLOCKS,
};
use arbitrary::Unstructured;
use std::fmt;

const BLOCK: u64 = BLOCK_SIZE as u64;
/// The generator's largest file count.
const GEN_FILES: u32 = 3;
/// The generator's largest schedule and its largest pick.
const GEN_PICKS: usize = 16;
const GEN_PICK_MAX: u32 = 7;
/// The generator's largest unaligned offset (exclusive) and length.
const GEN_OFFSET_END: u64 = WINDOW_BLOCKS * BLOCK;
const GEN_LEN_MAX: u64 = 2 * BLOCK;
/// Swarm bits that scale every operation kind by 1: the base weights.
const SWARM_ALL_ONES: u64 = 0x15_5555;

/// The workload the `workload` fuzz target runs for `data` under `cfg`
/// (what `brownout import-crash` prints).
pub fn decode(data: &[u8], cfg: &FuzzConfig, info: Option<&TargetInfo>) -> Workload {
    // `from_unstructured` only fails on exhausted input, which it handles
    // by stopping early; the fallback is never taken in practice.
    Workload::from_unstructured(&mut Unstructured::new(data), cfg, info).unwrap_or_default()
}

/// Why a workload cannot be encoded exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the workload is not one the fuzz generator can produce: {}", .changes.first().map(ToString::to_string).unwrap_or_default())]
pub struct NotGeneratable {
    /// Everything [`project`] would change (at least one entry).
    pub changes: Vec<Change>,
}

/// One change [`project`] made to fit a workload to the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The operation (0-based index in the original workload), if any.
    pub op: Option<usize>,
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Some(i) => write!(f, "operation #{i}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// A projection: the nearest generator output and what changed.
#[derive(Debug, Clone)]
pub struct Projected {
    pub workload: Workload,
    pub changes: Vec<Change>,
}

/// Encodes `w` exactly: `decode(&encode(w, max_ops)?, cfg)` equals `w` for
/// a `cfg` with `w`'s bug switches, barrier, mode and `max_ops` (the
/// `expect:` header is not carried). `max_ops` must be the target's
/// `BROWNOUT_MAX_OPS`, because the operation count is encoded relative to
/// it.
pub fn encode(w: &Workload, max_ops: usize) -> Result<Vec<u8>, NotGeneratable> {
    let p = project(w, max_ops);
    if p.changes.is_empty() {
        Ok(encode_generatable(&p.workload, max_ops))
    } else {
        Err(NotGeneratable { changes: p.changes })
    }
}

/// Encodes the projection of `w` (see [`project`]); returns the bytes and
/// what the projection changed (empty: exact).
pub fn encode_lossy(w: &Workload, max_ops: usize) -> (Vec<u8>, Vec<Change>) {
    let p = project(w, max_ops);
    (encode_generatable(&p.workload, max_ops), p.changes)
}

fn op_limit(files: u32, max_ops: usize) -> usize {
    max_ops
        .clamp(1, MAX_OPS)
        .saturating_sub(files as usize)
        .max(1)
}

/// A read/write range the generator's `pick_range(false)` can produce.
fn range_ok(offset: u64, len: u64) -> bool {
    aligned_range_ok(offset, len) || (offset < GEN_OFFSET_END && (1..=GEN_LEN_MAX).contains(&len))
}

fn aligned_range_ok(offset: u64, len: u64) -> bool {
    offset.is_multiple_of(BLOCK)
        && offset / BLOCK < WINDOW_BLOCKS
        && len.is_multiple_of(BLOCK)
        && (1..=3).contains(&(len / BLOCK))
}

fn truncate_ok(size: u64) -> bool {
    (size.is_multiple_of(BLOCK) && size / BLOCK <= WINDOW_BLOCKS) || size <= GEN_OFFSET_END
}

/// Maps `w` onto the nearest workload the generator can produce with
/// `max_ops`: files `f0..f2`, created first; offsets, lengths and sizes in
/// the generator's window; at most `max_ops` operations; a schedule of at
/// most 16 picks of 0..=7; `complete` picks of 0..=7; the target
/// `fs-under-test` and no `expect:`. Bug switches, barrier and mode are
/// kept (they come from the target's configuration, not the bytes).
pub fn project(w: &Workload, max_ops: usize) -> Projected {
    let mut changes = Vec::new();
    let mut note = |op: Option<usize>, what: String| changes.push(Change { op, what });
    if w.header.mix {
        note(
            None,
            "mode: mix -> prefix (the libFuzzer target runs no sampled passes, so a \
             continuation may start from another state)"
                .to_string(),
        );
    }
    let files = w.header.files.clamp(1, GEN_FILES);
    if files != w.header.files {
        note(
            None,
            format!(
                "file count {} -> {files} (the generator uses at most {GEN_FILES} files; \
                 operations on other files move to f(N mod {files}))",
                w.header.files
            ),
        );
    }
    let remap = |f: u32| f % files;
    // The generator starts with `create f0` .. `create f{files-1}`.
    let prefix: Vec<Op> = (0..files).map(|file| Op::Create { file }).collect();
    let mut rest_start = 0;
    if w.ops.len() >= prefix.len() && w.ops[..prefix.len()] == prefix[..] {
        rest_start = prefix.len();
    } else {
        note(
            None,
            format!(
                "the workload does not start with `create f0` .. `create f{}`; they are added",
                files - 1
            ),
        );
    }
    let limit = op_limit(files, max_ops);
    let mut ops = prefix;
    for (i, op) in w.ops.iter().enumerate().skip(rest_start) {
        if ops.len() - files as usize == limit {
            note(
                Some(i),
                format!(
                    "dropped with the rest: at most {limit} operations after the creates (BROWNOUT_MAX_OPS)"
                ),
            );
            break;
        }
        let new = match *op {
            Op::Put { .. }
            | Op::Remove { .. }
            | Op::Commit { .. }
            | Op::Abort
            | Op::Reopen
            | Op::Get { .. }
            | Op::CheckIntegrity
            | Op::Compact
            | Op::Unwind
            | Op::Close { .. }
            | Op::Rename { .. }
            | Op::Unlink { .. }
            | Op::Mkdir { .. }
            | Op::Fallocate { .. }
            | Op::PunchHole { .. }
            | Op::DirFsync => {
                note(
                    Some(i),
                    format!("`{op}` dropped (the byte encoding is the in-place fs generator's)"),
                );
                continue;
            }
            Op::Create { .. } => {
                note(
                    Some(i),
                    format!("`{op}` dropped (the generator creates every file first)"),
                );
                continue;
            }
            Op::Write {
                file,
                offset,
                len,
                dsync,
            } => {
                let (offset, len) = fit_range(offset, len);
                Op::Write {
                    file: remap(file),
                    offset,
                    len,
                    dsync,
                }
            }
            Op::Read { file, offset, len } => {
                let (offset, len) = fit_range(offset, len);
                Op::Read {
                    file: remap(file),
                    offset,
                    len,
                }
            }
            Op::DioWrite {
                file,
                offset,
                len,
                dsync,
                aio,
                misaligned,
            } => {
                let start = (offset / BLOCK) % WINDOW_BLOCKS;
                let blocks = len.div_ceil(BLOCK).clamp(1, 3);
                let extra = if misaligned {
                    (offset % BLOCK).max(1)
                } else {
                    0
                };
                Op::DioWrite {
                    file: remap(file),
                    offset: start * BLOCK + extra,
                    len: blocks * BLOCK,
                    dsync,
                    aio,
                    misaligned,
                }
            }
            Op::Fsync { file } => Op::Fsync { file: remap(file) },
            Op::Fdatasync { file } => Op::Fdatasync { file: remap(file) },
            Op::DioWait { file } => Op::DioWait { file: remap(file) },
            Op::Truncate { file, size } => Op::Truncate {
                file: remap(file),
                size: if truncate_ok(size) {
                    size
                } else {
                    size.min(WINDOW_BLOCKS * BLOCK)
                },
            },
            Op::Writeback { file, pages } => Op::Writeback {
                file: file.map(remap),
                pages: pages.map(|p| p.clamp(1, 4)),
            },
            Op::Syncfs => Op::Syncfs,
            Op::Remount => Op::Remount,
            Op::Complete { pick } => Op::Complete {
                pick: pick % (GEN_PICK_MAX + 1),
            },
        };
        if new != *op {
            note(Some(i), format!("`{op}` -> `{new}`"));
        }
        ops.push(new);
    }
    let mut schedule: Vec<u32> = w
        .header
        .schedule
        .iter()
        .take(GEN_PICKS)
        .map(|p| p % (GEN_PICK_MAX + 1))
        .collect();
    if ops.len() == files as usize {
        // With no operation after the creates the input ends there, and
        // the schedule decodes as empty.
        schedule.clear();
    }
    if schedule != w.header.schedule {
        note(
            None,
            format!(
                "schedule {:?} -> {:?} (at most {GEN_PICKS} picks of 0..={GEN_PICK_MAX}; none without operations)",
                w.header.schedule, schedule
            ),
        );
    }
    if w.header.target != DEFAULT_TARGET {
        note(
            None,
            format!("target `{}` -> `{DEFAULT_TARGET}`", w.header.target),
        );
    }
    let mut header = w.header.clone();
    header.target = DEFAULT_TARGET.to_string();
    header.files = files;
    header.schedule = schedule;
    header.expect = None;
    header.mix = false;
    Projected {
        workload: Workload { header, ops },
        changes,
    }
}

/// Fits a buffered write or read range into what `pick_range(false)`
/// produces: kept if it already fits, else the offset wraps into the
/// window and the length is clamped to two blocks.
fn fit_range(offset: u64, len: u64) -> (u64, u64) {
    if range_ok(offset, len) {
        (offset, len)
    } else {
        (offset % GEN_OFFSET_END, len.clamp(1, GEN_LEN_MAX))
    }
}

/// Writes the bytes that `arbitrary::Unstructured` reads back as given
/// values.
struct Encoder {
    out: Vec<u8>,
    /// Whether the workload is encoded as a wide one (more operations
    /// than a short one may have).
    wide: bool,
}

impl Encoder {
    /// The bytes `int_in_range(start..=end)` consumes to return `value`:
    /// one per byte of `end - start`, big-endian, value taken modulo
    /// `end - start + 1` (arbitrary 1.x).
    fn int(&mut self, start: u64, end: u64, value: u64) {
        debug_assert!(
            start <= value && value <= end,
            "{value} not in {start}..={end}"
        );
        let delta = end - start;
        let mut n = 0;
        while n < 8 && (delta >> (8 * n)) > 0 {
            n += 1;
        }
        let offset = value - start;
        for i in (0..n).rev() {
            self.out.push((offset >> (8 * i)) as u8);
        }
    }

    /// `ratio(numerator, denominator)` returning `yes`.
    fn ratio(&mut self, numerator: u64, denominator: u64, yes: bool) {
        self.int(1, denominator, if yes { 1 } else { numerator + 1 });
    }

    fn file(&mut self, files: u32, file: u32) {
        let near = u64::from(files.min(2));
        let file = u64::from(file);
        if file < near {
            self.ratio(3, 4, true);
            self.int(0, near - 1, file);
        } else {
            self.ratio(3, 4, false);
            self.int(0, u64::from(files) - 1, file);
        }
    }

    /// In a wide workload, "not a wide range" (`project` keeps every
    /// range in the window).
    fn not_wide(&mut self) {
        if self.wide {
            self.ratio(1, u64::from(WIDE_RANGE_ONE_IN), false);
        }
    }

    fn range(&mut self, offset: u64, len: u64) {
        self.not_wide();
        if aligned_range_ok(offset, len) {
            self.ratio(1, 2, true);
            self.int(0, WINDOW_BLOCKS - 1, offset / BLOCK);
            self.int(1, 3, len / BLOCK);
        } else {
            self.ratio(1, 2, false);
            self.int(0, GEN_OFFSET_END - 1, offset);
            self.int(1, GEN_LEN_MAX, len);
        }
    }
}

/// Kind index in the generator's weight table.
fn kind_index(op: &Op) -> usize {
    match op {
        Op::Write { .. } => 0,
        Op::DioWrite { .. } => 1,
        Op::Read { .. } => 2,
        Op::Fsync { .. } => 3,
        Op::Fdatasync { .. } => 4,
        Op::Truncate { .. } => 5,
        Op::DioWait { .. } => 6,
        Op::Writeback { .. } => 7,
        Op::Syncfs => 8,
        Op::Remount => 9,
        Op::Complete { .. } | Op::Create { .. } => 10,
        // `project` drops every operation outside the fs vocabulary.
        _ => unreachable!("not an fs operation: {op}"),
    }
}

/// Encodes a workload that [`project`] leaves unchanged.
fn encode_generatable(w: &Workload, max_ops: usize) -> Vec<u8> {
    let files = w.header.files;
    let ops = &w.ops[files as usize..];
    let limit = op_limit(files, max_ops);
    let n = ops.len().max(1);
    let wide = n > limit.min(SHORT_OPS);
    let mut e = Encoder {
        out: Vec::new(),
        wide,
    };
    e.ratio(1, u64::from(WIDE_ONE_IN), wide);
    let files_max = if wide { MAX_FILES } else { GEN_FILES };
    e.int(1, u64::from(files_max), u64::from(files));
    e.int(0, (1 << 22) - 1, SWARM_ALL_ONES);
    let total: u64 = BASE_WEIGHTS.iter().map(|&w| u64::from(w)).sum();
    if wide {
        let exp = ceil_log2(n);
        e.int(0, u64::from(ceil_log2(limit)), u64::from(exp));
        e.int(1, limit.min(1 << exp) as u64, n as u64);
    } else {
        e.int(1, limit.min(SHORT_OPS) as u64, n as u64);
    }
    if ops.is_empty() {
        // The decoder stops at the end of the input.
        return e.out;
    }
    for op in ops {
        e.file(files, op.file().unwrap_or(0));
        let kind = kind_index(op);
        let roll: u64 = BASE_WEIGHTS[..kind].iter().map(|&w| u64::from(w)).sum();
        e.int(0, total - 1, roll);
        match *op {
            Op::Write {
                offset, len, dsync, ..
            } => {
                e.range(offset, len);
                e.ratio(1, 3, dsync);
            }
            Op::DioWrite {
                offset,
                len,
                dsync,
                aio,
                misaligned,
                ..
            } => {
                e.ratio(1, 64, misaligned);
                if !misaligned {
                    e.not_wide();
                }
                e.int(0, WINDOW_BLOCKS - 1, offset / BLOCK);
                e.int(1, 3, len / BLOCK);
                if misaligned {
                    e.int(1, BLOCK - 1, offset % BLOCK);
                }
                e.ratio(2, 3, dsync);
                e.ratio(1, 2, aio);
            }
            Op::Read { offset, len, .. } => e.range(offset, len),
            Op::Truncate { size, .. } => {
                e.not_wide();
                if size.is_multiple_of(BLOCK) && size / BLOCK <= WINDOW_BLOCKS {
                    e.ratio(1, 2, true);
                    e.int(0, WINDOW_BLOCKS, size / BLOCK);
                } else {
                    e.ratio(1, 2, false);
                    e.int(0, WINDOW_BLOCKS * BLOCK, size);
                }
            }
            Op::Writeback { file, pages } => {
                e.ratio(1, 2, file.is_some());
                e.ratio(1, 2, pages.is_some());
                if let Some(p) = pages {
                    e.int(1, 4, u64::from(p));
                }
            }
            Op::Complete { pick } => e.int(0, u64::from(GEN_PICK_MAX), u64::from(pick)),
            Op::Create { .. }
            | Op::Fsync { .. }
            | Op::Fdatasync { .. }
            | Op::DioWait { .. }
            | Op::Syncfs
            | Op::Remount => {}
            _ => unreachable!("`project` keeps fs operations only: {op}"),
        }
    }
    let schedule = &w.header.schedule;
    e.int(0, GEN_PICKS as u64, schedule.len() as u64);
    for &p in schedule {
        e.int(0, u64::from(GEN_PICK_MAX), u64::from(p));
    }
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::generate;
    use crate::workload::CrashMode;
    use crate::workload::{Barrier, Bugs};

    fn cfg(max_ops: usize) -> FuzzConfig {
        FuzzConfig {
            target: crate::workload::DEFAULT_TARGET.to_string(),
            bugs: Bugs::one("dio-end-before-sync"),
            barrier: Barrier::Complete,
            mode: CrashMode::Torn,
            max_ops,
        }
    }

    #[test]
    fn generated_workloads_round_trip_through_bytes() {
        for max_ops in [1, 4, 24, 64, 512] {
            let cfg = cfg(max_ops);
            let mut window = 0;
            for i in 0..400 {
                let w = generate(7, i, &cfg, None);
                // The encoder writes the window's draws only: a workload
                // with a wide draw (whole-file ranges, more files) is
                // projected into the window, tested below.
                if !project(&w, max_ops).changes.is_empty() {
                    continue;
                }
                window += 1;
                let bytes = encode(&w, max_ops).unwrap_or_else(|e| {
                    panic!("max_ops {max_ops}, workload {i}: {e}\n{}", w.to_text())
                });
                assert_eq!(
                    decode(&bytes, &cfg, None),
                    w,
                    "max_ops {max_ops}, workload {i}"
                );
                // Encoding is canonical: the same bytes again.
                assert_eq!(encode(&decode(&bytes, &cfg, None), max_ops).unwrap(), bytes);
            }
            assert!(
                window >= 100,
                "max_ops {max_ops}: only {window} in the window"
            );
        }
    }

    #[test]
    fn projections_decode_to_themselves() {
        let text = "files: 5\nschedule: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\n\
                    expect: acked-data\n\
                    create f0\nwrite f4 100000 9000 dsync\ncreate f3\n\
                    dio-write f1 65536 20480 aio\ndio-write f2 4097 100 misaligned\n\
                    read f0 3 3\ntruncate f1 99999\nwriteback f2 pages 9\n\
                    complete 12\nremount\nsyncfs\nfsync f3\n";
        let w = Workload::parse(text).unwrap();
        for max_ops in [3, 24] {
            let (bytes, changes) = encode_lossy(&w, max_ops);
            assert!(!changes.is_empty());
            let p = project(&w, max_ops);
            assert_eq!(p.changes, changes);
            let cfg = FuzzConfig {
                max_ops,
                ..FuzzConfig::default()
            };
            let back = decode(&bytes, &cfg, None);
            assert_eq!(back, p.workload, "max_ops {max_ops}");
            back.validate().unwrap();
            assert!(project(&back, max_ops).changes.is_empty());
            assert!(encode(&w, max_ops).is_err());
        }
    }

    #[test]
    fn creates_only_and_empty_workloads_encode() {
        for text in [
            "files: 2\ncreate f0\ncreate f1\n",
            "files: 1\n",
            "files: 3\nschedule: 4\nsyncfs\n",
        ] {
            let w = Workload::parse(text).unwrap();
            let (bytes, _) = encode_lossy(&w, 24);
            let p = project(&w, 24).workload;
            assert_eq!(
                decode(
                    &bytes,
                    &FuzzConfig {
                        max_ops: 24,
                        ..FuzzConfig::default()
                    },
                    None
                ),
                p,
                "{text}"
            );
        }
    }
}
