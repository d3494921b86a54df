//! Block-granular copy-on-write device images.
//!
//! An [`Image`] is a persistent radix tree (fan-out 16) of 4 KiB chunks.
//! Absent subtrees read as zeros, so a fresh image of any size costs nothing,
//! and cloning an image is one reference-count increment: every crash state
//! shares all the chunks it does not change with the state it was derived
//! from. A write copies only the chunks it touches and the tree path above
//! them (`Arc::make_mut`, so a uniquely owned chunk is even updated in place).
//!
//! Each node caches a key of its content (a Merkle tree whose absent
//! subtrees have the key of an all-zero subtree), so [`Image::content_key`]
//! costs only the hashing of what changed since the last key: this is the
//! deduplication key of crash states. [`Image::hash`] is the plain blake3 of
//! the image bytes (what `b3sum` of the materialised image prints), which
//! costs a pass over the whole image.
//!
//! The keys are 128-bit XXH3, not blake3: a key only tells crash states
//! apart, of data nobody chose to collide, and XXH3 hashes a 4 KiB chunk
//! about six times faster here (0.2 against 1.2 µs), which was a tenth
//! of a fuzz run. A collision could only make two different states look
//! the same and skip one (about 2^-64 after 2^32 states): never a finding
//! that is not there.

use std::io::Write;
use std::sync::{Arc, OnceLock};

/// Size of a copy-on-write chunk (the filesystem block size).
pub const CHUNK_SIZE: usize = 4096;
// Fan-out 16, not 64: a write copies, and a content key hashes, one node
// per level, and narrow nodes cost less than the extra level (the default
// campaign on the embedded core about 9% faster).
const FANOUT_BITS: u32 = 4;
const FANOUT: usize = 1 << FANOUT_BITS;
/// Enough levels for 2^64 bytes of 4 KiB chunks at fan-out 16.
const MAX_LEVELS: usize = 13;

static ZEROS: [u8; CHUNK_SIZE] = [0; CHUNK_SIZE];

/// A key of some content: equal for equal content.
pub type ContentKey = u128;

fn key_of(bytes: &[u8]) -> ContentKey {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// Content keys of all-zero subtrees: index 0 is a zero chunk, index h a
/// zero node of height h. A node hashes only its non-zero children (see
/// `Node::key`), so every zero node has the key of the empty input.
fn zero_key(height: usize) -> ContentKey {
    static KEYS: OnceLock<[ContentKey; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| [key_of(&ZEROS), key_of(&[])]);
    keys[usize::from(height > 0)]
}

struct Chunk {
    data: [u8; CHUNK_SIZE],
    key: OnceLock<ContentKey>,
}

impl Clone for Chunk {
    fn clone(&self) -> Self {
        Chunk {
            data: self.data,
            key: self.key.clone(),
        }
    }
}

impl Chunk {
    fn zero() -> Self {
        Chunk {
            data: [0; CHUNK_SIZE],
            key: OnceLock::new(),
        }
    }
    fn key(&self) -> ContentKey {
        *self.key.get_or_init(|| key_of(&self.data))
    }
}

/// One chunk's bytes with their content key, to be shared by every image
/// that holds them: a pending write that many crash states persist (each
/// reorder subset, each torn variant) is then copied and hashed once, not
/// once per state.
#[derive(Clone)]
pub struct SharedChunk(Arc<Chunk>);

impl SharedChunk {
    /// A chunk holding `data`.
    pub fn new(data: &[u8; CHUNK_SIZE]) -> Self {
        SharedChunk(Arc::new(Chunk {
            data: *data,
            key: OnceLock::new(),
        }))
    }
}

impl std::fmt::Debug for SharedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedChunk")
    }
}

#[derive(Clone)]
enum Children {
    Leaf(Box<[Option<Arc<Chunk>>; FANOUT]>),
    Inner(Box<[Option<Arc<Node>>; FANOUT]>),
}

#[derive(Clone)]
struct Node {
    children: Children,
    key: OnceLock<ContentKey>,
}

impl Node {
    fn new(height: usize) -> Self {
        let children = if height <= 1 {
            Children::Leaf(Box::new(std::array::from_fn(|_| None)))
        } else {
            Children::Inner(Box::new(std::array::from_fn(|_| None)))
        };
        Node {
            children,
            key: OnceLock::new(),
        }
    }

