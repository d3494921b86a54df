//! Crash-state enumeration.
//!
//! A crash at log position `t` (after `entries[..t]`) leaves `durable(t)`
//! plus any subset of the *pending* writes: the volatile ones (completed, not
//! yet made durable) and the in-flight ones (submitted, not completed). Three
//! modes explore that space, each in a deterministic order, each state with a
//! short printable id that [`find_state`] maps back to the state:
//!
//! - `prefix` (`p<t>`): every write completed before `t` is on the image,
//!   in-flight ones are not (what xfstests' `replay-log` gives). Only the
//!   positions right after a data completion or a mark are states: other
//!   positions add nothing.
//! - `reorder` (`r<t>.<k>`): durable(t) plus subset `k` of the pending writes.
//!   With at most `max_volatile` pending writes, every subset: `k` is then a
//!   bit mask over the pending list (volatile ones by completion order, then
//!   in-flight ones by submission order). Beyond, a seeded sample: `k = 0`
//!   none, `k = 1` all, `k = 2 + i` all but pending write `i`, then `samples`
//!   random subsets (duplicates dropped).
//! - `torn` (`t<t>.<k>.<j>`): the reorder states, and after each of them the
//!   same subset plus one more pending write persisted only for a prefix of
//!   its sectors, cut at multiples of [`EnumOptions::tear_sectors`]; `j`
//!   numbers those (write, sector count) pairs, so the same id names another
//!   state under another tear unit.
//!
//! Every mode starts from a base image: zeros ([`StateIter::new`]) or a
//! given image ([`StateIter::over`]), which counts as durable and older
//! than every write of the log.
//!
//! Positions are only those where something relevant changed (a data
//! submission or completion, a flush raising the durable bound, a mark).
//! Images are built incrementally: prefix mode applies each new completion
//! to the previous image; the other modes keep a *base* image of the durable
//! writes and derive each state from it by applying only its persisted
//! writes, copy-on-write.
//!
//! Overlapping writes: where several persisted writes cover a sector, the
//! one that completed last wins (in-flight writes count as completing after
//! all completed ones, in submission order). The base image records, per
//! sector, the rank of the durable write that owns it, so a persisted
//! volatile write that completed *before* that durable write does not
//! overwrite it.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};

use crate::error::ReplayError;
use crate::image::Image;
use crate::log::{Kind, Log, SECTOR_SIZE};
use crate::model::{Event, Model};

/// Enumeration mode.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Prefix,
    Reorder,
    Torn,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Prefix => "prefix",
            Mode::Reorder => "reorder",
            Mode::Torn => "torn",
        })
    }
}

impl FromStr for Mode {
    type Err = ReplayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "prefix" => Ok(Mode::Prefix),
            "reorder" => Ok(Mode::Reorder),
            "torn" => Ok(Mode::Torn),
            _ => Err(ReplayError::BadMode(s.to_string())),
        }
    }
}

/// What to enumerate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumOptions {
    pub mode: Mode,
    /// Largest pending set enumerated exhaustively (clamped to 24).
    pub max_volatile: usize,
    /// Random subsets per position beyond `max_volatile`.
    pub samples: usize,
    pub seed: u64,
    /// Start right after the first mark with this label.
    pub start_mark: Option<String>,
    /// Stop right after the first mark with this label (at or after the start).
    pub end_mark: Option<String>,
    /// Enumerate at most this many states.
    pub limit: Option<usize>,
    /// Deduplicate by image content alone. By default the key is the image
    /// plus the number of marks before the state, since the harness's
    /// obligations change at marks; a checker that sees only the image (an
    /// external fsck) needs each image once.
    pub distinct_images_only: bool,
    /// Tear unit in 512-byte sectors: torn mode cuts a write only at
    /// multiples of it. A device whose atomic write unit is larger than a
    /// sector (8 = 4 KiB pages on most SSDs) never persists part of a unit,
    /// so tears inside one are states no such device can produce. 0 is
    /// taken as 1.
    pub tear_sectors: u64,
    /// Thinning for a budgeted check: at most this many subsets per
    /// position, in id order (`k = 0`, where no pending write persisted,
    /// comes first: the state that loses the whole volatile cache).
    /// `None`: every subset. Ids are those of the full enumeration, so a
    /// state found in a thinned pass is found again without thinning.
    pub max_subsets: Option<u64>,
    /// Thinning of torn mode: at most this many torn variants per subset,
    /// in id order. `None`: every one.
    pub max_tears: Option<u64>,
    /// Budget of torn mode: at most this many torn variants per subset,
    /// every tear point of the newest pending write first, then a sample
    /// of the others seeded by `seed`, the position and the subset. Ids
    /// stay those of the full enumeration. `None`: every one. Ignored
    /// where `max_tears` thins instead.
    pub tear_budget: Option<u64>,
}

impl Default for EnumOptions {
    fn default() -> Self {
        EnumOptions {
            mode: Mode::Prefix,
            max_volatile: 8,
            samples: 64,
            seed: 0,
            start_mark: None,
            end_mark: None,
            limit: None,
            distinct_images_only: false,
            tear_sectors: 1,
            max_subsets: None,
            max_tears: None,
            tear_budget: None,
        }
    }
}

/// Hard cap on exhaustive enumeration: 2^24 subsets per position is already
/// far beyond anything checkable.
const EXHAUSTIVE_CAP: usize = 24;

/// The printable id of a crash state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateId {
    Prefix {
        position: usize,
    },
    Reorder {
        position: usize,
        subset: u64,
    },
    Torn {
        position: usize,
        subset: u64,
        tear: u64,
    },
}

impl StateId {
    /// The log position of the state.
    pub fn position(&self) -> usize {
        match *self {
            StateId::Prefix { position }
            | StateId::Reorder { position, .. }
            | StateId::Torn { position, .. } => position,
        }
    }
}

impl fmt::Display for StateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateId::Prefix { position } => write!(f, "p{position}"),
            StateId::Reorder { position, subset } => write!(f, "r{position}.{subset}"),
            StateId::Torn {
                position,
                subset,
                tear,
            } => write!(f, "t{position}.{subset}.{tear}"),
        }
    }
}

impl FromStr for StateId {
    type Err = ReplayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ReplayError::BadStateId(s.to_string());
        let mut chars = s.chars();
        let tag = chars.next().ok_or_else(bad)?;
        let nums: Vec<u64> = chars
            .as_str()
            .split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    Err(bad())
                } else {
                    p.parse::<u64>().map_err(|_| bad())
                }
            })
            .collect::<Result<_, _>>()?;
        let pos = |v: u64| usize::try_from(v).map_err(|_| bad());
        match (tag, nums.as_slice()) {
            ('p', [p]) => Ok(StateId::Prefix { position: pos(*p)? }),
            ('r', [p, k]) => Ok(StateId::Reorder {
                position: pos(*p)?,
                subset: *k,
            }),
            ('t', [p, k, j]) => Ok(StateId::Torn {
                position: pos(*p)?,
                subset: *k,
                tear: *j,
            }),
            _ => Err(bad()),
        }
    }
}

