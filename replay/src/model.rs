//! The crash model, computed from a log.
//!
//! Validates a log (ids, completions, ranges) and derives, per request, what
//! the crash model needs: its completion *rank* (the order in which data
//! requests completed), and for flushes (and PREFLUSH writes) the *cap*, the
//! number of data completions that had happened when the flush was
//! submitted. The writes a completed flush makes durable are exactly the
//! ranks below its cap, so at any position `durable(t)` is "rank < D(t)" (D
//! the largest cap of the flushes completed before `t`) plus the FUA writes
//! completed before `t`; `volatile(t)` is the other completed writes, and
//! `in_flight(t)` the submitted, not completed ones.
//!
//! Overlapping writes are applied in completion order (a later completed
//! write wins where both persisted); in-flight writes, which have no
//! completion yet, come after all completed ones, in submission order.

use std::collections::BTreeMap;

use crate::error::ReplayError;
use crate::image::{Image, SharedChunk, CHUNK_SIZE};
use crate::log::{Kind, Log, RawEntry, SECTOR_SIZE};
use std::sync::OnceLock;

/// One request (write, discard or flush).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Req {
    /// Index of the submission entry.
    pub entry: usize,
    pub kind: Kind,
    pub id: u64,
    pub sector: u64,
    /// Length in 512-byte sectors (writes and discards).
    pub nr_sectors: u64,
    pub fua: bool,
    /// Whether completing it makes earlier completions durable (a flush, or
    /// a write with PREFLUSH).
    pub flushes: bool,
    /// Data completions before the submission (meaningful when `flushes`).
    pub cap: u64,
    /// Completion rank among data requests, if it completed.
    pub rank: Option<u64>,
}

impl Req {
    pub fn is_data(&self) -> bool {
        matches!(self.kind, Kind::Write | Kind::Discard)
    }
}

/// What one log entry does, in terms of requests.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    Submit(usize),
    Complete(usize),
    Mark,
}

/// The analysed log.
#[derive(Debug)]
pub(crate) struct Model<'a> {
    pub log: &'a Log,
    /// Requests in submission order.
    pub reqs: Vec<Req>,
    /// Per entry, what it does.
    pub events: Vec<Event>,
    /// Data requests by completion rank.
    pub by_rank: Vec<usize>,
    /// Per request, the whole chunks its data covers, built on first use
    /// by [`Model::apply_shared`].
    chunks: Vec<OnceLock<Box<[SharedChunk]>>>,
}

fn err_id(e: &RawEntry, index: usize, reason: &'static str) -> ReplayError {
    ReplayError::BadRequestId {
        index: index as u64,
        offset: e.file_off,
        id: e.id,
        reason,
    }
}

impl<'a> Model<'a> {
    pub fn new(log: &'a Log) -> Result<Self, ReplayError> {
        let device = log.device_bytes();
        if device == 0 || !device.is_multiple_of(SECTOR_SIZE as u64) {
            return Err(ReplayError::BadDeviceSize(device));
        }
        let device_sectors = device / SECTOR_SIZE as u64;
        let mut reqs: Vec<Req> = Vec::new();
        let mut events = Vec::with_capacity(log.len());
        let mut by_rank = Vec::new();
        // Ids are checked to increase with submission, so this map is only
        // used for lookups, never iterated.
        let mut index_of: BTreeMap<u64, usize> = BTreeMap::new();
        for i in 0..log.len() {
            let e = log.raw(i);
            let ev = match e.kind {
                Kind::Write | Kind::Discard | Kind::Flush => {
                    if reqs.last().is_some_and(|r| r.id >= e.id) {
                        return Err(err_id(e, i, "ids must increase in submission order"));
                    }
                    let nr_sectors = match e.kind {
                        Kind::Write => {
                            if !e.data_len.is_multiple_of(SECTOR_SIZE) {
                                return Err(ReplayError::UnalignedWrite {
                                    index: i as u64,
                                    offset: e.file_off,
                                    len: e.data_len as u64,
                                });
                            }
                            (e.data_len / SECTOR_SIZE) as u64
                        }
                        Kind::Discard => e.nr_sectors,
                        _ => 0,
                    };
                    if e.kind != Kind::Flush {
                        let end = e.sector.checked_add(nr_sectors);
                        if end.is_none_or(|end| end > device_sectors) {
                            return Err(ReplayError::EntryPastDevice {
                                index: i as u64,
                                offset: e.file_off,
                                sector: e.sector,
                                end: end.unwrap_or(u64::MAX),
                                device_bytes: device,
                            });
                        }
                    }
                    index_of.insert(e.id, reqs.len());
                    reqs.push(Req {
                        entry: i,
                        kind: e.kind,
                        id: e.id,
                        sector: e.sector,
                        nr_sectors,
                        fua: e.kind == Kind::Write && e.flags.fua,
                        flushes: e.kind == Kind::Flush
                            || (e.kind == Kind::Write && e.flags.preflush),
                        cap: by_rank.len() as u64,
                        rank: None,
                    });
                    Event::Submit(reqs.len() - 1)
                }
                Kind::Complete => {
                    let Some(&r) = index_of.get(&e.id) else {
                        return Err(err_id(e, i, "completion of a request never submitted"));
                    };
                    let req = &mut reqs[r];
                    if req.rank.is_some() {
                        return Err(err_id(e, i, "request completed twice"));
                    }
                    if req.is_data() {
                        req.rank = Some(by_rank.len() as u64);
                        by_rank.push(r);
                    } else {
                        // Flushes have no rank among data completions;
                        // u64::MAX records "completed" for the double check.
                        req.rank = Some(u64::MAX);
                    }
                    Event::Complete(r)
                }
                Kind::Mark => Event::Mark,
            };
            events.push(ev);
        }
        let chunks = (0..reqs.len()).map(|_| OnceLock::new()).collect();
        Ok(Model {
            log,
            reqs,
            events,
            by_rank,
            chunks,
        })
    }

