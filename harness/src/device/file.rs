//! The `file` device model: one byte-addressable file with `write`,
//! `set_len` and `sync_data` (redb's `StorageBackend`, a database over a
//! file), recorded as a page cache over sectors.
//!
//! On the recording device the file's bytes live at the start, and its
//! length in a one-sector record at the end. A write dirties whole pages:
//! each page it touches is logged as one completed, cached (volatile)
//! write of the page's new contents, so pages reach the disk independently
//! (reorder) and tear at the tear granularity (sectors by default). A
//! length change logs the length record (and, shrinking, the zeroes past
//! the new end). `sync_data` is a flush: everything before it is durable.
//! A crash therefore leaves any subset of the unsynced pages and length
//! changes (reorder), in order (prefix), or torn.

use super::{ChunksRead, Recorder};
use replay::image::Image;
use replay::log::{Log, LogBuilder, WriteFlags};

/// Page size of the modelled page cache.
pub const PAGE_SIZE: u64 = 4096;
const SECTOR: u64 = 512;
/// The length record: magic, then the length (little endian).
const LEN_MAGIC: &[u8; 8] = b"brnfile1";
/// Most partial versions a sub-sector write logs on byte-atomic media.
const MAX_BYTE_TEARS: usize = 4;

/// A malformed file request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("file range {offset}+{len} is past the device's capacity of {capacity} bytes")]
    TooLarge {
        offset: u64,
        len: u64,
        capacity: u64,
    },
    #[error("read at {offset}+{len} is past the end of the file ({file_len} bytes)")]
    PastEnd {
        offset: u64,
        len: u64,
        file_len: u64,
    },
}

enum Store {
    Flat(Vec<u8>),
    Image(Image),
}

/// The recorded file a `file`-model engine runs on.
pub struct File {
    store: Store,
    device_bytes: u64,
    len: u64,
    log: Option<LogBuilder>,
    /// Scratch page for read-modify-write, kept to avoid an allocation per
    /// page.
    page: Vec<u8>,
    /// Over a crash image, recording: the zeroes past the end that open
    /// showed, not yet in the log (logged before recovery's first write,
    /// so a recovery that only reads leaves an empty log).
    unlogged_zeroes: Option<(u64, u64)>,
    /// The engine assumes only byte atomicity ([`File::set_byte_atomic`]).
    byte_atomic: bool,
    /// The modelled cache's page size ([`File::set_page_bytes`]).
    page_bytes: u64,
    /// Over a crash image: the chunks read (the length record's first),
    /// which is every byte the file's view and its log depend on: a
    /// partial page is read before it is logged (`Recorder::chunks_read`).
    chunks_read: std::cell::RefCell<ChunksRead>,
}

impl File {
    /// Declares that the engine assumes only that single bytes are written
    /// atomically (redb's design.md, "Assumptions about underlying
    /// media"), not sectors: a power loss may then tear a write anywhere.
    /// A write that does not cover whole sectors (a header, a commit slot)
    /// is recorded after its partial versions: the runs of bytes it
    /// changes, persisted in order up to a run boundary (at most
    /// [`MAX_BYTE_TEARS`], evenly chosen among the boundaries), then all
    /// of them but the first. Each is a
    /// cached write like any other, so every crash mode reaches them; each
    /// is a state byte-atomic media can leave, so the check stays sound.
    /// Whole-sector writes tear at sectors as before (torn mode).
    pub fn set_byte_atomic(&mut self, on: bool) {
        self.byte_atomic = on;
    }

    /// Sets the page size of the modelled cache (a multiple of 512 that
    /// divides the device; [`PAGE_SIZE`] by default): the unit in which
    /// writes reach the disk. A block device with a write cache, which
    /// reorders sectors, is a file of 512-byte pages.
    pub fn set_page_bytes(&mut self, page_bytes: u64) {
        assert!(
            page_bytes.is_multiple_of(SECTOR) && self.device_bytes.is_multiple_of(page_bytes),
            "a page of {page_bytes} bytes is not whole sectors dividing the device"
        );
        self.page_bytes = page_bytes;
    }