impl serde::Serialize for StateId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A pending write chosen to persist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Persisted {
    /// Request id.
    pub id: u64,
    /// `Some(n)`: torn, only its first `n` sectors persisted.
    pub sectors: Option<u32>,
}

/// One crash state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CrashState {
    pub id: StateId,
    /// The crash happens after `entries[..position]`.
    pub position: usize,
    /// Number of Mark entries before `position`.
    pub marks: usize,
    /// The volatile / in-flight writes chosen to persist (beyond the durable
    /// ones), in application order. Empty for prefix states, whose meaning is
    /// "every write completed before `position`".
    pub persisted: Vec<Persisted>,
}

/// The crash model's bookkeeping while walking a log position by position.
struct Sweep<'m, 'a> {
    model: &'m Model<'a>,
    /// Entries processed: the state is that after `entries[..pos]`.
    pos: usize,
    completed: u64,
    durable_upto: u64,
    /// Ranks of completed, not durable, non-FUA data requests.
    volatile: BTreeSet<u64>,
    /// Request indexes of submitted, not completed data requests (request
    /// index order is submission order).
    in_flight: BTreeSet<usize>,
    marks: usize,
    newly_completed: Vec<usize>,
    newly_durable: Vec<usize>,
}

impl<'m, 'a> Sweep<'m, 'a> {
    fn new(model: &'m Model<'a>) -> Self {
        Sweep {
            model,
            pos: 0,
            completed: 0,
            durable_upto: 0,
            volatile: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            marks: 0,
            newly_completed: Vec::new(),
            newly_durable: Vec::new(),
        }
    }

    /// Processes entry `pos`; returns (changed for prefix, changed for reorder).
    fn advance(&mut self) -> (bool, bool) {
        let ev = self.model.events[self.pos];
        self.pos += 1;
        match ev {
            Event::Mark => {
                self.marks += 1;
                (true, true)
            }
            Event::Submit(r) => {
                if self.model.reqs[r].is_data() {
                    self.in_flight.insert(r);
                    (false, true)
                } else {
                    (false, false)
                }
            }
            Event::Complete(r) => {
                let req = self.model.reqs[r];
                let mut changed = false;
                if req.is_data() {
                    self.in_flight.remove(&r);
                    let rank = self.completed;
                    self.completed += 1;
                    self.newly_completed.push(r);
                    if req.fua {
                        self.newly_durable.push(r);
                    } else {
                        self.volatile.insert(rank);
                    }
                    changed = true;
                }
                if req.flushes && req.cap > self.durable_upto {
                    self.durable_upto = req.cap;
                    let cap = req.cap;
                    let now: Vec<u64> = self.volatile.range(..cap).copied().collect();
                    for rank in now {
                        self.volatile.remove(&rank);
                        self.newly_durable.push(self.model.by_rank[rank as usize]);
                    }
                    changed = true;
                }
                (req.is_data(), changed)
            }
        }
    }

    /// Pending requests: volatile by completion order, then in flight.
    fn pending(&self) -> Vec<usize> {
        self.volatile
            .iter()
            .map(|&rank| self.model.by_rank[rank as usize])
            .chain(self.in_flight.iter().copied())
            .collect()
    }
}

/// A subset of the pending list, as a bit set.
type Bits = Vec<u64>;

