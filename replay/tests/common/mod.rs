//! Helpers shared by the integration tests: an independent, naive model of
//! the crash rules, written straight from the definitions.
#![allow(dead_code)]

use replay::{CrashState, EntryRef, Log, StateId, SECTOR_SIZE};

pub struct Req {
    pub id: u64,
    pub submit: usize,
    pub complete: Option<usize>,
    pub sector: u64,
    pub data: Option<Vec<u8>>, // None: discard (zeros)
    pub nr: u64,
    pub fua: bool,
    pub flushes: bool,
    pub is_data: bool,
}

pub fn requests(log: &Log) -> Vec<Req> {
    let mut reqs: Vec<Req> = Vec::new();
    for (i, e) in log.entries().enumerate() {
        match e {
            EntryRef::Write {
                id,
                sector,
                data,
                flags,
            } => reqs.push(Req {
                id,
                submit: i,
                complete: None,
                sector,
                nr: (data.len() / SECTOR_SIZE) as u64,
                data: Some(data.to_vec()),
                fua: flags.fua,
                flushes: flags.preflush,
                is_data: true,
            }),
            EntryRef::Flush { id } => reqs.push(Req {
                id,
                submit: i,
                complete: None,
                sector: 0,
                nr: 0,
                data: None,
                fua: false,
                flushes: true,
                is_data: false,
            }),
            EntryRef::Discard {
                id,
                sector,
                nr_sectors,
            } => reqs.push(Req {
                id,
                submit: i,
                complete: None,
                sector,
                nr: nr_sectors,
                data: None,
                fua: false,
                flushes: false,
                is_data: true,
            }),
            EntryRef::Complete { id } => {
                reqs.iter_mut().find(|r| r.id == id).unwrap().complete = Some(i)
            }
            EntryRef::Mark { .. } => {}
        }
    }
    reqs
}

/// durable at t: completed before t and (FUA, or some flush submitted after
/// its completion completed before t).
pub fn durable_at(reqs: &[Req], w: &Req, t: usize) -> bool {
    let Some(c) = w.complete.filter(|&c| c < t) else {
        return false;
    };
    w.fua
        || reqs
            .iter()
            .any(|f| f.flushes && f.submit > c && f.complete.is_some_and(|fc| fc < t))
}

/// The image of a state, rebuilt from nothing.
pub fn naive_image(log: &Log, state: &CrashState) -> Vec<u8> {
    let reqs = requests(log);
    let t = state.position;
    let mut chosen: Vec<(&Req, Option<u64>)> = Vec::new();
    for r in reqs.iter().filter(|r| r.is_data) {
        let completed = r.complete.is_some_and(|c| c < t);
        let take = match state.id {
            StateId::Prefix { .. } => completed,
            _ => durable_at(&reqs, r, t),
        };
        if take {
            chosen.push((r, None));
        } else if let Some(p) = state.persisted.iter().find(|p| p.id == r.id) {
            assert!(r.submit < t, "persisted write not submitted");
            chosen.push((r, p.sectors.map(u64::from)));
        }
    }
    // Completion order; in-flight after, by submission.
    chosen.sort_by_key(|(r, _)| match r.complete.filter(|&c| c < t) {
        Some(c) => (0, c),
        None => (1, r.submit),
    });
    let mut img = vec![0u8; log.device_bytes() as usize];
    for (r, limit) in chosen {
        let n = limit.map_or(r.nr, |l| l.min(r.nr)) as usize;
        let off = r.sector as usize * SECTOR_SIZE;
        match &r.data {
            Some(d) => img[off..off + n * SECTOR_SIZE].copy_from_slice(&d[..n * SECTOR_SIZE]),
            None => img[off..off + n * SECTOR_SIZE].fill(0),
        }
    }
    img
}