    /// Bytes the file may grow to on this device.
    pub fn capacity(&self) -> u64 {
        self.device_bytes - SECTOR
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads `buf.len()` bytes at `offset`; the range must lie in the file.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), FileError> {
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(FileError::PastEnd {
                offset,
                len,
                file_len: self.len,
            });
        }
        self.read_raw(offset, buf);
        Ok(())
    }

    fn read_raw(&self, offset: u64, buf: &mut [u8]) {
        match &self.store {
            Store::Flat(d) => buf.copy_from_slice(&d[offset as usize..offset as usize + buf.len()]),
            Store::Image(i) => {
                i.read(offset, buf);
                self.chunks_read.borrow_mut().note(offset, buf.len() as u64);
            }
        }
    }

    fn write_raw(&mut self, offset: u64, data: &[u8]) {
        match &mut self.store {
            Store::Flat(d) => {
                d[offset as usize..offset as usize + data.len()].copy_from_slice(data)
            }
            Store::Image(i) => i.write(offset, data),
        }
    }

    fn check_capacity(&self, offset: u64, len: u64) -> Result<u64, FileError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.capacity() => Ok(end),
            _ => Err(FileError::TooLarge {
                offset,
                len,
                capacity: self.capacity(),
            }),
        }
    }

    /// Writes `data` at `offset`, extending the file if it ends past it.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), FileError> {
        let end = self.check_capacity(offset, data.len() as u64)?;
        if data.is_empty() {
            return Ok(());
        }
        self.log_zeroes_at_open();
        if self.byte_atomic && self.log.is_some() {
            self.log_byte_tears(offset, data);
        }
        self.write_raw(offset, data);
        if self.log.is_some() {
            self.log_pages(offset, data.len() as u64);
        }
        if end > self.len {
            self.len = end;
            self.log_len();
        }
        Ok(())
    }

    /// Logs the partial versions of a sub-sector write (see
    /// [`File::set_byte_atomic`]), leaving the file's bytes as they were.
    fn log_byte_tears(&mut self, offset: u64, data: &[u8]) {
        let whole_sectors =
            offset.is_multiple_of(SECTOR) && (data.len() as u64).is_multiple_of(SECTOR);
        if whole_sectors {
            return;
        }
        let mut old = vec![0u8; data.len()];
        self.read_raw(offset, &mut old);
        // The end of each run of changed bytes but the last: cutting there
        // persists whole runs only.
        let mut cuts = Vec::new();
        let mut in_run = false;
        for (i, (new, old)) in data.iter().zip(&old).enumerate() {
            let changed = new != old;
            if in_run && !changed {
                cuts.push(i);
            }
            in_run = changed;
        }
        if !in_run {
            cuts.pop(); // the last run ended before the end of the write
        }
        let first = cuts.first().copied();
        let picks: Vec<usize> = if cuts.len() <= MAX_BYTE_TEARS {
            cuts
        } else {
            let last = cuts.len() - 1;
            (0..MAX_BYTE_TEARS)
                .map(|k| cuts[k * last / (MAX_BYTE_TEARS - 1)])
                .collect()
        };
        for cut in picks {
            self.write_raw(offset, &data[..cut]);
            self.log_pages(offset, cut as u64);
        }
        // And the other way round: everything but the first run (the
        // media need not write a sector's bytes in order).
        if let Some(first) = first {
            self.write_raw(offset, &old);
            self.write_raw(offset + first as u64, &data[first..]);
            self.log_pages(offset + first as u64, (data.len() - first) as u64);
        }
        self.write_raw(offset, &old);
    }

    /// Logs every page of `offset..offset + len` (`len > 0`).
    fn log_pages(&mut self, offset: u64, len: u64) {
        let end = offset + len;
        for page in offset / self.page_bytes..=(end - 1) / self.page_bytes {
            self.log_page(page);
        }
    }

    /// Sets the file's length; bytes past a shrink read as zero if the
    /// file grows again.
    pub fn set_len(&mut self, len: u64) -> Result<(), FileError> {
        self.check_capacity(len, 0)?;
        self.log_zeroes_at_open();
        if len < self.len {
            let old = self.len;
            self.zero_raw(len, old - len);
            if self.log.is_some() {
                if !len.is_multiple_of(self.page_bytes) {
                    self.log_page(len / self.page_bytes);
                }
                let from = len.div_ceil(self.page_bytes) * self.page_bytes;
                let to = old.div_ceil(self.page_bytes) * self.page_bytes;
                if to > from {
                    let log = self.log.as_mut().expect("checked above");
                    let id = log.submit_discard(from / SECTOR, (to - from) / SECTOR);
                    log.complete(id);
                }
            }
        }
        if len != self.len {
            self.len = len;
            self.log_len();
        }
        Ok(())
    }

    /// Makes every earlier write and length change durable.
    pub fn sync_data(&mut self) -> Result<(), FileError> {
        self.log_zeroes_at_open();
        if let Some(log) = &mut self.log {
            let id = log.submit_flush();
            log.complete(id);
        }
        Ok(())
    }

    /// Logs (durably) the zeroes past the end that open showed, once,
    /// before recovery's first change.
    fn log_zeroes_at_open(&mut self) {
        let Some((from, to)) = self.unlogged_zeroes.take() else {
            return;
        };
        if !from.is_multiple_of(self.page_bytes) {
            self.log_page(from / self.page_bytes);
        }
        let first = from.div_ceil(self.page_bytes) * self.page_bytes;
        if let Some(log) = &mut self.log {
            if first < to {
                let id = log.submit_discard(first / SECTOR, (to - first) / SECTOR);
                log.complete(id);
            }
            let id = log.submit_flush();
            log.complete(id);
        }
    }

    fn zero_raw(&mut self, offset: u64, len: u64) {
        match &mut self.store {
            Store::Flat(d) => d[offset as usize..(offset + len) as usize].fill(0),
            Store::Image(i) => i.zero(offset, len as usize),
        }
    }

    /// Logs page `page` with its current contents (cached: volatile).
    fn log_page(&mut self, page: u64) {
        let mut buf = std::mem::take(&mut self.page);
        buf.resize(self.page_bytes as usize, 0);
        let start = page * self.page_bytes;
        let n = self.page_bytes.min(self.capacity() - start) as usize;
        self.read_raw(start, &mut buf[..n]);
        if let Some(log) = &mut self.log {
            let id = log.submit_write(start / SECTOR, &buf[..n], WriteFlags::default());
            log.complete(id);
        }
        self.page = buf;
    }

    fn len_record(len: u64) -> [u8; SECTOR as usize] {
        let mut rec = [0u8; SECTOR as usize];
        rec[..8].copy_from_slice(LEN_MAGIC);
        rec[8..16].copy_from_slice(&len.to_le_bytes());
        rec
    }

    fn log_len(&mut self) {
        let rec = Self::len_record(self.len);
        let at = self.capacity();
        if let Store::Image(i) = &mut self.store {
            i.write(at, &rec);
        } else if let Store::Flat(d) = &mut self.store {
            d[at as usize..].copy_from_slice(&rec);
        }
        if let Some(log) = &mut self.log {
            let id = log.submit_write(
                at / SECTOR,
                &rec,
                WriteFlags {
                    metadata: true,
                    ..WriteFlags::default()
                },
            );
            log.complete(id);
        }
    }
}