fn bit(bits: &Bits, i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

fn set_bit(bits: &mut Bits, i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

/// The subsets of a pending list of `n` writes at one position.
enum Subsets {
    /// Every subset; subset `k` is the bit mask `k`.
    Exhaustive { n: usize },
    /// None (`k = 0`), all (`k = 1`), all but `i` (`k = 2 + i`), `i`
    /// alone (`k = 2 + n + i`), then the random ones: every single lost
    /// write and every single persisted one, whatever the budget. These
    /// are implicit so that a long pending list costs O(n) memory here,
    /// not O(n²).
    Sampled { n: usize, random: Vec<Bits> },
}

impl Subsets {
    fn new(n: usize, opts: &EnumOptions, position: usize) -> Subsets {
        if n <= opts.max_volatile.min(EXHAUSTIVE_CAP) {
            return Subsets::Exhaustive { n };
        }
        // A thinned pass that stops before the random subsets needs none.
        if opts.max_subsets.is_some_and(|m| m <= (2 + 2 * n) as u64) {
            return Subsets::Sampled {
                n,
                random: Vec::new(),
            };
        }
        let words = n.div_ceil(64);
        // Random subsets with 0, 1, n-1 or n members repeat a listed one;
        // the set (membership only) catches repeats among the random ones.
        let mut seen: BTreeSet<Bits> = BTreeSet::new();
        let mut random = Vec::new();
        let seed = opts.seed ^ (position as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut tries = 0;
        while random.len() < opts.samples && tries < opts.samples.saturating_mul(4).max(16) {
            tries += 1;
            let mut s = vec![0u64; words];
            for i in 0..n {
                if rng.gen::<bool>() {
                    set_bit(&mut s, i);
                }
            }
            let members: usize = s.iter().map(|w| w.count_ones() as usize).sum();
            if members <= 1 || members + 1 >= n {
                continue;
            }
            if seen.insert(s.clone()) {
                random.push(s);
            }
        }
        Subsets::Sampled { n, random }
    }

    fn len(&self) -> u64 {
        match self {
            Subsets::Exhaustive { n } => 1u64 << n,
            Subsets::Sampled { n, random } => (2 + 2 * n + random.len()) as u64,
        }
    }

    fn get(&self, k: u64) -> Option<Bits> {
        match self {
            Subsets::Exhaustive { n } => (k < 1u64 << n).then(|| vec![k]),
            Subsets::Sampled { n, random } => {
                let n = *n;
                let k = usize::try_from(k).ok()?;
                let all = || {
                    let mut b = vec![0u64; n.div_ceil(64)];
                    for i in 0..n {
                        set_bit(&mut b, i);
                    }
                    b
                };
                match k {
                    0 => Some(vec![0u64; n.div_ceil(64)]),
                    1 => Some(all()),
                    k if k < 2 + n => {
                        let i = k - 2;
                        let mut b = all();
                        b[i / 64] &= !(1 << (i % 64));
                        Some(b)
                    }
                    k if k < 2 + 2 * n => {
                        let mut b = vec![0u64; n.div_ceil(64)];
                        set_bit(&mut b, k - 2 - n);
                        Some(b)
                    }
                    k => random.get(k - 2 - 2 * n).cloned(),
                }
            }
        }
    }
}

/// Sector counts at which a write of `n` sectors is torn, all multiples of
/// the tear unit `unit` (in sectors, 0 taken as 1) strictly between 0 and
/// `n`: every such count when there are at most 15, else the first unit,
/// the 4 KiB boundaries rounded up to the unit (thinned to about 16) and
/// the last unit boundary before the end. A write of at most one unit is
/// never torn.
fn tear_points(n: u64, unit: u64) -> Vec<u64> {
    let unit = unit.max(1);
    // The last cut that leaves something out.
    let last = (n.saturating_sub(1) / unit) * unit;
    if last == 0 {
        return Vec::new();
    }
    if last / unit <= 15 {
        return (1..=last / unit).map(|i| i * unit).collect();
    }
    let block = CHUNK_SECTORS.max((n / 16).div_ceil(CHUNK_SECTORS) * CHUNK_SECTORS);
    let block = block.div_ceil(unit) * unit;
    let mut v = vec![unit];
    let mut s = block;
    while s < last {
        if s > unit {
            v.push(s);
        }
        s += block;
    }
    v.push(last);
    v
}

const CHUNK_SECTORS: u64 = (crate::image::CHUNK_SIZE / SECTOR_SIZE) as u64;

/// A crash state together with its image.
#[derive(Clone, Debug)]
pub struct EnumeratedState {
    pub state: CrashState,
    pub image: Image,
}

/// Positions the options select: `[start, end]`.
fn position_range(log: &Log, opts: &EnumOptions) -> Result<(usize, usize), ReplayError> {
    let mut start = 0;
    if let Some(label) = &opts.start_mark {
        let (i, _, _) =
            log.marks()
                .find(|(_, l, _)| *l == label)
                .ok_or_else(|| ReplayError::MarkNotFound {
                    label: label.clone(),
                })?;
        start = i + 1;
    }
    let mut end = log.len();
    if let Some(label) = &opts.end_mark {
        let (i, _, _) = log
            .marks()
            .find(|(i, l, _)| *l == label && *i + 1 >= start)
            .ok_or_else(|| ReplayError::MarkNotFound {
                label: label.clone(),
            })?;
        end = i + 1;
    }
    Ok((start, end))
}

/// Rejects a base image whose size is not the log's device size: writes
/// past its end, or a tail the log knows nothing of, would make every state
/// wrong without any error later.
fn check_base(log: &Log, base: &Image) -> Result<(), ReplayError> {
    if base.len() == log.device_bytes() {
        Ok(())
    } else {
        Err(ReplayError::BaseImageSize {
            base_bytes: base.len(),
            device_bytes: log.device_bytes(),
        })
    }
}

/// Iterator over the crash states of a log, with their images, in
/// enumeration order (duplicates included: see [`crate::check()`]).
pub struct StateIter<'a> {
    model: Box<Model<'a>>,
    opts: EnumOptions,
    inner: IterState,
}

struct IterState {
    pos: usize,
    completed: u64,
    durable_upto: u64,
    volatile: BTreeSet<u64>,
    in_flight: BTreeSet<usize>,
    marks: usize,
    end: usize,
    started: bool,
    emitted: usize,
    /// Prefix: the current image. Other modes: the durable base.
    image: Image,
    /// Other modes: per sector, the rank of the durable write owning it.
    owners: Owners,
    /// Other modes: how many times the durable base changed.
    durable_version: u64,
    ctx: Option<PosCtx>,
    /// States of the current position not yet yielded, with the request
    /// indexes (and sector limits) of their persisted writes.
    queue: VecDeque<(CrashState, Applied, Build)>,
    /// The image of the last reorder subset built, for its torn states:
    /// (position, subset, durable base version, image).
    subset_image: Option<(usize, u64, u64, Image)>,
    /// With [`StateIter::skipping_repeats`]: the persisted sets yielded
    /// since the durable base or the marks last changed.
    repeats: Option<Repeats>,
}

/// The persisted sets (keyed by a 128-bit hash) of the states yielded in
/// one epoch, the stretch of positions with one durable base and one
/// mark count. In that stretch, a state persisting the same writes to the
/// same sector limits has the same image and the same marks as one
/// yielded before: a repeat, which deduplication by content would drop
/// after building and hashing its image. Later positions of an epoch
/// repeat most of the subsets of earlier ones (every subset without the
/// newest write), so this skips most of the building in reorder and torn
/// modes. Both the durable base and the marks only grow, so an epoch once
/// left never returns, and the set is cleared then. A hash collision
/// (about 2^-64 after 2^32 states) could only skip a state, never make
/// one up.
#[derive(Default)]
struct Repeats {
    epoch: (u64, usize),
    seen: std::collections::HashSet<u128>,
    /// States skipped as repeats so far.
    skipped: u64,
    /// The bytes of the persisted set being keyed, reused from state to
    /// state (this runs for every enumerated state).
    key_bytes: Vec<u8>,
}

impl Repeats {
    /// Whether `applied` was yielded before in the epoch `(durable
    /// version, marks)`; records it otherwise.
    fn seen_before(&mut self, epoch: (u64, usize), applied: &Applied) -> bool {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.seen.clear();
        }
        let bytes = &mut self.key_bytes;
        bytes.clear();
        for &(r, limit) in applied {
            bytes.extend_from_slice(&(r as u64).to_le_bytes());
            bytes.extend_from_slice(&limit.unwrap_or(u64::MAX).to_le_bytes());
        }
        !self.seen.insert(xxhash_rust::xxh3::xxh3_128(bytes))
    }
}

/// Persisted writes of a state as (request index, sector limit).
type Applied = Vec<(usize, Option<u64>)>;

/// Which torn variants of a subset are enumerated.
#[derive(Clone, Copy, Debug)]
enum Tears {
    /// Every one.
    All,
    /// Every tear of the newest left-out write, then a seeded sample
    /// (`EnumOptions::tear_budget`; see [`tear_sample`]).
    Budget { budget: u64, seed: u64 },
    /// The first ones in id order (a thinned pass, `max_tears`): only
    /// those are described, not every pair of a subset that may leave
    /// hundreds of writes out.
    First(u64),
}

/// How a queued state's image is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Build {
    /// Every persisted write, in order, on the durable base.
    Whole,
    /// The image of reorder subset `subset` (the persisted writes without
    /// element `at`), then the torn write `at` under the writes after it:
    /// the states of a subset differ by one write, and building each from
    /// the durable base cost every persisted write again (a subset of a
    /// position with hundreds of volatile writes, four tears each).
    Torn { subset: u64, at: usize },
}

