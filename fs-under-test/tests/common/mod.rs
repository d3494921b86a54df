//! Test support: a device that records completed writes and flushes and
//! can rebuild a few crash images at any point (not a full crash checker:
//! that is the harness's job), plus a tiny oracle over scripted workloads.
#![allow(dead_code)]

use std::collections::VecDeque;

use fs_under_test::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const DEV_BYTES: usize = 1 << 20;

#[derive(Clone, Debug)]
pub enum Entry {
    Write {
        sector: u64,
        data: Vec<u8>,
        fua: bool,
        preflush: bool,
        /// Log length when it was submitted (what a preflush covers).
        submitted_at: usize,
    },
    Flush {
        submitted_at: usize,
    },
}

/// Completes bios in FIFO order, or in a seeded random order.
pub struct RecDevice {
    pub base: Vec<u8>,
    cur: Vec<u8>,
    queue: VecDeque<(BioId, Bio, usize)>,
    pub log: Vec<Entry>,
    pub events: Vec<(usize, FsEvent)>,
    next: u64,
    rng: Option<ChaCha8Rng>,
}

impl RecDevice {
    pub fn new(image: Vec<u8>, seed: Option<u64>) -> Self {
        RecDevice {
            base: image.clone(),
            cur: image,
            queue: VecDeque::new(),
            log: Vec::new(),
            events: Vec::new(),
            next: 0,
            rng: seed.map(ChaCha8Rng::seed_from_u64),
        }
    }

    /// Durable set after the first `n` log entries: entry indices.
    fn durable(&self, n: usize) -> Vec<bool> {
        let mut d = vec![false; n];
        for i in 0..n {
            match &self.log[i] {
                Entry::Flush { submitted_at } => d[..(*submitted_at).min(i)]
                    .iter_mut()
                    .for_each(|x| *x = true),
                Entry::Write {
                    fua,
                    preflush,
                    submitted_at,
                    ..
                } => {
                    if *preflush {
                        d[..(*submitted_at).min(i)]
                            .iter_mut()
                            .for_each(|x| *x = true);
                    }
                    if *fua {
                        d[i] = true;
                    }
                }
            }
        }
        d
    }

    fn build(&self, n: usize, keep: impl Fn(usize) -> bool) -> Vec<u8> {
        let mut img = self.base.clone();
        for (i, e) in self.log[..n].iter().enumerate() {
            if let Entry::Write { sector, data, .. } = e {
                if keep(i) {
                    let at = *sector as usize * SECTOR_SIZE;
                    img[at..at + data.len()].copy_from_slice(data);
                }
            }
        }
        img
    }

    /// A few crash images at log position `n`: everything completed, only
    /// the durable part, and durable plus all volatile writes but one.
    pub fn crash_images(&self, n: usize) -> Vec<Vec<u8>> {
        let d = self.durable(n);
        let mut out = vec![self.build(n, |_| true), self.build(n, |i| d[i])];
        let volatile: Vec<usize> = (0..n)
            .filter(|i| !d[*i] && matches!(self.log[*i], Entry::Write { .. }))
            .collect();
        for skip in volatile.iter().rev().take(6) {
            out.push(self.build(n, |i| i != *skip));
            out.push(self.build(n, |i| d[i] || i == *skip));
        }
        out
    }
}

impl BlockDevice for RecDevice {
    fn size_sectors(&self) -> u64 {
        (self.cur.len() / SECTOR_SIZE) as u64
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let at = sector as usize * SECTOR_SIZE;
        if at + buf.len() > self.cur.len() {
            return Err(DeviceError::OutOfRange {
                sector,
                sectors: (buf.len() / SECTOR_SIZE) as u64,
                size: self.size_sectors(),
            });
        }
        buf.copy_from_slice(&self.cur[at..at + buf.len()]);
        Ok(())
    }
    fn submit(&mut self, bio: Bio) -> Result<BioId, DeviceError> {
        let id = BioId(self.next);
        self.next += 1;
        let at = self.log.len();
        self.queue.push_back((id, bio, at));
        Ok(id)
    }
    fn complete_next(&mut self) -> Option<BioId> {
        let idx = match &mut self.rng {
            Some(r) if !self.queue.is_empty() => r.gen_range(0..self.queue.len()),
            _ => 0,
        };
        let (id, bio, submitted_at) = self.queue.remove(idx)?;
        match bio.kind {
            BioKind::Write {
                sector,
                data,
                flags,
            } => {
                let at = sector as usize * SECTOR_SIZE;
                self.cur[at..at + data.len()].copy_from_slice(&data);
                self.log.push(Entry::Write {
                    sector,
                    data,
                    fua: flags.fua,
                    preflush: flags.preflush,
                    submitted_at,
                });
            }
            BioKind::Flush => self.log.push(Entry::Flush { submitted_at }),
        }
        Some(id)
    }
    fn in_flight(&self) -> usize {
        self.queue.len()
    }
    fn event(&mut self, e: &FsEvent) {
        self.events.push((self.log.len(), e.clone()));
    }
}