    /// The key of a node: the hash of (index, key) of each child whose
    /// content is not all zero. Skipping zero children keeps the key
    /// canonical (an absent child and an all-zero one look the same) and
    /// makes hashing proportional to what is actually written, which is
    /// little on the small, sparse devices of a fuzz run.
    fn key(&self, height: usize) -> ContentKey {
        *self.key.get_or_init(|| {
            let zero_child = zero_key(height - 1);
            const ENTRY: usize = 1 + std::mem::size_of::<ContentKey>();
            let mut buf = [0u8; ENTRY * FANOUT];
            let mut n = 0;
            for i in 0..FANOUT {
                let k = match &self.children {
                    Children::Leaf(ch) => ch[i].as_ref().map(|c| c.key()),
                    Children::Inner(ch) => ch[i].as_ref().map(|c| c.key(height - 1)),
                };
                if let Some(k) = k.filter(|k| *k != zero_child) {
                    buf[n] = i as u8;
                    buf[n + 1..n + ENTRY].copy_from_slice(&k.to_le_bytes());
                    n += ENTRY;
                }
            }
            key_of(&buf[..n])
        })
    }
}

/// A device image: `len` bytes, zero where never written.
#[derive(Clone)]
pub struct Image {
    len: u64,
    levels: usize,
    root: Option<Arc<Node>>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("len", &self.len)
            .field("content_key", &format_args!("{:032x}", self.content_key()))
            .finish()
    }
}

impl PartialEq for Image {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.content_key() == other.content_key()
    }
}
impl Eq for Image {}

impl Image {
    /// An all-zero image of `len` bytes.
    pub fn new(len: u64) -> Self {
        let chunks = len.div_ceil(CHUNK_SIZE as u64);
        let mut levels = 1;
        // Levels enough to index chunks 0..chunks (the last is chunks - 1):
        // 4096 chunks fit in three levels of 16.
        while levels < MAX_LEVELS
            && (chunks.saturating_sub(1) >> (FANOUT_BITS as usize * levels)) > 0
        {
            levels += 1;
        }
        Image {
            len,
            levels,
            root: None,
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the image has zero length.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn in_range(&self, offset: u64, n: usize) -> bool {
        offset
            .checked_add(n as u64)
            .is_some_and(|end| end <= self.len)
    }

    fn chunk(&self, c: u64) -> Option<&Chunk> {
        let mut node = self.root.as_deref()?;
        for h in (2..=self.levels).rev() {
            let idx = ((c >> (FANOUT_BITS as usize * (h - 1))) as usize) & (FANOUT - 1);
            node = match &node.children {
                Children::Inner(ch) => ch[idx].as_deref()?,
                Children::Leaf(_) => return None,
            };
        }
        match &node.children {
            Children::Leaf(ch) => ch[(c as usize) & (FANOUT - 1)].as_deref(),
            Children::Inner(_) => None,
        }
    }

    /// The slot of chunk `c`, creating the path (copy-on-write) to it and
    /// invalidating the cached keys along it.
    fn slot_mut(&mut self, c: u64) -> &mut Option<Arc<Chunk>> {
        let levels = self.levels;
        let root = self.root.get_or_insert_with(|| Arc::new(Node::new(levels)));
        let mut node = Arc::make_mut(root);
        node.key.take();
        for h in (2..=levels).rev() {
            let idx = ((c >> (FANOUT_BITS as usize * (h - 1))) as usize) & (FANOUT - 1);
            let next = match &mut node.children {
                Children::Inner(ch) => ch[idx].get_or_insert_with(|| Arc::new(Node::new(h - 1))),
                // The tree shape is fixed by `levels` at creation: nodes above
                // height 1 are always inner nodes.
                Children::Leaf(_) => unreachable!("leaf node above height 1"),
            };
            node = Arc::make_mut(next);
            node.key.take();
        }
        match &mut node.children {
            Children::Leaf(ch) => &mut ch[(c as usize) & (FANOUT - 1)],
            Children::Inner(_) => unreachable!("inner node at height 1"),
        }
    }

    /// Reads `buf.len()` bytes at byte `offset`.
    ///
    /// # Panics
    /// If the range lies outside the image (a caller bug); see
    /// [`Image::try_read`] for a checked variant.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        let mut done = 0;
        self.pieces("Image::read", offset, buf.len(), |piece, n| {
            match piece {
                Some(bytes) => buf[done..done + n].copy_from_slice(bytes),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        });
    }

    /// Appends `len` bytes from `offset` to `out`, like [`Image::read`]
    /// (without a zeroed buffer to read into first).
    pub fn read_into(&self, offset: u64, len: usize, out: &mut Vec<u8>) {
        out.reserve(len);
        self.pieces("Image::read_into", offset, len, |piece, n| match piece {
            Some(bytes) => out.extend_from_slice(bytes),
            None => out.resize(out.len() + n, 0),
        });
    }

    /// Walks `offset..offset + len` chunk by chunk, handing `each` the
    /// bytes stored there (`None`: a chunk never written, all zeros) and
    /// the piece's length.
    fn pieces(
        &self,
        what: &str,
        offset: u64,
        len: usize,
        mut each: impl FnMut(Option<&[u8]>, usize),
    ) {
        assert!(
            self.in_range(offset, len),
            "{what} out of range: {offset}+{len} > {}",
            self.len
        );
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let c = pos / CHUNK_SIZE as u64;
            let within = (pos % CHUNK_SIZE as u64) as usize;
            let n = (CHUNK_SIZE - within).min(len - done);
            each(self.chunk(c).map(|ch| &ch.data[within..within + n]), n);
            done += n;
        }
    }

    /// Reads like [`Image::read`], returning `false` instead of panicking
    /// when the range is outside the image.
    pub fn try_read(&self, offset: u64, buf: &mut [u8]) -> bool {
        if !self.in_range(offset, buf.len()) {
            return false;
        }
        self.read(offset, buf);
        true
    }

    /// Writes `data` at byte `offset`; `None` data writes zeros of length
    /// `len` (a discard).
    ///
    /// # Panics
    /// If the range lies outside the image (a caller bug).
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        self.write_inner(offset, data.len(), Some(data));
    }