struct PosCtx {
    position: usize,
    marks: usize,
    pending: Vec<usize>,
    subsets: Subsets,
    next_k: u64,
    /// Torn mode: the tear points of each pending write, found once per
    /// position rather than once per subset.
    tear_points: std::cell::OnceCell<Vec<Vec<u64>>>,
    /// The pending PREFLUSH writes still in flight, with their caps (see
    /// `close_under_preflush`), found once per position: usually none,
    /// and then no subset needs closing.
    preflush_caps: std::cell::OnceCell<Vec<(usize, u64)>>,
    /// The request ids of the pending writes, side by side (each state
    /// lists those it persisted).
    pending_ids: std::cell::OnceCell<Vec<u64>>,
}

impl PosCtx {
    fn pending_ids(&self, model: &Model<'_>) -> &[u64] {
        self.pending_ids
            .get_or_init(|| self.pending.iter().map(|&r| model.reqs[r].id).collect())
    }

    fn preflush_caps(&self, model: &Model<'_>) -> &[(usize, u64)] {
        self.preflush_caps.get_or_init(|| {
            (self.pending.iter().enumerate())
                .filter(|&(_, &r)| model.reqs[r].rank.is_none() && model.reqs[r].flushes)
                .map(|(x, &r)| (x, model.reqs[r].cap))
                .collect()
        })
    }

    fn tear_points(&self, model: &Model<'_>, tear_sectors: u64) -> &[Vec<u64>] {
        self.tear_points.get_or_init(|| {
            (self.pending.iter())
                .map(|&r| tear_points(model.reqs[r].nr_sectors, tear_sectors))
                .collect()
        })
    }
}

/// The (pending write, tear point) pairs of the writes a subset left out,
/// numbered `j` in pending order and tear-point order, without listing
/// them: a torn state's id is its pair's number, and a budget keeps a
/// few of what may be thousands.
struct TearPairs<'c> {
    /// (pending index, number of its first pair, its tear points), for
    /// each left-out write that can tear.
    blocks: Vec<(usize, usize, &'c [u64])>,
    len: usize,
}

impl<'c> TearPairs<'c> {
    fn new(points: &'c [Vec<u64>], chosen: &[bool]) -> Self {
        let mut blocks = Vec::new();
        let mut len = 0;
        for (i, p) in points.iter().enumerate() {
            if !chosen[i] && !p.is_empty() {
                blocks.push((i, len, p.as_slice()));
                len += p.len();
            }
        }
        TearPairs { blocks, len }
    }

    /// Pair `j`: (pending index, tear point).
    fn get(&self, j: usize) -> (usize, u64) {
        let b = self.blocks.partition_point(|&(_, first, _)| first <= j) - 1;
        let (i, first, points) = self.blocks[b];
        (i, points[j - first])
    }
}

impl<'a> StateIter<'a> {
    /// Enumerates the crash states of `log` on a device that was all zeros
    /// before the log started.
    pub fn new(log: &'a Log, opts: &EnumOptions) -> Result<Self, ReplayError> {
        Self::over(log, opts, Image::new(log.device_bytes()))
    }

    /// Enumerates the crash states of `log` on a device that held `base`
    /// before the log started: every state's image is `base` with the
    /// state's writes on top. This is how a crash *during recovery* is
    /// explored: recovery's writes are logged on top of a crash image, and
    /// its crash states only make sense over that image. `base` counts as
    /// older than every write of the log, and as durable. It must be
    /// exactly `log.device_bytes()` long.
    pub fn over(log: &'a Log, opts: &EnumOptions, base: Image) -> Result<Self, ReplayError> {
        check_base(log, &base)?;
        let model = Box::new(Model::new(log)?);
        let (start, end) = position_range(log, opts)?;
        let mut it = StateIter {
            inner: IterState {
                pos: 0,
                completed: 0,
                durable_upto: 0,
                volatile: BTreeSet::new(),
                in_flight: BTreeSet::new(),
                marks: 0,
                end,
                started: false,
                emitted: 0,
                image: base,
                owners: Owners::default(),
                durable_version: 0,
                ctx: None,
                queue: VecDeque::new(),
                subset_image: None,
                repeats: None,
            },
            model,
            opts: opts.clone(),
        };
        // Walk to the start position, keeping the images current.
        while it.inner.pos < start {
            it.step();
        }
        Ok(it)
    }

    /// Leaves out the states that repeat the persisted set of one yielded
    /// before with the same durable base and marks (the same image and
    /// marks: see `Repeats`), without building their images. For a
    /// consumer that deduplicates by image and marks anyway, such as
    /// [`crate::check::DistinctStates`]; [`StateIter::repeats_skipped`]
    /// counts them.
    pub fn skipping_repeats(mut self) -> Self {
        self.inner.repeats = Some(Repeats::default());
        self
    }

    /// The states [`StateIter::skipping_repeats`] left out so far.
    pub fn repeats_skipped(&self) -> u64 {
        self.inner.repeats.as_ref().map_or(0, |r| r.skipped)
    }

    /// Advances one entry; returns whether the position is a new state for
    /// the current mode.
    fn step(&mut self) -> bool {
        let model: &Model<'a> = &self.model;
        let st = &mut self.inner;
        let mut sweep = Sweep {
            model,
            pos: st.pos,
            completed: st.completed,
            durable_upto: st.durable_upto,
            volatile: std::mem::take(&mut st.volatile),
            in_flight: std::mem::take(&mut st.in_flight),
            marks: st.marks,
            newly_completed: Vec::new(),
            newly_durable: Vec::new(),
        };
        let (prefix_changed, reorder_changed) = sweep.advance();
        match self.opts.mode {
            Mode::Prefix => {
                for &r in &sweep.newly_completed {
                    model.apply(&mut st.image, r, None, None);
                }
            }
            Mode::Reorder | Mode::Torn => {
                for &r in &sweep.newly_durable {
                    apply_durable(model, &mut st.image, &mut st.owners, r);
                }
                if !sweep.newly_durable.is_empty() {
                    st.durable_version += 1;
                }
            }
        }
        st.pos = sweep.pos;
        st.completed = sweep.completed;
        st.durable_upto = sweep.durable_upto;
        st.volatile = sweep.volatile;
        st.in_flight = sweep.in_flight;
        st.marks = sweep.marks;
        match self.opts.mode {
            Mode::Prefix => prefix_changed,
            _ => reorder_changed,
        }
    }

    fn pending(&self) -> Vec<usize> {
        let st = &self.inner;
        st.volatile
            .iter()
            .map(|&rank| self.model.by_rank[rank as usize])
            .chain(st.in_flight.iter().copied())
            .collect()
    }