pub fn fresh_image(opts: &MkfsOptions) -> Vec<u8> {
    let mut dev = MemDevice::new(DEV_BYTES);
    mkfs(&mut dev, opts).unwrap();
    dev.image().to_vec()
}

/// The byte a test write puts at `offset` of file `ino` for write `wid`:
/// never zero, and its high nibble names the file (foreign data check).
pub fn pattern(ino: u32, wid: u32, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (((ino + 1) as u8) << 4) | (((offset + i) as u32 * 7 + wid) % 15 + 1) as u8)
        .collect()
}

/// A stable promise the test checks after a crash.
#[derive(Clone, Debug)]
pub struct Claim {
    pub pos: usize,
    pub ino: u32,
    pub offset: u64,
    pub data: Vec<u8>,
    /// The file must be at least this long.
    pub min_size: u64,
    /// Log position of the first later operation that may change these
    /// bytes or shrink the file (the claim holds only for crashes before).
    pub until: usize,
}

/// Mounts `img` and checks every claim in force at `n`, and that every
/// byte is zero or belongs to its own file. Returns a description of the
/// first violation.
pub fn check_image(
    img: Vec<u8>,
    n: usize,
    claims: &[Claim],
    mount: &MountOptions,
) -> Result<(), String> {
    let mut fs = Filesystem::mount(MemDevice::from_image(img), mount.clone())
        .map_err(|e| format!("mount: {e}"))?;
    for c in claims.iter().filter(|c| c.pos <= n && n < c.until) {
        let size = fs.size(c.ino).map_err(|e| format!("size: {e}"))?;
        if size < c.min_size {
            return Err(format!(
                "ino {} size {size} < acknowledged {} ({c:?})",
                c.ino, c.min_size
            ));
        }
        let got = fs
            .read(c.ino, c.offset, c.data.len() as u64)
            .map_err(|e| e.to_string())?;
        if got != c.data {
            return Err(format!(
                "ino {} acknowledged data at {} lost",
                c.ino, c.offset
            ));
        }
    }
    for ino in 0..fs.inode_count() {
        if !fs.exists(ino) {
            continue;
        }
        let size = fs.size(ino).unwrap();
        let data = fs.read(ino, 0, size).map_err(|e| e.to_string())?;
        if let Some((i, b)) = data
            .iter()
            .enumerate()
            .find(|(_, b)| **b != 0 && (**b >> 4) as u32 != ino + 1)
        {
            return Err(format!("ino {ino} byte {i} holds foreign byte {b:#x}"));
        }
    }
    Ok(())
}

/// Checks every crash point of a recorded run. Returns the violations.
pub fn check_all(dev: &RecDevice, claims: &[Claim], mount: &MountOptions) -> Vec<String> {
    let mut bad = Vec::new();
    for n in 0..=dev.log.len() {
        for img in dev.crash_images(n) {
            if let Err(e) = check_image(img, n, claims, mount) {
                bad.push(format!("crash at {n}: {e}"));
            }
        }
    }
    bad
}

/// Drives a filesystem over a `RecDevice`, keeping a content model and the
/// stable claims that the crash check holds it to.
pub struct Script {
    pub fs: Filesystem<RecDevice>,
    pub claims: Vec<Claim>,
    pub model: Vec<Vec<u8>>,
    /// AIO O_DSYNC requests not yet acknowledged: (handle, claim).
    pending: Vec<(DioHandle, Claim)>,
    /// Every AIO not yet acknowledged: fsync and syncfs do not wait for
    /// them (Linux semantics), so whole-file claims skip their inodes.
    aio: Vec<(DioHandle, u32)>,
    wid: u32,
}

impl Script {
    pub fn new(mkfs_opts: &MkfsOptions, mount: &MountOptions, seed: Option<u64>) -> Self {
        let dev = RecDevice::new(fresh_image(mkfs_opts), seed);
        let fs = Filesystem::mount(dev, mount.clone()).unwrap();
        let n = fs.inode_count() as usize;
        Script {
            fs,
            claims: Vec::new(),
            model: vec![Vec::new(); n],
            pending: Vec::new(),
            aio: Vec::new(),
            wid: 0,
        }
    }

    pub fn pos(&self) -> usize {
        self.fs.device().log.len()
    }

    fn invalidate(&mut self, ino: u32, from: u64, to: u64, start: usize) {
        for c in self
            .claims
            .iter_mut()
            .chain(self.pending.iter_mut().map(|(_, c)| c))
        {
            let end = c.offset + c.data.len() as u64;
            if c.ino == ino
                && c.until == usize::MAX
                && (c.offset < to && from < end || c.min_size > from)
            {
                c.until = start;
            }
        }
    }

    fn model_write(&mut self, ino: u32, off: u64, data: &[u8]) {
        let m = &mut self.model[ino as usize];
        let end = off as usize + data.len();
        if m.len() < end {
            m.resize(end, 0);
        }
        m[off as usize..end].copy_from_slice(data);
    }

