//! The finding of `FINDINGS.md`, reproduced without brownout: tickv on a
//! plain in-memory flash, no power loss. The test asserts what tickv
//! 2.0.0 does today; when it fails, upstream fixed the bug and
//! FINDINGS.md should say so.

use std::cell::RefCell;
use tickv::error_codes::ErrorCode;
use tickv::flash_controller::FlashController;
use tickv::TicKV;

const REGION: usize = 512;
const REGIONS: usize = 8;

struct Mem(RefCell<Vec<u8>>);

impl FlashController<REGION> for Mem {
    fn read_region(&self, region: usize, buf: &mut [u8; REGION]) -> Result<(), ErrorCode> {
        buf.copy_from_slice(&self.0.borrow()[region * REGION..(region + 1) * REGION]);
        Ok(())
    }
    fn write(&self, address: usize, buf: &[u8]) -> Result<(), ErrorCode> {
        let mut m = self.0.borrow_mut();
        for (b, d) in m[address..address + buf.len()].iter_mut().zip(buf) {
            *b &= d;
        }
        Ok(())
    }
    fn erase_region(&self, region: usize) -> Result<(), ErrorCode> {
        self.0.borrow_mut()[region * REGION..(region + 1) * REGION].fill(0xff);
        Ok(())
    }
}

fn hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A store on a blank chip, initialised, with `lens`-byte values of
/// `key` appended and invalidated in turn (each object is 15 + len bytes:
/// 11 of header, 4 of checksum).
fn fill(kv: &TicKV<'_, Mem, REGION>, key: u64, lens: &[usize]) {
    kv.initialise(hash(tickv::MAIN_KEY)).unwrap();
    for &len in lens {
        kv.append_key(key, &vec![7u8; len]).unwrap();
        kv.invalidate_key(key).unwrap();
    }
}

fn chip() -> Mem {
    Mem(RefCell::new(vec![0xff; REGION * REGIONS]))
}

/// Finding 1: `append_key` checks that an object's header and value fit
/// before the region's end (`offset + package_length >= S`), but then
/// writes its 4-byte checksum after them. When the region has between 1
/// and 4 bytes too few for the checksum, the bounds check of the checksum
/// slice fails and the append returns `ObjectTooLarge` for a 34-byte
/// object, instead of moving on to the next region. That path also keeps
/// tickv's read buffer: every later call on the same `TicKV` panics.
#[test]
fn an_append_that_ends_within_four_bytes_of_its_region_is_refused() {
    let mut buf = [0u8; REGION];
    let kv = TicKV::new(chip(), &mut buf, REGION * REGIONS);
    let key = hash(b"k0000");
    // 481 bytes of the key's region used.
    fill(&kv, key, &[1, 25, 42, 28, 12, 20, 7, 28, 19, 12, 3, 41, 48]);
    // 481 + 11 + 19 = 511 < 512 passes the check; the checksum needs
    // 511..515.
    assert_eq!(
        kv.append_key(key, &[7u8; 19]),
        Err(ErrorCode::ObjectTooLarge),
        "upstream fixed finding 1?"
    );
    // That error path returns without giving the read buffer back: the
    // next call on the same TicKV panics (`read_buffer.take().unwrap()`).
    let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut value = [0u8; 48];
        kv.get_key(key, &mut value)
    }));
    assert!(next.is_err(), "the next call panics");
}

/// Finding 2: `append_key` moves on to the next region when the object
/// does not fit, but `get_key` (`find_key_offset`) gives up at a region
/// whose free tail is shorter than a header (`offset + HEADER_LENGTH >=
/// S` returns "not found, do not continue"). An object appended to the
/// next region from such a region is never found: `append_key` returned
/// Ok, `get_key` says `KeyNotFound`.
#[test]
fn an_append_that_spills_past_a_short_tail_is_never_found() {
    let mut buf = [0u8; REGION];
    let kv = TicKV::new(chip(), &mut buf, REGION * REGIONS);
    let key = hash(b"k0000");
    // 504 bytes of the key's region used: an 8-byte tail.
    fill(&kv, key, &[48, 48, 41, 8, 48, 3, 15, 14, 7, 10, 48, 12, 7]);
    kv.append_key(key, &[9u8; 8]).unwrap();
    let mut value = [0u8; 48];
    assert_eq!(
        kv.get_key(key, &mut value),
        Err(ErrorCode::KeyNotFound),
        "upstream fixed finding 2?"
    );
}