    /// Moves to the next enumerated position; false at the end.
    fn next_position(&mut self) -> bool {
        if !self.inner.started {
            self.inner.started = true;
        } else {
            loop {
                if self.inner.pos >= self.inner.end {
                    return false;
                }
                if self.step() {
                    break;
                }
            }
        }
        let position = self.inner.pos;
        let marks = self.inner.marks;
        if self.opts.mode == Mode::Prefix {
            self.inner.queue.push_back((
                CrashState {
                    id: StateId::Prefix { position },
                    position,
                    marks,
                    persisted: Vec::new(),
                },
                Vec::new(),
                Build::Whole,
            ));
            self.inner.ctx = None;
        } else {
            let pending = self.pending();
            let subsets = Subsets::new(pending.len(), &self.opts, position);
            self.inner.ctx = Some(PosCtx {
                position,
                marks,
                pending,
                subsets,
                next_k: 0,
                tear_points: std::cell::OnceCell::new(),
                preflush_caps: std::cell::OnceCell::new(),
                pending_ids: std::cell::OnceCell::new(),
            });
        }
        true
    }

    /// Queues the states of the next subset of the current position.
    fn fill_from_ctx(&mut self) -> bool {
        let (mode, tear_sectors) = (self.opts.mode, self.opts.tear_sectors);
        let Some(ctx) = self.inner.ctx.as_mut() else {
            return false;
        };
        let k = ctx.next_k;
        if self.opts.max_subsets.is_some_and(|m| k >= m) {
            return false;
        }
        let Some(bits) = ctx.subsets.get(k) else {
            return false;
        };
        ctx.next_k += 1;
        // A thinned pass (`max_tears`) keeps its own, id-ordered choice.
        let tears = match (self.opts.max_tears, self.opts.tear_budget) {
            (Some(first), _) => Tears::First(first),
            (None, Some(budget)) => Tears::Budget {
                budget,
                seed: self.opts.seed,
            },
            (None, None) => Tears::All,
        };
        let states = states_for_subset(&self.model, mode, tear_sectors, tears, ctx, k, &bits);
        self.inner.queue.extend(states);
        true
    }

    fn image_for(&self, applied: &Applied) -> Image {
        let mut image = self.inner.image.clone();
        for &(r, limit) in applied {
            apply_persisted(&self.model, &mut image, &self.inner.owners, r, limit, None);
        }
        image
    }

    /// The image of a queued state, built as `build` says.
    fn image_of_queued(&mut self, state: &CrashState, applied: &Applied, build: Build) -> Image {
        let version = self.inner.durable_version;
        let Build::Torn { subset, at } = build else {
            let image = self.image_for(applied);
            // Kept for the torn states that follow it.
            if let (Mode::Torn, StateId::Reorder { subset, .. }) = (self.opts.mode, state.id) {
                self.inner.subset_image = Some((state.position, subset, version, image.clone()));
            }
            return image;
        };
        let mut image = match &self.inner.subset_image {
            Some((p, k, v, image)) if (*p, *k, *v) == (state.position, subset, version) => {
                image.clone()
            }
            _ => {
                // The subset's own state was not built (a repeat).
                let mut without = applied.clone();
                without.remove(at);
                let image = self.image_for(&without);
                self.inner.subset_image = Some((state.position, subset, version, image.clone()));
                image
            }
        };
        // The torn write keeps its place in application order: wherever a
        // write after it covers a sector, that write's bytes stand (or, if
        // a newer durable write owns the sector, that one's, which would
        // have hidden the torn write too: it is older still).
        let (r, limit) = applied[at];
        let range = |r: usize| {
            let req = &self.model.reqs[r];
            req.sector..req.sector + req.nr_sectors
        };
        let torn = range(r);
        let later: Vec<std::ops::Range<u64>> = applied[at + 1..]
            .iter()
            .map(|&(r, _)| range(r))
            .filter(|w| w.start < torn.end && torn.start < w.end)
            .collect();
        let covered = |s: u64| later.iter().any(|w| w.contains(&s));
        apply_persisted(
            &self.model,
            &mut image,
            &self.inner.owners,
            r,
            limit,
            Some(&covered),
        );
        debug_assert_eq!(
            image.content_key(),
            self.image_for(applied).content_key(),
            "a torn state built from its subset's image is the one built whole"
        );
        image
    }
}

/// Closes a chosen set of pending writes under the PREFLUSH rule: a
/// PREFLUSH write that reached the media (wholly or in part) was preceded
/// by its cache flush, so every write that had completed before it was
/// submitted is on the media too. Without this, a crash state could hold a
/// journal commit record (PREFLUSH|FUA, in flight) but not the data or
/// journal blocks it was ordered after, a state no device can produce.
fn close_under_preflush(model: &Model<'_>, ctx: &PosCtx, chosen: &mut [bool]) {
    let caps = ctx.preflush_caps(model);
    if caps.is_empty() {
        return;
    }
    let cap = (caps.iter())
        .filter(|&&(x, _)| chosen[x])
        .map(|&(_, cap)| cap)
        .max();
    if let Some(cap) = cap {
        for (x, &r) in ctx.pending.iter().enumerate() {
            if model.reqs[r].rank.is_some_and(|rank| rank < cap) {
                chosen[x] = true;
            }
        }
    }
}

/// The reorder state of subset `k` and, in torn mode, its torn variants.
/// Each chosen set is closed under the PREFLUSH rule first, so several
/// subsets may name the same state (deduplicated by image downstream).
fn states_for_subset(
    model: &Model<'_>,
    mode: Mode,
    tear_sectors: u64,
    tears: Tears,
    ctx: &PosCtx,
    k: u64,
    bits: &Bits,
) -> Vec<(CrashState, Applied, Build)> {
    let mut chosen: Vec<bool> = (0..ctx.pending.len()).map(|i| bit(bits, i)).collect();
    close_under_preflush(model, ctx, &mut chosen);
    // The persisted writes in application order, with their tear limit.
    let build = |chosen: &[bool], torn: Option<(usize, u64)>| -> (Vec<Persisted>, Applied) {
        // One pass: a state of many pending writes is built many times
        // over (every single lost write, every tear), so this is hot.
        let count = chosen.iter().filter(|&&c| c).count();
        let mut persisted = Vec::with_capacity(count);
        let mut applied = Vec::with_capacity(count);
        let ids = ctx.pending_ids(model);
        for (x, (&r, &id)) in ctx.pending.iter().zip(ids).enumerate() {
            if !chosen[x] {
                continue;
            }
            let limit = torn.filter(|&(i, _)| i == x).map(|(_, n)| n);
            persisted.push(Persisted {
                id,
                sectors: limit.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            });
            applied.push((r, limit));
        }
        (persisted, applied)
    };
    let (persisted, applied) = build(&chosen, None);
    let reorder_state = |persisted, applied| {
        let state = CrashState {
            id: StateId::Reorder {
                position: ctx.position,
                subset: k,
            },
            position: ctx.position,
            marks: ctx.marks,
            persisted,
        };
        (state, applied, Build::Whole)
    };
    if mode != Mode::Torn {
        return vec![reorder_state(persisted, applied)];
    }
    let mut out = vec![reorder_state(persisted.clone(), applied.clone())];
    // Every (write, tear point) pair, numbered `j` so that ids stay
    // stable whatever a budget keeps.
    let pairs = TearPairs::new(ctx.tear_points(model, tear_sectors), &chosen);
    let kept = match tears {
        Tears::Budget { budget, seed } => tear_sample(&pairs, budget, seed, ctx.position, k),
        Tears::First(n) => (0..pairs.len.min(usize::try_from(n).unwrap_or(usize::MAX))).collect(),
        Tears::All => (0..pairs.len).collect(),
    };
    // Without a PREFLUSH write in flight the torn write adds itself
    // alone: its state is the subset's with one more write, described
    // and built from the subset's.
    let alone = ctx.preflush_caps(model).is_empty();
    for j in kept {
        let (i, n) = pairs.get(j);
        // The torn write keeps its place in application order.
        let (persisted, applied, how) = if alone {
            let at = chosen[..i].iter().filter(|&&c| c).count();
            let torn = Persisted {
                id: ctx.pending_ids(model)[i],
                sectors: Some(u32::try_from(n).unwrap_or(u32::MAX)),
            };
            let p = inserted(&persisted, at, torn);
            let a = inserted(&applied, at, (ctx.pending[i], Some(n)));
            (p, a, Build::Torn { subset: k, at })
        } else {
            // A torn PREFLUSH write forces its flushed writes in as well.
            let mut with_torn = chosen.clone();
            with_torn[i] = true;
            close_under_preflush(model, ctx, &mut with_torn);
            let (p, a) = build(&with_torn, Some((i, n)));
            (p, a, Build::Whole)
        };
        debug_assert!(
            {
                let mut with_torn = chosen.clone();
                with_torn[i] = true;
                close_under_preflush(model, ctx, &mut with_torn);
                build(&with_torn, Some((i, n))) == (persisted.clone(), applied.clone())
            },
            "a torn state's description is the one built whole"
        );
        out.push((
            CrashState {
                id: StateId::Torn {
                    position: ctx.position,
                    subset: k,
                    tear: j as u64,
                },
                position: ctx.position,
                marks: ctx.marks,
                persisted,
            },
            applied,
            how,
        ));
    }
    out
}

