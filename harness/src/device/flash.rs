//! The `flash` device model: NOR flash, as `embedded-storage`'s `NorFlash`
//! describes it. Erase sets a whole page to ones; program only clears
//! bits (the result is the old contents AND the new); every call is
//! durable when it returns; there is no cache.
//!
//! A power loss interrupts at most one erase or program. The `NorFlash`
//! contract says what that leaves: during a program, the words being
//! written may hold anything and the rest of the page is unchanged;
//! during an erase, the page may hold anything. The device records each
//! call as forced-unit-access writes of the sectors it changes, so
//! `prefix` and `reorder` see the same thing: a power loss between two
//! calls (what a cancelled future leaves, too). In `torn` mode it also
//! records, before the final contents of each call, a few of the
//! interrupted versions the contract allows ([`Flash::torn_versions`]):
//! a prefix of the crash states is then a crash in the middle of that
//! call.
//!
//! A program that would set a bit (write a one over a zero without an
//! erase) is the engine's error on real flash (the bit stays zero): the
//! device keeps the AND, as the chip would, and reports it through
//! [`Recorder::take_violation`].

use super::Recorder;
use replay::image::Image;
use replay::log::{Log, LogBuilder, WriteFlags};

const SECTOR: usize = 512;
/// What an erased byte reads as.
pub const ERASED: u8 = 0xff;

/// The chip's layout, declared by the target (its `NorFlash` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The erase unit (`ERASE_SIZE`), a multiple of 512 bytes.
    pub page_bytes: usize,
    /// The program unit (`WRITE_SIZE`): offsets and lengths of programs
    /// are multiples of it.
    pub word_bytes: usize,
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry {
            page_bytes: 4096,
            word_bytes: 4,
        }
    }
}

/// A malformed flash request (the `NorFlash` contract's errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlashError {
    #[error("flash range {offset}+{len} is past the chip's {capacity} bytes")]
    OutOfBounds {
        offset: u64,
        len: u64,
        capacity: u64,
    },
    #[error("flash {what} at {offset}+{len} is not aligned to {unit} bytes")]
    NotAligned {
        what: &'static str,
        offset: u64,
        len: u64,
        unit: usize,
    },
}

/// The recorded NOR flash a `flash`-model engine runs on.
pub struct Flash {
    bytes: Vec<u8>,
    geometry: Geometry,
    log: Option<LogBuilder>,
    /// The first program that tried to set a bit, not yet reported.
    violation: Option<String>,
    /// Record the interrupted versions of each call (`torn` mode).
    tears: bool,
}

impl Flash {
    /// Declares the chip's layout; every later call is checked against it.
    pub fn set_geometry(&mut self, geometry: Geometry) {
        assert!(
            geometry.page_bytes.is_multiple_of(SECTOR)
                && geometry.word_bytes > 0
                && geometry.page_bytes.is_multiple_of(geometry.word_bytes)
                && self.bytes.len().is_multiple_of(geometry.page_bytes),
            "flash geometry {geometry:?} does not divide a {} byte chip in sectors",
            self.bytes.len()
        );
        self.geometry = geometry;
    }