impl Recorder for File {
    fn fresh(device_bytes: u64) -> Self {
        assert!(
            device_bytes > SECTOR && device_bytes.is_multiple_of(PAGE_SIZE),
            "a file device is whole pages"
        );
        File {
            store: Store::Flat(vec![0; device_bytes as usize]),
            device_bytes,
            len: 0,
            log: Some(LogBuilder::new(device_bytes)),
            page: Vec::new(),
            unlogged_zeroes: None,
            byte_atomic: false,
            page_bytes: PAGE_SIZE,
            chunks_read: Default::default(),
        }
    }

    fn over_image(image: Image, record: bool) -> Self {
        let device_bytes = image.len();
        let mut rec = [0u8; SECTOR as usize];
        image.read(device_bytes - SECTOR, &mut rec);
        let len = if &rec[..8] == LEN_MAGIC {
            u64::from_le_bytes(rec[8..16].try_into().expect("8 bytes"))
        } else {
            0 // never persisted: the file was empty
        };
        let mut file = File {
            store: Store::Image(image),
            device_bytes,
            len: len.min(device_bytes - SECTOR),
            log: record.then(|| LogBuilder::new(device_bytes)),
            page: Vec::new(),
            unlogged_zeroes: None,
            byte_atomic: false,
            page_bytes: PAGE_SIZE,
            chunks_read: Default::default(),
        };
        file.chunks_read
            .get_mut()
            .note(device_bytes - SECTOR, SECTOR);
        // What lies past the end is not the file's: a crash may have kept
        // pages whose length change it lost. They read as zero if the file
        // grows again, as on a filesystem. Recorded (and made durable) first
        // when recovery is recorded, so that a crash inside recovery starts
        // from the same view.
        let (from, to) = (file.len, file.capacity());
        file.zero_raw(from, to - from);
        if file.log.is_some() && from < to {
            file.unlogged_zeroes = Some((from, to));
        }
        file
    }

