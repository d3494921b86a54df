//! On-disk format: geometry, superblock, journal superblock, inode records,
//! journal descriptor and commit blocks.
//!
//! Block map (4 KiB blocks):
//!
//! | block | contents |
//! |---|---|
//! | 0 | superblock (written once, by mkfs; checksummed) |
//! | 1, 2 | journal superblock, two slots written alternately (ping-pong), each checksummed with a generation, so a torn write leaves the other slot |
//! | 3 .. 3+J | circular journal |
//! | bitmap | one bit per data block |
//! | inode table | 2 KiB inode records, 2 per block |
//! | data | file blocks |
//!
//! Everything here is pure encoding/decoding; decoding never panics on any
//! input and reports what is wrong as `FsError::Corrupt`.

use crate::block::BLOCK_SIZE;
use crate::error::FsError;

/// Fewest data blocks a filesystem may have.
pub const MIN_DATA_BLOCKS: u64 = 32;
/// Bytes of one on-disk inode record: two per block, so that a file can
/// map more than a mebibyte with direct pointers alone.
pub const INODE_SIZE: usize = 2048;
/// Blocks a file can map: the direct pointers after the 16-byte header.
pub const MAX_FILE_BLOCKS: usize = (INODE_SIZE - 16) / 4;
/// Maximum file size in bytes (508 blocks: 2,032 KiB).
pub const MAX_FILE_SIZE: u64 = (MAX_FILE_BLOCKS * BLOCK_SIZE) as u64;
/// Inode records per inode-table block.
pub const INODES_PER_BLOCK: usize = BLOCK_SIZE / INODE_SIZE;
/// Most inodes a filesystem can have.
pub const MAX_INODES: u32 = 4096;
/// Data blocks covered by one bitmap block.
pub const BITS_PER_BLOCK: u64 = (BLOCK_SIZE * 8) as u64;
/// A block pointer with this bit set maps an *unwritten* extent: the block
/// is allocated but reads return zeroes until it is converted.
pub const PTR_UNWRITTEN: u32 = 1 << 31;
/// The default journal length: small, so ordinary workloads wrap it.
pub const DEFAULT_JOURNAL_BLOCKS: u32 = 16;

const SB_MAGIC: u64 = 0x3154_554f_4e57_5242; // "BRWNOUT1"
const JSB_MAGIC: u32 = 0x534a_4f42; // "BOJS"
const DESC_MAGIC: u32 = 0x444a_4f42; // "BOJD"
const COMMIT_MAGIC: u32 = 0x434a_4f42; // "BOJC"
const FORMAT_VERSION: u32 = 1;

/// Superblock block and the two journal-superblock slots.
pub const SB_BLOCK: u64 = 0;
pub const JSB_SLOTS: [u64; 2] = [1, 2];
/// First block of the journal.
pub const JOURNAL_START: u64 = 3;

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Where everything lives. Derived from (device blocks, inodes, journal
/// length) so the superblock can be checked for self-consistency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub blocks: u64,
    pub inodes: u32,
    pub journal_blocks: u64,
    pub bitmap_start: u64,
    pub bitmap_blocks: u64,
    pub itable_start: u64,
    pub itable_blocks: u64,
    pub data_start: u64,
    pub data_blocks: u64,
}

impl Geometry {
    /// Lays out a filesystem of `blocks` blocks, or says why it cannot.
    pub fn compute(blocks: u64, inodes: u32, journal_blocks: u32) -> Result<Self, FsError> {
        if inodes == 0 || inodes > MAX_INODES {
            return Err(FsError::Invalid(format!(
                "inode count {inodes} not in 1..={MAX_INODES}"
            )));
        }
        if blocks >= u64::from(PTR_UNWRITTEN) {
            return Err(FsError::Invalid(format!(
                "device too large ({blocks} blocks)"
            )));
        }
        let itable_blocks = u64::from(inodes).div_ceil(INODES_PER_BLOCK as u64);
        let journal_blocks = u64::from(journal_blocks);
        let bitmap_start = JOURNAL_START + journal_blocks;
        // The bitmap size depends on the data size which depends on the
        // bitmap size; one bitmap block per 128 MiB, so iterate once more.
        let mut bitmap_blocks = 1;
        loop {
            let data_start = bitmap_start + bitmap_blocks + itable_blocks;
            let data_blocks = blocks.saturating_sub(data_start);
            let need = data_blocks.div_ceil(BITS_PER_BLOCK).max(1);
            if need <= bitmap_blocks {
                break;
            }
            bitmap_blocks = need;
        }
        let itable_start = bitmap_start + bitmap_blocks;
        let data_start = itable_start + itable_blocks;
        let geo = Geometry {
            blocks,
            inodes,
            journal_blocks,
            bitmap_start,
            bitmap_blocks,
            itable_start,
            itable_blocks,
            data_start,
            data_blocks: blocks.saturating_sub(data_start),
        };
        // The largest transaction (every metadata block plus descriptor and
        // commit) must fit in the journal, or a commit could never be written.
        if journal_blocks < geo.max_transaction_blocks() {
            return Err(FsError::Invalid(format!(
                "journal of {journal_blocks} blocks cannot hold a transaction of {} blocks",
                geo.max_transaction_blocks()
            )));
        }
        // Room for a few files' worth of blocks; a file as large as the
        // format allows needs a larger device (writes past it fail with
        // ENOSPC).
        if geo.data_blocks < MIN_DATA_BLOCKS {
            return Err(FsError::Invalid(format!(
                "device of {blocks} blocks leaves only {} data blocks",
                geo.data_blocks
            )));
        }
        Ok(geo)
    }