    /// The chip's size in bytes.
    pub fn capacity(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn range(&self, offset: u64, len: usize) -> Result<std::ops::Range<usize>, FlashError> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.capacity() => Ok(offset as usize..end as usize),
            _ => Err(FlashError::OutOfBounds {
                offset,
                len: len as u64,
                capacity: self.capacity(),
            }),
        }
    }

    fn aligned(what: &'static str, offset: u64, len: usize, unit: usize) -> Result<(), FlashError> {
        if offset.is_multiple_of(unit as u64) && len.is_multiple_of(unit) {
            Ok(())
        } else {
            Err(FlashError::NotAligned {
                what,
                offset,
                len: len as u64,
                unit,
            })
        }
    }

    /// Reads `buf.len()` bytes at `offset` (any alignment).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), FlashError> {
        let r = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }

    /// Erases the pages of `from..to` (both page-aligned) to ones.
    pub fn erase(&mut self, from: u64, to: u64) -> Result<(), FlashError> {
        let len = to.saturating_sub(from) as usize;
        let r = self.range(from, len)?;
        Self::aligned("erase", from, len, self.geometry.page_bytes)?;
        for page in r.step_by(self.geometry.page_bytes) {
            let new = vec![ERASED; self.geometry.page_bytes];
            self.record(page, &new);
        }
        Ok(())
    }

    /// Programs `data` at `offset` (word-aligned): each bit that is zero
    /// in `data` is cleared; a one over a zero is a violation and stays
    /// zero.
    pub fn program(&mut self, offset: u64, data: &[u8]) -> Result<(), FlashError> {
        let r = self.range(offset, data.len())?;
        Self::aligned("program", offset, data.len(), self.geometry.word_bytes)?;
        if data.is_empty() {
            return Ok(());
        }
        let old = &self.bytes[r.clone()];
        if self.violation.is_none() {
            if let Some(i) = (0..data.len()).find(|&i| data[i] & !old[i] != 0) {
                self.violation = Some(format!(
                    "a program at {offset:#x}+{} sets bits without an erase: byte {:#x} holds \
                     {:#04x} and was programmed with {:#04x} (NOR flash only clears bits)",
                    data.len(),
                    r.start + i,
                    old[i],
                    data[i]
                ));
            }
        }
        let new: Vec<u8> = old.iter().zip(data).map(|(o, d)| o & d).collect();
        if new != old {
            self.record(r.start, &new);
        }
        Ok(())
    }

    /// Applies `new` at `at`, logging first the interrupted versions a
    /// power loss may leave, then the result.
    fn record(&mut self, at: usize, new: &[u8]) {
        if self.log.is_some() && self.tears {
            let old = self.bytes[at..at + new.len()].to_vec();
            for torn in self.torn_versions(at, &old, new) {
                self.apply(at, &torn);
            }
        }
        self.apply(at, new);
    }

    /// Interrupted versions of changing `old` to `new` at `at`, each one a
    /// state the `NorFlash` contract allows (the call's words may hold
    /// anything; nothing else changes): the first half of its words done,
    /// the rest not (a program that stopped part way; an erase of the
    /// first half of its page); the last changed word only partly
    /// programmed (some of its bits cleared); and every bit the call
    /// changes left at random between old and new (a deterministic
    /// pattern). The contract allows any bytes; these are the ones a
    /// real cell leaves (a bit moves only from its old value towards its
    /// new one), so a finding on them is one on real hardware too.
    fn torn_versions(&self, at: usize, old: &[u8], new: &[u8]) -> Vec<Vec<u8>> {
        let word = self.geometry.word_bytes;
        let words = new.len() / word;
        let mut out = Vec::with_capacity(3);
        if words > 1 {
            let half = words.div_ceil(2) * word;
            let mut v = old.to_vec();
            v[..half].copy_from_slice(&new[..half]);
            out.push(v);
        }
        // The last word that changes, half programmed: its other changed
        // bits still as they were.
        if let Some(last) = (0..words)
            .rev()
            .find(|&w| old[w * word..(w + 1) * word] != new[w * word..(w + 1) * word])
        {
            let mut v = new.to_vec();
            for i in last * word..(last + 1) * word {
                let changed = old[i] ^ new[i];
                v[i] = old[i] ^ (changed & 0x55);
            }
            out.push(v);
        }
        // Every bit the call changes, changed or not at random: a cell
        // part way between its old and new level reads either way.
        // Seeded by the call itself (where, from what, to what), not by
        // its place in the log: the same call tears the same way in a
        // shorter workload, which keeps a minimised reproducer failing.
        let mut seed = [old, new]
            .iter()
            .flat_map(|b| b.iter())
            .fold(0xcbf2_9ce4_8422_2325 ^ at as u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        let garbage: Vec<u8> = old
            .iter()
            .zip(new)
            .map(|(&o, &n)| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                o ^ ((o ^ n) & (seed >> 56) as u8)
            })
            .collect();
        out.push(garbage);
        out.retain(|v| v != old && v != new);
        out
    }

    /// Sets the bytes at `at` and logs the sectors they touch, durable.
    fn apply(&mut self, at: usize, data: &[u8]) {
        self.bytes[at..at + data.len()].copy_from_slice(data);
        self.log_sectors(at, data.len());
    }

    /// Logs the sectors of `at..at + len` as they are now, durable.
    fn log_sectors(&mut self, at: usize, len: usize) {
        let Some(log) = &mut self.log else {
            return;
        };
        let first = at / SECTOR * SECTOR;
        let end = (at + len).div_ceil(SECTOR) * SECTOR;
        let id = log.submit_write(
            (first / SECTOR) as u64,
            &self.bytes[first..end],
            WriteFlags {
                fua: true,
                ..WriteFlags::default()
            },
        );
        log.complete(id);
    }
}

impl Recorder for Flash {
    /// A factory-fresh chip: every byte erased. The log starts with that
    /// erase (durable), so every crash image is of an erased chip.
    fn fresh(device_bytes: u64) -> Self {
        assert!(
            device_bytes > 0 && device_bytes.is_multiple_of(SECTOR as u64),
            "a flash device is whole sectors"
        );
        let mut flash = Flash {
            bytes: vec![ERASED; device_bytes as usize],
            geometry: Geometry::default(),
            log: Some(LogBuilder::new(device_bytes)),
            violation: None,
            tears: false,
        };
        flash.log_sectors(0, device_bytes as usize);
        flash
    }