    /// Writes `len` zero bytes at `offset`.
    ///
    /// # Panics
    /// If the range lies outside the image (a caller bug).
    pub fn zero(&mut self, offset: u64, len: usize) {
        assert!(
            self.in_range(offset, len),
            "Image::zero out of range: {}+{} > {}",
            offset,
            len,
            self.len
        );
        // Absent chunks already read as zeros: only the stored ones in the
        // range are touched, so zeroing the unused tail of a large, sparse
        // device (every open of a `file` device does) costs what is stored.
        let end = offset + len as u64;
        let mut pos = offset;
        while pos < end {
            let Some(c) = self.next_stored_chunk(pos / CHUNK_SIZE as u64) else {
                return;
            };
            let start = pos.max(c * CHUNK_SIZE as u64);
            if start >= end {
                return;
            }
            let n = (CHUNK_SIZE as u64 - start % CHUNK_SIZE as u64).min(end - start);
            self.write_inner(start, n as usize, None);
            pos = start + n;
        }
    }

    /// The first stored chunk at or after chunk `from`, if any.
    fn next_stored_chunk(&self, from: u64) -> Option<u64> {
        fn walk(node: &Node, height: usize, first: u64, from: u64) -> Option<u64> {
            let span = 1u64 << (FANOUT_BITS as usize * (height - 1));
            let skip = (from.saturating_sub(first) / span).min(FANOUT as u64) as usize;
            for i in skip..FANOUT {
                let child_first = first + i as u64 * span;
                let found = match &node.children {
                    Children::Leaf(ch) => ch[i].is_some().then_some(child_first),
                    Children::Inner(ch) => ch[i]
                        .as_deref()
                        .and_then(|n| walk(n, height - 1, child_first, from)),
                };
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        walk(self.root.as_deref()?, self.levels, 0, from)
    }

    fn write_inner(&mut self, offset: u64, len: usize, data: Option<&[u8]>) {
        assert!(
            self.in_range(offset, len),
            "Image::write out of range: {}+{} > {}",
            offset,
            len,
            self.len
        );
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let c = pos / CHUNK_SIZE as u64;
            let within = (pos % CHUNK_SIZE as u64) as usize;
            let n = (CHUNK_SIZE - within).min(len - done);
            match data {
                // Bytes the image already holds (a rewrite of what is
                // there): nothing to copy, and the chunk and its path keep
                // their keys (about 1% of a fuzz run's instructions).
                Some(d)
                    if self
                        .chunk(c)
                        .map_or(ZEROS[..n] == d[done..done + n], |chunk| {
                            chunk.data[within..within + n] == d[done..done + n]
                        }) => {}
                Some(d) if n == CHUNK_SIZE => {
                    // Whole chunk: a fresh one, not a copy of the old
                    // (shared) bytes overwritten.
                    let bytes: &[u8; CHUNK_SIZE] = d[done..done + n]
                        .try_into()
                        .expect("a whole chunk is CHUNK_SIZE bytes");
                    *self.slot_mut(c) = Some(Arc::new(Chunk {
                        data: *bytes,
                        key: OnceLock::new(),
                    }));
                }
                Some(d) => {
                    let slot = self.slot_mut(c);
                    let chunk = Arc::make_mut(slot.get_or_insert_with(|| Arc::new(Chunk::zero())));
                    chunk.key.take();
                    chunk.data[within..within + n].copy_from_slice(&d[done..done + n]);
                }
                None if n == CHUNK_SIZE => {
                    // Whole chunk zeroed: drop it, zeros are implicit.
                    if self.chunk(c).is_some() {
                        *self.slot_mut(c) = None;
                    }
                }
                None => {
                    if self.chunk(c).is_some() {
                        if let Some(arc) = self.slot_mut(c) {
                            let chunk = Arc::make_mut(arc);
                            chunk.key.take();
                            chunk.data[within..within + n].fill(0);
                        }
                    }
                }
            }
            done += n;
        }
    }

    /// Sets chunk `c` (bytes `c * CHUNK_SIZE..`, wholly inside the image)
    /// to `chunk`, sharing it.
    ///
    /// # Panics
    /// If the chunk is not wholly inside the image (a caller bug).
    pub fn put_chunk(&mut self, c: u64, chunk: &SharedChunk) {
        assert!(
            self.in_range(c * CHUNK_SIZE as u64, CHUNK_SIZE),
            "Image::put_chunk out of range: chunk {c} of {} bytes",
            self.len
        );
        let same = self
            .chunk(c)
            .is_some_and(|have| std::ptr::eq(have, &*chunk.0) || have.data == chunk.0.data);
        if !same {
            *self.slot_mut(c) = Some(chunk.0.clone());
        }
    }

    /// A key of the image content: equal for equal contents (of images of
    /// the same length), and cheap to recompute after a few writes.
    pub fn content_key(&self) -> ContentKey {
        match &self.root {
            Some(root) => root.key(self.levels),
            None => zero_key(self.levels),
        }
    }

    /// Whether `self` and `other` (of the same length) hold the same bytes
    /// in every chunk of `chunks` (chunk indices, byte offset / 4 KiB, in
    /// increasing order). The two trees are walked together: a subtree or
    /// chunk both images share is equal without reading it, so images
    /// derived from one another cost what they changed, not what is asked.
    /// Other chunks are compared byte for byte, absent ones as zeros.
    /// Chunks outside the image are never equal (a caller's mistake, not a
    /// match).
    pub fn same_chunks(&self, other: &Image, chunks: &[u64]) -> bool {
        debug_assert!(chunks.is_sorted(), "chunk indices in increasing order");
        let count = self.len.div_ceil(CHUNK_SIZE as u64);
        self.len == other.len
            && chunks.last().is_none_or(|&c| c < count)
            && same_subtree(
                self.root.as_deref(),
                other.root.as_deref(),
                self.levels,
                0,
                chunks,
            )
    }

    /// The blake3 hash of the image bytes (a full pass over the image).
    pub fn hash(&self) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new();
        self.for_each_chunk(|bytes| {
            hasher.update(bytes);
        });
        hasher.finalize()
    }

    fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        let chunks = self.len.div_ceil(CHUNK_SIZE as u64);
        for c in 0..chunks {
            let n = (self.len - c * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64) as usize;
            match self.chunk(c) {
                Some(ch) => f(&ch.data[..n]),
                None => f(&ZEROS[..n]),
            }
        }
    }

    /// The image bytes in one vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.for_each_chunk(|bytes| v.extend_from_slice(bytes));
        v
    }

    /// Writes the image into `file` (expected empty), skipping chunks that
    /// were never written, so that a large image makes a sparse file and
    /// costs only what it holds.
    pub fn write_sparse(&self, file: &std::fs::File) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            file.set_len(self.len)?;
            let chunks = self.len.div_ceil(CHUNK_SIZE as u64);
            for c in 0..chunks {
                if let Some(ch) = self.chunk(c) {
                    let at = c * CHUNK_SIZE as u64;
                    let n = (self.len - at).min(CHUNK_SIZE as u64) as usize;
                    file.write_all_at(&ch.data[..n], at)?;
                }
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            self.write_to(std::io::BufWriter::new(file))
        }
    }

    /// Streams the image bytes to `w` (to materialise an image file).
    pub fn write_to<W: Write>(&self, mut w: W) -> std::io::Result<()> {
        let mut result = Ok(());
        self.for_each_chunk(|bytes| {
            if result.is_ok() {
                result = w.write_all(bytes);
            }
        });
        result?;
        w.flush()
    }
}

