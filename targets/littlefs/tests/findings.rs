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

/// A power loss inside a rename into another directory: for each point
/// in the rename at which the power may go, what a mount then shows.
#[test]
fn rename_across_directories_cut_short() {
    let (chip, r) = lfs::format(Chip::new(), GEOMETRY);
    r.unwrap();
    let mut fs = Mounted::mount(chip, GEOMETRY).map_err(|(_, e)| e).unwrap();
    fs.open("/f0", true).unwrap();
    fs.close("/f0").unwrap();
    fs.rename("/f0", "/f2").unwrap();
    fs.mkdir("/d1").unwrap();
    fs.open("/f1", true).unwrap();
    fs.close("/f1").unwrap();
    let before = fs.into_device();
    for cut in 0..64 {
        let mut chip = before.clone();
        chip.cut = Some(cut);
        let mut fs = Mounted::mount(chip, GEOMETRY).map_err(|(_, e)| e).unwrap();
        let done = fs.rename("/f1", "/d1/f7").is_ok();
        let mut chip = fs.into_device();
        chip.cut = None;
        let mut fs = Mounted::mount(chip, GEOMETRY).map_err(|(_, e)| e).unwrap();
        let listed = names(&mut fs);
        let f2 = fs.open("/f2", false);
        let _ = fs.close("/f2");
        fs.mkdir("/d0").unwrap();
        let after_write = names(&mut fs);
        println!("cut {cut:2}: rename {done}: {listed:?}; open /f2: {f2:?}; after a mkdir: {after_write:?}");
        if done {
            break;
        }
    }
}