    /// Applies request `r` to `image`: its first `limit` sectors (all when
    /// `None`), skipping the sectors `skip` says are owned by a later write.
    pub fn apply(
        &self,
        image: &mut Image,
        r: usize,
        limit: Option<u64>,
        skip: Option<&dyn Fn(u64) -> bool>,
    ) {
        self.apply_with(image, r, limit, skip, false);
    }

    /// [`Model::apply`] for a write applied to many crash images (a
    /// pending write): the whole chunks it covers are built and hashed
    /// once and shared by every image it is applied to.
    pub fn apply_shared(
        &self,
        image: &mut Image,
        r: usize,
        limit: Option<u64>,
        skip: Option<&dyn Fn(u64) -> bool>,
    ) {
        self.apply_with(image, r, limit, skip, true);
    }

    fn apply_with(
        &self,
        image: &mut Image,
        r: usize,
        limit: Option<u64>,
        skip: Option<&dyn Fn(u64) -> bool>,
        shared: bool,
    ) {
        let req = &self.reqs[r];
        let n = limit.map_or(req.nr_sectors, |l| l.min(req.nr_sectors));
        let data = self.log.data_of(self.log.raw(req.entry));
        let req_off = req.sector * SECTOR_SIZE as u64;
        let write = |image: &mut Image, s0: u64, s1: u64| {
            let off = s0 * SECTOR_SIZE as u64;
            let end = s1 * SECTOR_SIZE as u64;
            if req.kind != Kind::Write {
                image.zero(off, (end - off) as usize);
                return;
            }
            let bytes = |a: u64, b: u64| &data[(a - req_off) as usize..(b - req_off) as usize];
            let cs = CHUNK_SIZE as u64;
            let (first, last) = (off.div_ceil(cs), end / cs);
            if !shared || first >= last {
                image.write(off, bytes(off, end));
                return;
            }
            let chunks = self.chunks_of(r);
            let req_first = req_off.div_ceil(cs);
            image.write(off, bytes(off, first * cs));
            for c in first..last {
                image.put_chunk(c, &chunks[(c - req_first) as usize]);
            }
            image.write(last * cs, bytes(last * cs, end));
        };
        match skip {
            None => {
                if n > 0 {
                    write(image, req.sector, req.sector + n);
                }
            }
            Some(skip) => {
                // Write maximal runs of sectors not owned by a later write.
                let mut s = req.sector;
                let end = req.sector + n;
                while s < end {
                    if skip(s) {
                        s += 1;
                        continue;
                    }
                    let start = s;
                    while s < end && !skip(s) {
                        s += 1;
                    }
                    write(image, start, s);
                }
            }
        }
    }

    /// The whole chunks write `r` covers, in order, built on first use.
    fn chunks_of(&self, r: usize) -> &[SharedChunk] {
        self.chunks[r].get_or_init(|| {
            let req = &self.reqs[r];
            let data = self.log.data_of(self.log.raw(req.entry));
            let cs = CHUNK_SIZE as u64;
            let off = req.sector * SECTOR_SIZE as u64;
            let end = off + data.len() as u64;
            (off.div_ceil(cs)..end / cs)
                .map(|c| {
                    let at = (c * cs - off) as usize;
                    let bytes: &[u8; CHUNK_SIZE] = data[at..at + CHUNK_SIZE]
                        .try_into()
                        .expect("a whole chunk is CHUNK_SIZE bytes");
                    SharedChunk::new(bytes)
                })
                .collect()
        })
    }
}