/// [`Image::same_chunks`] below one pair of nodes of `height`, whose
/// first chunk is `first`; `chunks` lie in their span.
fn same_subtree(
    a: Option<&Node>,
    b: Option<&Node>,
    height: usize,
    first: u64,
    chunks: &[u64],
) -> bool {
    if chunks.is_empty() {
        return true;
    }
    match (a, b) {
        (None, None) => return true,
        (Some(a), Some(b)) if std::ptr::eq(a, b) => return true,
        _ => {}
    }
    let child_span = 1u64 << (FANOUT_BITS as usize * (height - 1));
    let mut rest = chunks;
    while let Some(&c) = rest.first() {
        let i = ((c - first) / child_span) as usize;
        let end = first + (i as u64 + 1) * child_span;
        let n = rest.partition_point(|&x| x < end);
        let (here, after) = rest.split_at(n);
        rest = after;
        let equal = match (a.map(|n| &n.children), b.map(|n| &n.children)) {
            (Some(Children::Inner(x)), Some(Children::Inner(y))) => same_subtree(
                x[i].as_deref(),
                y[i].as_deref(),
                height - 1,
                first + i as u64 * child_span,
                here,
            ),
            (Some(Children::Inner(x)), None) | (None, Some(Children::Inner(x))) => same_subtree(
                x[i].as_deref(),
                None,
                height - 1,
                first + i as u64 * child_span,
                here,
            ),
            (Some(Children::Leaf(x)), Some(Children::Leaf(y))) => {
                same_chunk(x[i].as_deref(), y[i].as_deref())
            }
            (Some(Children::Leaf(x)), None) | (None, Some(Children::Leaf(x))) => {
                same_chunk(x[i].as_deref(), None)
            }
            // A tree's shape is fixed by its length, and both have one.
            _ => false,
        };
        if !equal {
            return false;
        }
    }
    true
}

