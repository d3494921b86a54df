//! littlefs's findings, reproduced without brownout: littlefs on an
//! in-memory NOR flash that loses power after a chosen number of device
//! calls, then mounted again and read. Each test prints what it saw and
//! asserts the bug is there (so it fails once upstream fixes it).

#![cfg(feature = "littlefs")]

use brownout_littlefs::adapter::GEOMETRY;
use brownout_littlefs::lfs::{self, BlockDevice, Mounted};

/// NOR flash in memory: erase to ones, program ANDs. After `cut` device
/// calls (programs and erases) the power is gone: nothing more changes.
#[derive(Clone)]
struct Chip {
    bytes: Vec<u8>,
    cut: Option<usize>,
}

impl Chip {
    fn new() -> Self {
        let n = (GEOMETRY.block_size * GEOMETRY.block_count) as usize;
        Chip {
            bytes: vec![0xff; n],
            cut: None,
        }
    }
    fn at(block: u32, off: u32) -> usize {
        (block * GEOMETRY.block_size + off) as usize
    }
    fn powered(&mut self) -> bool {
        match &mut self.cut {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

impl BlockDevice for Chip {
    fn read(&mut self, block: u32, off: u32, buf: &mut [u8]) -> Result<(), ()> {
        let at = Self::at(block, off);
        buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        Ok(())
    }
    fn prog(&mut self, block: u32, off: u32, data: &[u8]) -> Result<(), ()> {
        if !self.powered() {
            return Err(());
        }
        let at = Self::at(block, off);
        for (b, d) in self.bytes[at..].iter_mut().zip(data) {
            *b &= d;
        }
        Ok(())
    }
    fn erase(&mut self, block: u32) -> Result<(), ()> {
        if !self.powered() {
            return Err(());
        }
        let at = Self::at(block, 0);
        self.bytes[at..at + GEOMETRY.block_size as usize].fill(0xff);
        Ok(())
    }
    fn sync(&mut self) -> Result<(), ()> {
        Ok(())
    }
}

fn names(lfs: &mut Mounted<Chip>) -> Vec<String> {
    lfs.tree()
        .expect("tree")
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// Finding 1: a power loss inside a rename into another directory, after
/// the destination's commit and before the source's. The next mount's
/// directory listing (`lfs_dir_read`) skips the entry after the pending
/// move's source: `/f2` exists (it opens) but is not listed, until the
/// first write repairs the pending move.
#[test]
fn a_pending_move_hides_the_next_entry_from_the_listing() {
    let (chip, r) = lfs::format(Chip::new(), GEOMETRY);
    r.unwrap();
    let mut fs = Mounted::mount(chip, GEOMETRY).map_err(|(_, e)| e).unwrap();
    fs.mkdir("/d1").unwrap();
    for path in ["/f1", "/f2"] {
        fs.open(path, true).unwrap();
        fs.close(path).unwrap();
    }
    assert_eq!(names(&mut fs), ["/d1", "/f1", "/f2"]);
    let before = fs.into_device();
    // The power goes after the rename's first device call: the commit to
    // /d1 that creates f7 and records the pending move of /f1.
    let mut chip = before.clone();
    chip.cut = Some(1);
    let mut fs = Mounted::mount(chip, GEOMETRY).map_err(|(_, e)| e).unwrap();
    assert!(fs.rename("/f1", "/d1/f7").is_err(), "the power went");
    let mut chip = fs.into_device();
    chip.cut = None;
    let mut fs = Mounted::mount(chip, GEOMETRY).map_err(|(_, e)| e).unwrap();
    let listed = names(&mut fs);
    let f2_opens = fs.open("/f2", false).is_ok();
    fs.close("/f2").unwrap();
    fs.mkdir("/d0").unwrap(); // a write: littlefs finishes the move
    let repaired = names(&mut fs);
    println!("listed after the power loss: {listed:?}; /f2 opens: {f2_opens}; after a write: {repaired:?}");
    assert!(f2_opens, "/f2 exists");
    assert_eq!(listed, ["/d1", "/d1/f7"], "/f2 missing from the listing");
    assert_eq!(repaired, ["/d0", "/d1", "/d1/f7", "/f2"]);
}