/// `items` with `item` inserted at `at`, in one allocation of the right
/// size (a clone then an insert would allocate twice).
fn inserted<T: Clone>(items: &[T], at: usize, item: T) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len() + 1);
    out.extend_from_slice(&items[..at]);
    out.push(item);
    out.extend_from_slice(&items[at..]);
    out
}

/// Which of a subset's (write, tear point) pairs a tear budget keeps, in
/// id order: every tear of the newest pending write (the one a crash most
/// likely interrupts), then pairs drawn at random, seeded by the campaign
/// seed, the position and the subset, so that a state id names the same
/// state in every run.
fn tear_sample(
    pairs: &TearPairs<'_>,
    budget: u64,
    seed: u64,
    position: usize,
    k: u64,
) -> Vec<usize> {
    let budget = usize::try_from(budget).unwrap_or(usize::MAX);
    if pairs.len <= budget {
        return (0..pairs.len).collect();
    }
    // The newest write's pairs are the last block: every tear of it
    // first, up to the budget.
    let newest_from = pairs
        .blocks
        .last()
        .map_or(pairs.len, |&(_, first, _)| first);
    let mut kept: Vec<usize> = (newest_from..pairs.len).take(budget).collect();
    let seed = seed
        ^ (position as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // A partial Fisher-Yates shuffle of the other pairs (0..newest_from)
    // draws the rest without repeats; the few slots it swapped are kept
    // aside instead of a list of every pair.
    let rest = newest_from;
    let draws = (budget - kept.len()).min(rest);
    let mut swapped: Vec<(usize, usize)> = Vec::with_capacity(2 * draws);
    let at = |swapped: &[(usize, usize)], x: usize| {
        swapped
            .iter()
            .rev()
            .find(|&&(slot, _)| slot == x)
            .map_or(x, |&(_, v)| v)
    };
    for d in 0..draws {
        let pick = rng.gen_range(d..rest);
        let (a, b) = (at(&swapped, d), at(&swapped, pick));
        swapped.push((d, b));
        swapped.push((pick, a));
    }
    kept.extend((0..draws).map(|d| at(&swapped, d)));
    kept.sort_unstable();
    kept
}

/// Per sector, the completion rank of the durable write whose bytes the
/// base image holds there. A pending write is applied under any later
/// durable write, so it must know, sector by sector, who is newer. Kept in
/// lazily allocated pages of sectors: lookups are an index, and a device
/// of hundreds of MiB costs only the pages its writes touched.
#[derive(Default)]
struct Owners {
    /// Page `i` covers sectors `i * OWNER_PAGE ..`; an entry is rank + 1,
    /// 0 where no durable write landed.
    pages: Vec<Option<Box<[u64; OWNER_PAGE]>>>,
}

const OWNER_PAGE: usize = 512;

impl Owners {
    fn get(&self, sector: u64) -> u64 {
        let (page, at) = Self::split(sector);
        self.pages
            .get(page)
            .and_then(|p| p.as_ref())
            .map_or(0, |p| p[at])
    }

    /// Whether `sector` holds the bytes of a write completed after `rank`.
    fn later(&self, sector: u64, rank: u64) -> bool {
        self.get(sector) > rank.saturating_add(1)
    }

    fn any_later(&self, sectors: std::ops::Range<u64>, rank: u64) -> bool {
        sectors.into_iter().any(|s| self.later(s, rank))
    }

    /// Records `rank` as the owner of every sector of `sectors` that no
    /// later write owns.
    fn claim(&mut self, sectors: std::ops::Range<u64>, rank: u64) {
        let tag = rank.saturating_add(1);
        for s in sectors {
            let (page, at) = Self::split(s);
            if self.pages.len() <= page {
                self.pages.resize_with(page + 1, || None);
            }
            let entry = &mut self.pages[page].get_or_insert_with(|| Box::new([0; OWNER_PAGE]))[at];
            *entry = (*entry).max(tag);
        }
    }

    fn split(sector: u64) -> (usize, usize) {
        let page = usize::try_from(sector / OWNER_PAGE as u64).unwrap_or(usize::MAX);
        (page, (sector % OWNER_PAGE as u64) as usize)
    }
}

/// Applies a newly durable write to the base image: sectors owned by a
/// durable write that completed later stay as they are.
fn apply_durable(model: &Model<'_>, base: &mut Image, owners: &mut Owners, r: usize) {
    let req = model.reqs[r];
    let rank = req.rank.unwrap_or(u64::MAX);
    let range = req.sector..req.sector + req.nr_sectors;
    if owners.any_later(range.clone(), rank) {
        model.apply(base, r, None, Some(&|s| owners.later(s, rank)));
    } else {
        model.apply(base, r, None, None);
    }
    owners.claim(range, rank);
}

/// Applies a persisted pending write on top of a base image.
/// `covered`: sectors to leave alone besides (written by a later write).
fn apply_persisted(
    model: &Model<'_>,
    image: &mut Image,
    owners: &Owners,
    r: usize,
    limit: Option<u64>,
    covered: Option<&dyn Fn(u64) -> bool>,
) {
    let req = model.reqs[r];
    // In flight: after every completed write. (A write in flight at this
    // position that completes later has a rank above every durable one,
    // so it never has sectors a durable write owns either.)
    let owned_later = req.rank.filter(|&rank| {
        let end = req.sector + limit.map_or(req.nr_sectors, |l| l.min(req.nr_sectors));
        owners.any_later(req.sector..end, rank)
    });
    let skip = |s: u64| {
        owned_later.is_some_and(|rank| owners.later(s, rank)) || covered.is_some_and(|c| c(s))
    };
    let skips = owned_later.is_some() || covered.is_some();
    model.apply_shared(
        image,
        r,
        limit,
        skips.then_some(&skip as &dyn Fn(u64) -> bool),
    );
}

impl Iterator for StateIter<'_> {
    type Item = EnumeratedState;

    fn next(&mut self) -> Option<EnumeratedState> {
        if self
            .opts
            .limit
            .is_some_and(|limit| self.inner.emitted >= limit)
        {
            return None;
        }
        loop {
            if let Some((state, applied, build)) = self.inner.queue.pop_front() {
                self.inner.emitted += 1;
                let epoch = (self.inner.durable_version, state.marks);
                if let Some(repeats) = self.inner.repeats.as_mut() {
                    if self.opts.mode != Mode::Prefix && repeats.seen_before(epoch, &applied) {
                        repeats.skipped += 1;
                        if self.opts.limit.is_some_and(|l| self.inner.emitted >= l) {
                            return None;
                        }
                        continue;
                    }
                }
                let image = self.image_of_queued(&state, &applied, build);
                return Some(EnumeratedState { state, image });
            }
            if self.fill_from_ctx() {
                continue;
            }
            if !self.next_position() {
                return None;
            }
        }
    }
}

