//! Recording devices, one per device model: what a target's engine writes
//! to, and what turns its writes into a `replay` log. A device is created
//! fresh for an execution, or over a crash image for recovery (recording
//! recovery's own writes only when nested crashes are asked for).

pub mod disk;
pub mod file;
pub mod flash;

use replay::image::{Image, CHUNK_SIZE};
use replay::log::Log;

/// The chunks (4 KiB, the image's unit) of a crash image that a device
/// over it has read: all that a recovery on it can depend on.
#[derive(Debug, Default)]
pub struct ChunksRead(Vec<u64>);

impl ChunksRead {
    /// Notes a read of `len` bytes at byte `offset`.
    pub fn note(&mut self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        let chunk = CHUNK_SIZE as u64;
        for c in offset / chunk..=(offset + len - 1) / chunk {
            // Rereads of the chunk just read are the common case.
            if self.0.last() != Some(&c) {
                self.0.push(c);
            }
        }
    }

    /// Every chunk noted, in increasing order, each once; none are left.
    pub fn take(&mut self) -> Vec<u64> {
        let mut chunks = std::mem::take(&mut self.0);
        chunks.sort_unstable();
        chunks.dedup();
        chunks
    }
}

/// What the generic runner needs of every device model.
pub trait Recorder: Sized {
    /// A zeroed device of `device_bytes` bytes, recording.
    fn fresh(device_bytes: u64) -> Self;
    /// A device over a crash image; `record`: log what recovery writes.
    fn over_image(image: Image, record: bool) -> Self;
    /// The current log position (0 when not recording).
    fn position(&self) -> usize;
    /// Marks the log (acknowledgements, the start of the workload).
    fn mark(&mut self, label: &str);
    /// The recorded log; the device is spent.
    fn finish(self) -> Log;
    /// A misuse of the media the engine committed since the last call
    /// (a NOR program that sets bits), to report as a finding.
    fn take_violation(&mut self) -> Option<String> {
        None
    }
    /// The crash mode the log is recorded for: a device whose calls are
    /// durable on return (`flash`) records what a crash in the middle of
    /// a call leaves only for `torn`.
    fn set_crash_mode(&mut self, _mode: crate::workload::CrashMode) {}
    /// Over a crash image: the chunks of it read so far
    /// ([`ChunksRead::take`]). Everything the engine saw and everything
    /// the device logged must follow from their bytes (a recovery is then
    /// reused on an image with the same bytes there: `run::kept`). `None`:
    /// not tracked, and no recovery is reused.
    fn take_chunks_read(&mut self) -> Option<Vec<u64>> {
        None
    }
}

impl Recorder for disk::Disk {
    fn fresh(device_bytes: u64) -> Self {
        disk::Disk::new(device_bytes, Vec::new(), false)
    }
    fn over_image(image: Image, record: bool) -> Self {
        disk::Disk::over_image(image, record)
    }
    fn position(&self) -> usize {
        disk::Disk::position(self)
    }
    fn mark(&mut self, label: &str) {
        disk::Disk::mark(self, label)
    }
    fn finish(self) -> Log {
        disk::Disk::finish(self).log
    }
    fn take_chunks_read(&mut self) -> Option<Vec<u64>> {
        disk::Disk::take_chunks_read(self)
    }
}