    fn over_image(image: Image, record: bool) -> Self {
        let device_bytes = image.len();
        Flash {
            bytes: image.to_vec(),
            geometry: Geometry::default(),
            log: record.then(|| LogBuilder::new(device_bytes)),
            violation: None,
            tears: false,
        }
    }

    fn position(&self) -> usize {
        self.log.as_ref().map_or(0, LogBuilder::len)
    }

    fn mark(&mut self, label: &str) {
        if let Some(log) = &mut self.log {
            log.mark(label, &[]);
        }
    }

    fn take_violation(&mut self) -> Option<String> {
        self.violation.take()
    }

    fn set_crash_mode(&mut self, mode: crate::workload::CrashMode) {
        self.tears = mode == crate::workload::CrashMode::Torn;
    }

    fn finish(self) -> Log {
        let device_bytes = self.capacity();
        self.log
            .unwrap_or_else(|| LogBuilder::new(device_bytes))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use replay::log::EntryRef;

    fn chip() -> Flash {
        let mut f = Flash::fresh(4096);
        f.set_crash_mode(crate::workload::CrashMode::Torn);
        f.set_geometry(Geometry {
            page_bytes: 1024,
            word_bytes: 4,
        });
        f
    }

    /// The bytes `at..at + n` of every write in the log after the first
    /// (the factory erase).
    fn versions(f: Flash, at: usize, n: usize) -> Vec<Vec<u8>> {
        f.finish()
            .entries()
            .skip(1)
            .filter_map(|e| match e {
                EntryRef::Write { sector, data, .. } => {
                    let base = sector as usize * SECTOR;
                    Some(data[at - base..at - base + n].to_vec())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_program_only_clears_bits_and_a_set_bit_is_a_violation() {
        let mut f = chip();
        f.program(8, &[0x0f, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(f.take_violation(), None);
        f.program(8, &[0xf0, 0xff, 0xff, 0xff]).unwrap();
        let mut b = [0u8; 1];
        f.read(8, &mut b).unwrap();
        assert_eq!(b, [0x00], "the chip keeps the AND");
        assert!(f.take_violation().unwrap().contains("sets bits"));
        f.erase(0, 1024).unwrap();
        f.read(8, &mut b).unwrap();
        assert_eq!(b, [ERASED]);
    }

    #[test]
    fn a_program_logs_its_interrupted_versions_before_its_result() {
        let mut f = chip();
        f.program(16, &[0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        let v = versions(f, 16, 8);
        assert_eq!(v.last().unwrap(), &vec![0u8; 8], "the result comes last");
        assert_eq!(v[0], [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], "half the words");
        assert_eq!(
            v[1],
            [0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa],
            "a partly programmed word"
        );
        assert_eq!(v.len(), 4, "and one of garbage");
    }

    #[test]
    fn misaligned_and_out_of_range_calls_are_errors_that_change_nothing() {
        let mut f = chip();
        assert!(matches!(
            f.program(2, &[0; 4]),
            Err(FlashError::NotAligned { .. })
        ));
        assert!(matches!(
            f.erase(0, 512),
            Err(FlashError::NotAligned { .. })
        ));
        assert!(matches!(
            f.program(4096, &[0; 4]),
            Err(FlashError::OutOfBounds { .. })
        ));
        assert_eq!(f.position(), 2, "only the factory erase (submit, complete)");
    }

    #[test]
    fn an_interrupted_erase_leaves_bits_between_old_and_erased() {
        let mut f = chip();
        f.program(1024, &[0x00; 1024]).unwrap();
        f.erase(1024, 2048).unwrap();
        let v = versions(f, 1024, 1024);
        let erase = &v[v.len() - 4..];
        assert!(
            erase[0][..512].iter().all(|&b| b == ERASED),
            "half the page"
        );
        assert!(erase[0][512..].iter().all(|&b| b == 0));
        assert!(erase[2].iter().any(|&b| b != 0) && erase[2].iter().any(|&b| b != ERASED));
        assert_eq!(erase[3], vec![ERASED; 1024]);
    }

    #[test]
    fn erasing_a_blank_page_logs_only_its_result() {
        let mut f = chip();
        f.erase(0, 1024).unwrap();
        assert_eq!(
            f.position(),
            4,
            "the factory erase, then one write (submit, complete)"
        );
    }
}