/// Model state at `position` (no images): (durable request indexes in
/// completion order, pending list, marks, whether `position` is an
/// enumerated position for `mode`).
struct AtPosition {
    completed: Vec<usize>,
    durable: Vec<usize>,
    pending: Vec<usize>,
    marks: usize,
    enumerated: bool,
}

fn at_position(
    model: &Model<'_>,
    opts: &EnumOptions,
    position: usize,
) -> Result<AtPosition, ReplayError> {
    let (start, end) = position_range(model.log, opts)?;
    let mut sweep = Sweep::new(model);
    let mut changed = (true, true);
    while sweep.pos < position.min(model.log.len()) {
        changed = sweep.advance();
    }
    let completed: Vec<usize> = model.by_rank[..sweep.completed as usize].to_vec();
    let durable = completed
        .iter()
        .copied()
        .filter(|&r| {
            let req = &model.reqs[r];
            req.fua || req.rank.is_some_and(|rank| rank < sweep.durable_upto)
        })
        .collect();
    let relevant = if opts.mode == Mode::Prefix {
        changed.0
    } else {
        changed.1
    };
    Ok(AtPosition {
        completed,
        durable,
        pending: sweep.pending(),
        marks: sweep.marks,
        enumerated: position <= model.log.len()
            && position >= start
            && position <= end
            && (position == start || relevant),
    })
}

/// Where the data requests stand at a crash after `entries[..position]`
/// (request ids): durable, volatile (completed, not yet durable) and in
/// flight (submitted, not completed). What a picture of a crash state
/// needs; the enumeration itself works on the same sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestsAt {
    pub durable: Vec<u64>,
    pub volatile: Vec<u64>,
    pub in_flight: Vec<u64>,
}

/// [`RequestsAt`] of `log` at `position`.
pub fn requests_at(log: &Log, position: usize) -> Result<RequestsAt, ReplayError> {
    let model = Model::new(log)?;
    let mut sweep = Sweep::new(&model);
    while sweep.pos < position.min(log.len()) {
        sweep.advance();
    }
    let id = |r: usize| model.reqs[r].id;
    let mut out = RequestsAt::default();
    for &r in &model.by_rank[..sweep.completed as usize] {
        let req = &model.reqs[r];
        if req.fua || req.rank.is_some_and(|rank| rank < sweep.durable_upto) {
            out.durable.push(req.id);
        }
    }
    for &rank in &sweep.volatile {
        out.volatile.push(id(model.by_rank[rank as usize]));
    }
    out.in_flight = sweep.in_flight.iter().map(|&r| id(r)).collect();
    Ok(out)
}

/// The state with id `id` under options `opts` (the limit is ignored).
pub fn find_state(log: &Log, opts: &EnumOptions, id: &StateId) -> Result<CrashState, ReplayError> {
    let model = Model::new(log)?;
    let no = |reason: &str| ReplayError::NoSuchState {
        id: id.to_string(),
        reason: reason.to_string(),
    };
    let mode_ok = match id {
        StateId::Prefix { .. } => opts.mode == Mode::Prefix,
        StateId::Reorder { .. } => matches!(opts.mode, Mode::Reorder | Mode::Torn),
        StateId::Torn { .. } => opts.mode == Mode::Torn,
    };
    if !mode_ok {
        return Err(no(&format!("not a state of mode {}", opts.mode)));
    }
    let position = id.position();
    if position > log.len() {
        return Err(no("position past the end of the log"));
    }
    let at = at_position(&model, opts, position)?;
    if !at.enumerated {
        return Err(no(
            "no state at this position (nothing changed, or outside the mark range)",
        ));
    }
    let (k, tear) = match *id {
        StateId::Prefix { position } => {
            return Ok(CrashState {
                id: *id,
                position,
                marks: at.marks,
                persisted: Vec::new(),
            })
        }
        StateId::Reorder { subset, .. } => (subset, None),
        StateId::Torn { subset, tear, .. } => (subset, Some(tear)),
    };
    let subsets = Subsets::new(at.pending.len(), opts, position);
    let bits = subsets
        .get(k)
        .ok_or_else(|| no(&format!("only {} subsets at this position", subsets.len())))?;
    let ctx = PosCtx {
        position,
        marks: at.marks,
        pending: at.pending,
        subsets,
        next_k: 0,
        tear_points: std::cell::OnceCell::new(),
        preflush_caps: std::cell::OnceCell::new(),
        pending_ids: std::cell::OnceCell::new(),
    };
    // Every variant (ids are the full enumeration's, whatever budget
    // found the state).
    let states = states_for_subset(
        &model,
        opts.mode,
        opts.tear_sectors,
        Tears::All,
        &ctx,
        k,
        &bits,
    );
    let want = tear.map_or(0, |t| t.saturating_add(1));
    usize::try_from(want)
        .ok()
        .and_then(|w| states.into_iter().nth(w))
        .map(|(state, _, _)| state)
        .ok_or_else(|| no("no such torn variant"))
}