    /// Metadata blocks that the journal covers: bitmap and inode table.
    pub fn meta_blocks(&self) -> std::ops::Range<u64> {
        self.bitmap_start..self.data_start
    }

    /// Descriptor + every metadata block + commit.
    pub fn max_transaction_blocks(&self) -> u64 {
        2 + self.bitmap_blocks + self.itable_blocks
    }

    /// Inode-table block holding inode `ino`.
    pub fn inode_block(&self, ino: u32) -> u64 {
        self.itable_start + u64::from(ino) / INODES_PER_BLOCK as u64
    }

    /// Bitmap block holding the bit of data block index `idx`.
    pub fn bitmap_block(&self, idx: u64) -> u64 {
        self.bitmap_start + idx / BITS_PER_BLOCK
    }
}

/// Encodes the superblock for `geo`.
pub fn encode_superblock(geo: &Geometry) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE];
    put_u64(&mut b, 0, SB_MAGIC);
    put_u32(&mut b, 8, FORMAT_VERSION);
    put_u32(&mut b, 12, geo.inodes);
    put_u64(&mut b, 16, geo.blocks);
    put_u64(&mut b, 24, geo.journal_blocks);
    let sum = blake3::hash(&b[..64]);
    b[64..96].copy_from_slice(sum.as_bytes());
    b
}

/// Decodes and checks a superblock against a device of `device_blocks`.
pub fn decode_superblock(b: &[u8], device_blocks: u64) -> Result<Geometry, FsError> {
    let bad = |what: &str| FsError::corrupt(format!("superblock: {what}"), Some(SB_BLOCK));
    if b.len() < BLOCK_SIZE || get_u64(b, 0) != SB_MAGIC {
        return Err(bad("bad magic (not a brownout filesystem)"));
    }
    if blake3::hash(&b[..64]).as_bytes()[..] != b[64..96] {
        return Err(bad("checksum mismatch"));
    }
    if get_u32(b, 8) != FORMAT_VERSION {
        return Err(bad("unknown format version"));
    }
    let inodes = get_u32(b, 12);
    let blocks = get_u64(b, 16);
    let journal = get_u64(b, 24);
    if blocks > device_blocks {
        return Err(bad("filesystem larger than the device"));
    }
    let journal = u32::try_from(journal).map_err(|_| bad("journal length out of range"))?;
    Geometry::compute(blocks, inodes, journal).map_err(|e| bad(&e.to_string()))
}

/// The journal superblock: where recovery starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalSuper {
    /// Incremented at every write; the valid slot with the highest wins.
    pub generation: u64,
    /// Journal position (0..J) of the oldest transaction not yet checkpointed.
    pub tail: u64,
    /// Sequence number of the transaction expected at `tail`.
    pub seq: u64,
}

pub fn encode_jsb(j: &JournalSuper) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE];
    put_u32(&mut b, 0, JSB_MAGIC);
    put_u64(&mut b, 8, j.generation);
    put_u64(&mut b, 16, j.tail);
    put_u64(&mut b, 24, j.seq);
    let sum = blake3::hash(&b[..32]);
    b[32..64].copy_from_slice(sum.as_bytes());
    b
}

/// Decodes one slot; `None` when it is torn, never written or garbage.
pub fn decode_jsb(b: &[u8], journal_blocks: u64) -> Option<JournalSuper> {
    if b.len() < 64 || get_u32(b, 0) != JSB_MAGIC {
        return None;
    }
    if blake3::hash(&b[..32]).as_bytes()[..] != b[32..64] {
        return None;
    }
    let j = JournalSuper {
        generation: get_u64(b, 8),
        tail: get_u64(b, 16),
        seq: get_u64(b, 24),
    };
    (j.tail < journal_blocks).then_some(j)
}