    fn position(&self) -> usize {
        self.log.as_ref().map_or(0, LogBuilder::len)
    }

    fn mark(&mut self, label: &str) {
        if let Some(log) = &mut self.log {
            log.mark(label, &[]);
        }
    }

    fn finish(self) -> Log {
        self.log
            .unwrap_or_else(|| LogBuilder::new(self.device_bytes))
            .finish()
    }

    fn take_chunks_read(&mut self) -> Option<Vec<u64>> {
        match self.store {
            Store::Image(_) => Some(self.chunks_read.get_mut().take()),
            Store::Flat(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use replay::log::EntryRef;

    /// The first `n` bytes of each page write in the log.
    fn page_writes(file: File, n: usize) -> Vec<Vec<u8>> {
        file.finish()
            .entries()
            .filter_map(|e| match e {
                EntryRef::Write {
                    sector: 0, data, ..
                } => Some(data[..n].to_vec()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_sub_sector_write_on_byte_atomic_media_logs_its_partial_versions() {
        let mut file = File::fresh(64 << 10);
        file.write(0, &[1, 1, 1, 1, 1, 1, 1, 1]).unwrap();
        file.set_byte_atomic(true);
        // Three runs of changed bytes: [1], [3, 4], [7].
        file.write(0, &[1, 9, 1, 9, 9, 1, 1, 9]).unwrap();
        assert_eq!(
            page_writes(file, 8),
            [
                vec![1, 1, 1, 1, 1, 1, 1, 1],
                vec![1, 9, 1, 1, 1, 1, 1, 1],
                vec![1, 9, 1, 9, 9, 1, 1, 1],
                vec![1, 1, 1, 9, 9, 1, 1, 9],
                vec![1, 9, 1, 9, 9, 1, 1, 9],
            ]
        );
    }

    #[test]
    fn whole_sector_writes_and_sector_atomic_media_log_one_version() {
        let mut file = File::fresh(64 << 10);
        file.write(0, &[1; 8]).unwrap();
        file.write(0, &[1, 9, 1, 9, 9, 1, 1, 9]).unwrap();
        file.set_byte_atomic(true);
        file.write(0, &[7; 512]).unwrap();
        assert_eq!(page_writes(file, 1), [vec![1], vec![1], vec![7]]);
    }

    #[test]
    fn many_runs_give_at_most_the_cap_of_partial_versions() {
        let mut file = File::fresh(64 << 10);
        file.set_byte_atomic(true);
        let data: Vec<u8> = (0..100).map(|i| u8::from(i % 2 == 0)).collect();
        file.write(0, &data).unwrap();
        assert_eq!(page_writes(file, 1).len(), MAX_BYTE_TEARS + 2);
    }
}