/// Builds the image of one state from scratch: every durable write and every
/// persisted one, applied in completion order (in-flight ones last, by
/// submission), on a zeroed device. Independent of the incremental path,
/// which it cross-checks. A torn write persists exactly the sectors the
/// state records, so the tear unit needs no option here: [`find_state`]
/// with the enumeration's options yields states with the right counts.
pub fn image_of(log: &Log, state: &CrashState) -> Result<Image, ReplayError> {
    image_of_over(log, Image::new(log.device_bytes()), state)
}

/// [`image_of`] on a device that held `base` before the log started: the
/// image of a state enumerated by [`StateIter::over`] with the same base.
pub fn image_of_over(log: &Log, base: Image, state: &CrashState) -> Result<Image, ReplayError> {
    check_base(log, &base)?;
    let model = Model::new(log)?;
    let opts = EnumOptions {
        mode: match state.id {
            StateId::Prefix { .. } => Mode::Prefix,
            _ => Mode::Reorder,
        },
        ..EnumOptions::default()
    };
    if state.position > log.len() {
        return Err(ReplayError::NoSuchState {
            id: state.id.to_string(),
            reason: "position past the end of the log".into(),
        });
    }
    let at = at_position(&model, &opts, state.position)?;
    // (order key, request, sector limit)
    let mut list: Vec<((u8, u64), usize, Option<u64>)> = Vec::new();
    // Completed before the position: by completion rank; still in flight
    // there (even if it completes later): after them, by submission.
    let completed_count = at.completed.len() as u64;
    let key = |r: usize| match model.reqs[r].rank {
        Some(rank) if rank < completed_count => (0u8, rank),
        _ => (1u8, r as u64),
    };
    if let StateId::Prefix { .. } = state.id {
        list.extend(at.completed.iter().map(|&r| (key(r), r, None)));
    } else {
        list.extend(at.durable.iter().map(|&r| (key(r), r, None)));
        for p in &state.persisted {
            let r = at
                .pending
                .iter()
                .copied()
                .find(|&r| model.reqs[r].id == p.id)
                .ok_or_else(|| ReplayError::NoSuchState {
                    id: state.id.to_string(),
                    reason: format!(
                        "request {} is not pending at position {}",
                        p.id, state.position
                    ),
                })?;
            list.push((key(r), r, p.sectors.map(u64::from)));
        }
    }
    list.sort_by_key(|&(k, r, _)| (k, r));
    let mut image = base;
    for (_, r, limit) in list {
        if model.reqs[r].kind == Kind::Flush {
            continue;
        }
        model.apply(&mut image, r, limit, None);
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::{tear_points, tear_sample, TearPairs};
    use rand::{Rng, SeedableRng};

    /// The budgeted choice of tears as it was first written, over a list
    /// of every pair: every tear of the newest write first, then a
    /// partial Fisher-Yates shuffle of the others.
    fn tear_sample_listed(
        pairs: &[(usize, u64)],
        budget: usize,
        seed: u64,
        position: usize,
        k: u64,
    ) -> Vec<usize> {
        if pairs.len() <= budget {
            return (0..pairs.len()).collect();
        }
        let newest = pairs.iter().map(|&(i, _)| i).max();
        let (mut kept, mut rest): (Vec<usize>, Vec<usize>) =
            (0..pairs.len()).partition(|&j| Some(pairs[j].0) == newest);
        kept.truncate(budget);
        let seed = seed
            ^ (position as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let draws = (budget - kept.len()).min(rest.len());
        for d in 0..draws {
            let pick = rng.gen_range(d..rest.len());
            rest.swap(d, pick);
        }
        kept.extend_from_slice(&rest[..draws]);
        kept.sort_unstable();
        kept
    }

    /// Tear ids are a campaign's state ids: the unlisted pairs and the
    /// sparse shuffle choose exactly what the listed ones did.
    #[test]
    fn unlisted_tear_pairs_choose_as_the_listed_ones() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for case in 0..2_000u64 {
            let writes = rng.gen_range(1..40);
            let points: Vec<Vec<u64>> = (0..writes)
                .map(|_| tear_points(rng.gen_range(1..200), rng.gen_range(1..9)))
                .collect();
            let chosen: Vec<bool> = (0..writes).map(|_| rng.gen_bool(0.3)).collect();
            let listed: Vec<(usize, u64)> = (0..writes)
                .filter(|&i| !chosen[i])
                .flat_map(|i| points[i].iter().map(move |&n| (i, n)))
                .collect();
            let pairs = TearPairs::new(&points, &chosen);
            assert_eq!(pairs.len, listed.len(), "case {case}");
            for (j, &pair) in listed.iter().enumerate() {
                assert_eq!(pairs.get(j), pair, "case {case}, pair {j}");
            }
            let budget = rng.gen_range(0..12);
            let (seed, position, k) = (rng.gen(), rng.gen_range(0..500), rng.gen_range(0..50));
            assert_eq!(
                tear_sample(&pairs, budget, seed, position, k),
                tear_sample_listed(&listed, budget as usize, seed, position, k),
                "case {case}"
            );
        }
    }

    #[test]
    fn tears_fall_on_the_unit() {
        assert_eq!(tear_points(16, 8), [8]);
        assert_eq!(tear_points(16, 1), (1..16).collect::<Vec<_>>());
        // 0 is a unit of one sector.
        assert_eq!(tear_points(16, 0), tear_points(16, 1));
        // A write of at most one unit is never torn.
        assert!(tear_points(8, 8).is_empty());
        assert!(tear_points(5, 8).is_empty());
        assert!(tear_points(1, 1).is_empty());
        // The last cut is the last unit boundary before the end.
        assert_eq!(tear_points(17, 8), [8, 16]);
        assert_eq!(tear_points(20, 8), [8, 16]);
    }

    #[test]
    fn thinned_tears_stay_on_the_unit() {
        for unit in [1, 2, 3, 8, 16] {
            for n in [100, 1000, 4096, 10_000] {
                let t = tear_points(n, unit);
                assert!(t.len() <= 20, "unit {unit}, n {n}: {} points", t.len());
                assert!(t.windows(2).all(|w| w[0] < w[1]), "unit {unit}, n {n}");
                assert!(t.iter().all(|&s| s % unit == 0 && s > 0 && s < n));
                assert_eq!(t.first(), Some(&unit));
                assert_eq!(t.last(), Some(&((n - 1) / unit * unit)));
            }
        }
        // Unit 1 keeps the historical points: first, 4 KiB boundaries, last.
        let t = tear_points(64, 1);
        assert_eq!(t, [1, 8, 16, 24, 32, 40, 48, 56, 63]);
    }
}