/// Whether two stored chunks hold the same bytes (absent: zeros).
fn same_chunk(a: Option<&Chunk>, b: Option<&Chunk>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => std::ptr::eq(a, b) || a.data == b.data,
        (Some(x), None) | (None, Some(x)) => x.data == ZEROS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_chunks_compares_only_the_chunks_named() {
        let mut a = Image::new(1 << 20);
        a.write(0, &[7; 4096]);
        a.write(3 * 4096, &[1; 10]);
        let mut b = a.clone();
        assert!(b.same_chunks(&a, &[0, 1, 3]));
        // A write elsewhere leaves the named chunks equal; the original
        // keeps its bytes (copy on write), so a write there does not.
        b.write(5 * 4096, &[2; 4096]);
        assert!(b.same_chunks(&a, &[0, 1, 3]));
        assert!(!b.same_chunks(&a, &[0, 5]));
        b.write(3 * 4096 + 5, &[9]);
        assert!(!b.same_chunks(&a, &[3]));
        assert!(!a.same_chunks(&b, &[3]));
        // Equal bytes in chunks stored apart, and zeros written or absent.
        b.write(3 * 4096 + 5, &[1]);
        assert!(b.same_chunks(&a, &[3]));
        b.write(2 * 4096, &[0; 4096]);
        b.zero(4096, 100);
        assert!(b.same_chunks(&a, &[1, 2]));
        // Outside the image, or another length: never equal.
        assert!(!b.same_chunks(&a, &[256]));
        assert!(!Image::new(4096).same_chunks(&Image::new(8192), &[0]));
    }

    #[test]
    fn content_key_depends_on_content_only() {
        let len = 1 << 20;
        let fresh = Image::new(len);
        let mut a = fresh.clone();
        a.write(5000, &[1, 2, 3]);
        let mut b = fresh.clone();
        b.write(4096, &[9; 8192]);
        b.zero(4096, 8192);
        b.write(5000, &[1, 2, 3]);
        assert_eq!(a.content_key(), b.content_key());
        assert_eq!(a.hash(), b.hash());
        // Zeroing everything written gives back the empty image's key.
        b.zero(5000, 3);
        assert_eq!(b.content_key(), fresh.content_key());
        assert_ne!(a.content_key(), fresh.content_key());
        // Same bytes at another place: another key.
        let mut c = fresh.clone();
        c.write(5001, &[1, 2, 3]);
        assert_ne!(a.content_key(), c.content_key());
        // The original is untouched by writes to clones.
        assert_eq!(fresh.to_vec(), vec![0; len as usize]);
        let mut buf = [0u8; 4];
        a.read(4999, &mut buf);
        assert_eq!(buf, [0, 1, 2, 3]);
        assert!(!a.try_read(len - 1, &mut buf));
        // A sparse file holds the same bytes.
        let dir = std::env::temp_dir().join(format!("replay-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.img");
        a.write_sparse(&std::fs::File::create(&p).unwrap()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), a.to_vec());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zeroing_a_range_touches_only_what_is_stored_in_it() {
        // Chunks stored at both edges of the range, inside it, past it,
        // and in another leaf node (16 chunks each) than the range starts.
        let len = 300 * 4096 + 512;
        let mut img = Image::new(len);
        let mut flat = vec![0u8; len as usize];
        for (at, n, b) in [
            (4096 * 2 + 100, 5000, 1u8),
            (4096 * 70, 4096, 2),
            (4096 * 129 + 7, 20, 3),
            (4096 * 200, 4096 * 3, 4),
            (len - 512, 512, 5),
        ] {
            img.write(at, &vec![b; n]);
            flat[at as usize..at as usize + n].fill(b);
        }
        for (at, n) in [
            (4096 * 3 + 1, 4096 * 130),
            (4096 * 200 + 10, 4096),
            (len - 100, 100),
        ] {
            img.zero(at, n);
            flat[at as usize..at as usize + n].fill(0);
            assert_eq!(img.to_vec(), flat);
        }
        let mut fresh = Image::new(len);
        fresh.write(0, &flat);
        assert_eq!(img.content_key(), fresh.content_key());
        img.zero(0, len as usize);
        assert_eq!(img.content_key(), Image::new(len).content_key());
        // Whole chunks zeroed are dropped (the partial last one is kept).
        assert_eq!(img.next_stored_chunk(0), Some(300));
    }

    #[test]
    fn a_tree_has_the_levels_its_chunks_need_and_no_more() {
        // Each level below the root costs every write a node copy and
        // every content key a node hash.
        for (chunks, levels) in [(1u64, 1), (16, 1), (17, 2), (4096, 3), (4097, 4)] {
            assert_eq!(Image::new(chunks * 4096).levels, levels, "{chunks} chunks");
        }
        assert_eq!(Image::new(16 * 4096 - 100).levels, 1);
    }

    #[test]
    fn deep_trees_and_odd_lengths() {
        for len in [512u64, 4096 + 512, 64 * 4096 + 512, 300 << 20] {
            let mut img = Image::new(len);
            img.write(len - 512, &[7; 512]);
            let mut buf = [0u8; 512];
            img.read(len - 512, &mut buf);
            assert_eq!(buf, [7; 512]);
            let mut other = Image::new(len);
            other.write(len - 512, &[7; 512]);
            assert_eq!(img.content_key(), other.content_key());
        }
    }
}
