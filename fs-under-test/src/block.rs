//! The block-device API the filesystem core is written against.
//!
//! It is asynchronous like the Linux block layer: a bio is *submitted*, and
//! *completes* later, in an order the device chooses. The filesystem never
//! learns of a completion by a thread or a timer: it asks the device to
//! complete the next request (`complete_next`), typically inside a wait loop.
//! A wait loop that finds nothing in flight while its condition cannot hold
//! is a deadlock, reported as an error, never a hang.
//!
//! The harness implements this trait with its recording device (every write,
//! flush and FUA is logged); `MemDevice` is a plain in-order implementation
//! for the crate's own tests.

use crate::event::FsEvent;

/// Bytes per sector: the unit of device addresses.
pub const SECTOR_SIZE: usize = 512;
/// Bytes per filesystem block.
pub const BLOCK_SIZE: usize = 4096;
/// Sectors per filesystem block.
pub const SECTORS_PER_BLOCK: u64 = (BLOCK_SIZE / SECTOR_SIZE) as u64;

/// Identifies one submitted bio until it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BioId(pub u64);

/// Who issued a bio. The harness uses it to check the runtime DIO barrier
/// (rule 6: no bio of an earlier DIO on the inode is still in flight when
/// `dio_wait` returns) and to label the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BioOwner {
    /// A bio of direct I/O request `dio` on inode `ino`.
    Dio { ino: u32, dio: u64 },
    /// Page-cache writeback of inode `ino`.
    Writeback { ino: u32 },
    /// Journal blocks and commit records.
    Journal,
    /// Checkpoint of journaled metadata to its home location.
    Checkpoint,
    /// Superblock, mkfs, or anything else.
    Other,
}

/// Request flags of a write bio, with the Linux block layer's meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WriteFlags {
    /// REQ_FUA: on stable media when the bio completes.
    pub fua: bool,
    /// REQ_PREFLUSH: the cache is flushed before the write is performed.
    pub preflush: bool,
    /// REQ_META: a metadata write (informational; dm-log-writes logs it).
    pub metadata: bool,
}

/// What a bio does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BioKind {
    /// Write `data` (a whole number of sectors) starting at `sector`.
    Write {
        sector: u64,
        data: Vec<u8>,
        flags: WriteFlags,
    },
    /// An empty flush (REQ_PREFLUSH without data): when it completes, every
    /// write that had completed before it was submitted is durable.
    Flush,
}

/// One block I/O request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bio {
    pub kind: BioKind,
    pub owner: BioOwner,
}

/// Errors a device reports for a malformed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("I/O at sector {sector} for {sectors} sectors is past the end of the device ({size} sectors)")]
    OutOfRange {
        sector: u64,
        sectors: u64,
        size: u64,
    },
    #[error("I/O length {len} bytes is not a whole number of {SECTOR_SIZE}-byte sectors")]
    Misaligned { len: usize },
}

/// The device a filesystem is mounted on.
pub trait BlockDevice {
    /// Size of the device in sectors.
    fn size_sectors(&self) -> u64;

    /// Reads the device's current contents: what a read bio would return
    /// now (every completed write, cached or durable). Writes still in
    /// flight are not visible; the filesystem never reads a range it has a
    /// write in flight to.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError>;

    /// [`BlockDevice::read`] of `len` bytes into a new buffer. A device
    /// that can fill it without zeroing it first says so here: every
    /// mount reads the journal and metadata a block at a time.
    fn read_vec(&mut self, sector: u64, len: usize) -> Result<Vec<u8>, DeviceError> {
        let mut buf = vec![0u8; len];
        self.read(sector, &mut buf)?;
        Ok(buf)
    }

    /// Submits a bio; it completes later, through `complete_next`.
    fn submit(&mut self, bio: Bio) -> Result<BioId, DeviceError>;

    /// Completes one in-flight bio of the device's choosing and returns its
    /// id, or `None` when nothing is in flight.
    fn complete_next(&mut self) -> Option<BioId>;

    /// Number of bios submitted and not yet completed.
    fn in_flight(&self) -> usize;

    /// Event hook: the filesystem reports acknowledgements and DIO
    /// milestones here, at the exact point they happen, so a recording
    /// device can mark them in its log.
    fn event(&mut self, _event: &FsEvent) {}
}

/// A plain in-memory device that completes bios in submission order and
/// has no volatile cache. For tests of the filesystem itself.
#[derive(Clone, Debug)]
pub struct MemDevice {
    data: Vec<u8>,
    queue: std::collections::VecDeque<(BioId, Bio)>,
    next_id: u64,
}

impl MemDevice {
    /// A zeroed device of `bytes` bytes (rounded down to whole sectors).
    pub fn new(bytes: usize) -> Self {
        Self::from_image(vec![0; bytes - bytes % SECTOR_SIZE])
    }

    /// A device holding `image` (its length must be a multiple of the
    /// sector size; any excess is cut off).
    pub fn from_image(mut image: Vec<u8>) -> Self {
        image.truncate(image.len() - image.len() % SECTOR_SIZE);
        MemDevice {
            data: image,
            queue: Default::default(),
            next_id: 0,
        }
    }

    /// The device contents.
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    fn check_range(&self, sector: u64, len: usize) -> Result<(), DeviceError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(DeviceError::Misaligned { len });
        }
        let sectors = (len / SECTOR_SIZE) as u64;
        let size = self.size_sectors();
        match sector.checked_add(sectors) {
            Some(end) if end <= size => Ok(()),
            _ => Err(DeviceError::OutOfRange {
                sector,
                sectors,
                size,
            }),
        }
    }
}

impl BlockDevice for MemDevice {
    fn size_sectors(&self) -> u64 {
        (self.data.len() / SECTOR_SIZE) as u64
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.check_range(sector, buf.len())?;
        let start = sector as usize * SECTOR_SIZE;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        Ok(())
    }

    fn submit(&mut self, bio: Bio) -> Result<BioId, DeviceError> {
        if let BioKind::Write { sector, data, .. } = &bio.kind {
            self.check_range(*sector, data.len())?;
        }
        let id = BioId(self.next_id);
        self.next_id += 1;
        self.queue.push_back((id, bio));
        Ok(id)
    }

    fn complete_next(&mut self) -> Option<BioId> {
        let (id, bio) = self.queue.pop_front()?;
        if let BioKind::Write { sector, data, .. } = bio.kind {
            let start = sector as usize * SECTOR_SIZE;
            self.data[start..start + data.len()].copy_from_slice(&data);
        }
        Some(id)
    }

    fn in_flight(&self) -> usize {
        self.queue.len()
    }
}