    pub fn aio_busy(&self, ino: u32) -> bool {
        self.aio
            .iter()
            .any(|(h, i)| *i == ino && !self.fs.dio_done(*h))
    }

    /// Moves acknowledged AIO claims into force, at their ack position.
    fn reap(&mut self, barrier_ino: Option<(u32, usize)>) {
        let events = &self.fs.device().events;
        let mut still = Vec::new();
        for (h, mut c) in std::mem::take(&mut self.pending) {
            let acked = events.iter().find_map(|(p, e)| match e {
                FsEvent::DioAcked { dio, .. } if *dio == h.0 => Some(*p),
                _ => None,
            });
            let pos = match (acked, barrier_ino) {
                (Some(p), _) => Some(p),
                (None, Some((ino, p))) if ino == c.ino => Some(p),
                _ => None,
            };
            match pos {
                Some(p) => {
                    c.pos = p;
                    self.claims.push(c);
                }
                None => still.push((h, c)),
            }
        }
        self.pending = still;
    }

    pub fn create(&mut self, ino: u32) {
        self.fs.create(ino).unwrap();
    }

    pub fn write(&mut self, ino: u32, off: u64, len: usize, dsync: bool) -> Result<(), FsError> {
        self.wid += 1;
        let data = pattern(ino, self.wid, off, len);
        let start = self.pos();
        self.invalidate(ino, off, off + len as u64, start);
        self.fs.write(ino, off, &data, dsync)?;
        self.model_write(ino, off, &data);
        if dsync {
            let pos = self.pos();
            // Other AIO may have extended the model but not the file yet.
            let min_size = if self.aio_busy(ino) {
                off + len as u64
            } else {
                self.model[ino as usize].len() as u64
            };
            self.claims.push(Claim {
                pos,
                ino,
                offset: off,
                data,
                min_size,
                until: usize::MAX,
            });
        }
        self.reap(None);
        Ok(())
    }

    pub fn dio(
        &mut self,
        ino: u32,
        off: u64,
        len: usize,
        dsync: bool,
        aio: bool,
    ) -> Result<DioHandle, FsError> {
        self.wid += 1;
        let data = pattern(ino, self.wid, off, len);
        let start = self.pos();
        self.invalidate(ino, off, off + len as u64, start);
        let h = self.fs.dio_write(ino, off, &data, dsync, aio)?;
        if aio {
            self.aio.push((h, ino));
        }
        self.model_write(ino, off, &data);
        if dsync {
            let min_size = off + len as u64;
            let c = Claim {
                pos: usize::MAX,
                ino,
                offset: off,
                data,
                min_size,
                until: usize::MAX,
            };
            self.pending.push((h, c));
        }
        self.reap(None);
        Ok(h)
    }

    pub fn fsync(&mut self, ino: u32, datasync: bool) -> Result<(), FsError> {
        if datasync {
            self.fs.fdatasync(ino)?;
        } else {
            self.fs.fsync(ino)?;
        }
        let pos = self.pos();
        let data = self.model[ino as usize].clone();
        let min_size = data.len() as u64;
        if !self.aio_busy(ino) {
            self.claims.push(Claim {
                pos,
                ino,
                offset: 0,
                data,
                min_size,
                until: usize::MAX,
            });
        }
        self.reap(None);
        Ok(())
    }

    pub fn truncate(&mut self, ino: u32, size: u64) -> Result<(), FsError> {
        let start = self.pos();
        self.invalidate(ino, size, u64::MAX, start);
        self.fs.truncate(ino, size)?;
        self.model[ino as usize].resize(size as usize, 0);
        self.reap(None);
        Ok(())
    }

    pub fn dio_wait(&mut self, ino: u32) -> Result<(), FsError> {
        self.fs.dio_wait(ino)?;
        let pos = self.pos();
        let stable = true;
        self.reap(stable.then_some((ino, pos)));
        Ok(())
    }

    pub fn poll(&mut self) -> Result<(), FsError> {
        self.fs.poll()?;
        self.reap(None);
        Ok(())
    }

    pub fn syncfs(&mut self) -> Result<(), FsError> {
        self.fs.syncfs()?;
        let pos = self.pos();
        for ino in 0..self.model.len() as u32 {
            if self.fs.exists(ino) && !self.aio_busy(ino) {
                let data = self.model[ino as usize].clone();
                let min_size = data.len() as u64;
                self.claims.push(Claim {
                    pos,
                    ino,
                    offset: 0,
                    data,
                    min_size,
                    until: usize::MAX,
                });
            }
        }
        self.reap(None);
        Ok(())
    }

    /// Crashes (leaving in-flight bios out) and checks every crash point.
    pub fn check(self, mount: &MountOptions) -> Vec<String> {
        let dev = self.fs.crash();
        check_all(&dev, &self.claims, mount)
    }
}