/// Most home blocks one descriptor can list.
pub const DESC_MAX_BLOCKS: usize = (BLOCK_SIZE - 32) / 8;

/// A descriptor block: the transaction's sequence number and the home
/// locations of the block images that follow it.
pub fn encode_descriptor(seq: u64, homes: &[u64]) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE];
    put_u32(&mut b, 0, DESC_MAGIC);
    put_u32(&mut b, 4, homes.len() as u32);
    put_u64(&mut b, 8, seq);
    for (i, h) in homes.iter().enumerate() {
        put_u64(&mut b, 32 + 8 * i, *h);
    }
    b
}

/// Decodes a descriptor expected to carry `seq`; `None` if it does not.
pub fn decode_descriptor(b: &[u8], seq: u64) -> Option<Vec<u64>> {
    if b.len() < BLOCK_SIZE || get_u32(b, 0) != DESC_MAGIC || get_u64(b, 8) != seq {
        return None;
    }
    let n = get_u32(b, 4) as usize;
    if n == 0 || n > DESC_MAX_BLOCKS {
        return None;
    }
    Some((0..n).map(|i| get_u64(b, 32 + 8 * i)).collect())
}

/// The checksum a commit record carries: over the sequence number, the
/// descriptor and every block image, so a transaction with any block torn
/// or missing is rejected.
pub fn transaction_checksum(seq: u64, descriptor: &[u8], images: &[&[u8]]) -> [u8; 32] {
    // Hashed in one piece: blake3 hashes up to 16 of its 1 KiB chunks in
    // parallel within one `update`, 4 within a 4 KiB block, and recovery
    // verifies every transaction of the journal at every mount. (The
    // hash of the concatenation is the same however it is fed.)
    let mut all =
        Vec::with_capacity(8 + descriptor.len() + images.iter().map(|i| i.len()).sum::<usize>());
    all.extend_from_slice(&seq.to_le_bytes());
    all.extend_from_slice(descriptor);
    for i in images {
        all.extend_from_slice(i);
    }
    *blake3::hash(&all).as_bytes()
}

/// A commit record. Everything lives in its first sector, so the record
/// itself is atomic under the sector-granular tearing of the crash model.
pub fn encode_commit(seq: u64, sum: &[u8; 32]) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE];
    put_u32(&mut b, 0, COMMIT_MAGIC);
    put_u64(&mut b, 8, seq);
    b[16..48].copy_from_slice(sum);
    b
}

/// Decodes a commit record for `seq`: its checksum, or `None`.
pub fn decode_commit(b: &[u8], seq: u64) -> Option<[u8; 32]> {
    if b.len() < 48 || get_u32(b, 0) != COMMIT_MAGIC || get_u64(b, 8) != seq {
        return None;
    }
    let mut s = [0u8; 32];
    s.copy_from_slice(&b[16..48]);
    Some(s)
}

/// An inode as the filesystem keeps it in memory and on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskInode {
    pub exists: bool,
    /// `i_size`.
    pub size: u64,
    /// Direct block pointers: 0 is a hole, otherwise data-block index + 1,
    /// with `PTR_UNWRITTEN` for an unwritten extent.
    pub map: [u32; MAX_FILE_BLOCKS],
}

impl Default for DiskInode {
    fn default() -> Self {
        DiskInode {
            exists: false,
            size: 0,
            map: [0; MAX_FILE_BLOCKS],
        }
    }
}

pub fn encode_inode(ino: &DiskInode, out: &mut [u8]) {
    out[..INODE_SIZE].fill(0);
    put_u32(out, 0, u32::from(ino.exists));
    put_u64(out, 8, ino.size);
    for (i, p) in ino.map.iter().enumerate() {
        put_u32(out, 16 + 4 * i, *p);
    }
}

/// Decodes an inode record; structural checks that need the whole table
/// (ranges, double references) are done by the mount-time validation.
pub fn decode_inode(b: &[u8], ino: u32, block: u64) -> Result<DiskInode, FsError> {
    let flags = get_u32(b, 0);
    if flags > 1 {
        return Err(FsError::corrupt(
            format!("inode {ino}: unknown flags {flags:#x}"),
            Some(block),
        ));
    }
    let mut map = [0u32; MAX_FILE_BLOCKS];
    // Every mount decodes every inode: one pass over the pointer bytes.
    let pointers = b[16..16 + 4 * MAX_FILE_BLOCKS].chunks_exact(4);
    for (p, bytes) in map.iter_mut().zip(pointers) {
        *p = u32::from_le_bytes(bytes.try_into().expect("chunks of 4"));
    }
    Ok(DiskInode {
        exists: flags == 1,
        size: get_u64(b, 8),
        map,
    })
}
