//! The embedded filesystem core (`fs-under-test/`) as a target: the one
//! file of brownout that names `fs_under_test`. It is written like any
//! user's adapter: a device wrapper that implements the engine's own block
//! API over brownout's [`Disk`], and an [`FsEngine`] that maps the `fs`
//! vocabulary onto the engine's calls.

use crate::device::disk::{self, Disk};
use crate::engine::fs::{FsEngine, FsError, SparseBytes};
use crate::target::{BugSwitch, Contract, DeviceModel, Limits, TargetInfo, Vocabulary};
use crate::workload::{Barrier, FileId, Header, Op, FS_DIO_FLAGS, FS_IN_PLACE_OPS};
use fs_under_test as fut;

/// The embedded filesystem core. `checkpoint_on_mount` and
/// `recovery_skips_flush` select its recovery behaviour (see
/// `fut::MountOptions`); the registered target keeps both off. Tests that
/// register a variant give it another `name`.
#[derive(Clone, Copy, Debug)]
pub struct FsUnderTest {
    /// The target's name ([`NAME`] for the built-in one).
    pub name: &'static str,
    /// Recovery writes the journal home before mount returns.
    pub checkpoint_on_mount: bool,
    /// The planted recovery bug of brownout's own tests.
    pub recovery_skips_flush: bool,
    /// Planted bugs of brownout's own tests (see `fut::MountOptions`):
    /// a create that is never journaled, and a recovery that forgets the
    /// journal space of what it replayed.
    pub create_not_journaled: bool,
    pub recovery_resets_journal_head: bool,
}

/// The target's name.
pub const NAME: &str = "fs-under-test";

impl Default for FsUnderTest {
    fn default() -> Self {
        FsUnderTest {
            name: NAME,
            checkpoint_on_mount: false,
            recovery_skips_flush: false,
            create_not_journaled: false,
            recovery_resets_journal_head: false,
        }
    }
}

/// Size of the device the embedded core is formatted on: room for every
/// file a workload may name at the format's largest size, so no workload
/// meets ENOSPC (which the model does not allow for).
pub const DEVICE_BYTES: u64 = 17 << 20;

/// The engine's block API over a brownout [`Disk`].
pub struct Device(pub Disk);

fn to_disk_owner(o: fut::BioOwner) -> disk::BioOwner {
    match o {
        fut::BioOwner::Dio { ino, dio } => disk::BioOwner::Dio { file: ino, dio },
        fut::BioOwner::Writeback { ino } => disk::BioOwner::Writeback { file: ino },
        fut::BioOwner::Journal => disk::BioOwner::Other("journal"),
        fut::BioOwner::Checkpoint => disk::BioOwner::Other("checkpoint"),
        fut::BioOwner::Other => disk::BioOwner::Other("other"),
    }
}

fn to_fut_error(e: disk::DeviceError) -> fut::DeviceError {
    match e {
        disk::DeviceError::OutOfRange {
            sector,
            sectors,
            size,
        } => fut::DeviceError::OutOfRange {
            sector,
            sectors,
            size,
        },
        disk::DeviceError::Misaligned { len } => fut::DeviceError::Misaligned { len },
    }
}

impl fut::BlockDevice for Device {
    fn size_sectors(&self) -> u64 {
        self.0.size_sectors()
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), fut::DeviceError> {
        self.0.read(sector, buf).map_err(to_fut_error)
    }

    fn read_vec(&mut self, sector: u64, len: usize) -> Result<Vec<u8>, fut::DeviceError> {
        self.0.read_vec(sector, len).map_err(to_fut_error)
    }

    fn submit(&mut self, bio: fut::Bio) -> Result<fut::BioId, fut::DeviceError> {
        let kind = match bio.kind {
            fut::BioKind::Write {
                sector,
                data,
                flags,
            } => disk::BioKind::Write {
                sector,
                data,
                flags: disk::WriteFlags {
                    fua: flags.fua,
                    preflush: flags.preflush,
                    metadata: flags.metadata,
                },
            },
            fut::BioKind::Flush => disk::BioKind::Flush,
        };
        let bio = disk::Bio {
            kind,
            owner: to_disk_owner(bio.owner),
        };
        self.0.submit(bio).map(fut::BioId).map_err(to_fut_error)
    }

    fn complete_next(&mut self) -> Option<fut::BioId> {
        self.0.complete_next().map(fut::BioId)
    }

    fn in_flight(&self) -> usize {
        self.0.in_flight()
    }

    fn event(&mut self, event: &fut::FsEvent) {
        self.0.event(match event {
            fut::FsEvent::Returned { op, ino, .. } => disk::Event::Returned {
                op: op.clone(),
                file: *ino,
            },
            &fut::FsEvent::DioSubmitted {
                ino, dio, dsync, ..
            } => disk::Event::DioSubmitted {
                file: ino,
                dio,
                dsync,
            },
            &fut::FsEvent::DioEnd { ino, dio } => disk::Event::DioEnd { file: ino, dio },
            &fut::FsEvent::DioAcked { ino, dio, .. } => disk::Event::DioAcked { file: ino, dio },
            &fut::FsEvent::DioWaitReturned { ino } => disk::Event::DioWaitReturned { file: ino },
        });
    }
}

fn to_fs_error(e: fut::FsError) -> FsError {
    match e {
        fut::FsError::Invalid(m) => FsError::Invalid(m),
        fut::FsError::NotFound(ino) => FsError::NotFound(format!("f{ino}")),
        fut::FsError::Deadlock(report) => FsError::Deadlock(report.to_string()),
        fut::FsError::StepBudget { steps } => FsError::StepBudget { steps },
        e => FsError::Other(e.to_string()),
    }
}

/// Mount and format settings of one workload.
pub struct Config {
    mkfs: fut::MkfsOptions,
    mount: fut::MountOptions,
}

impl FsUnderTest {
    /// The target's description.
    pub fn target_info(name: &'static str) -> TargetInfo {
        TargetInfo {
            name,
            version: env!("CARGO_PKG_VERSION").to_string(),
            device: DeviceModel::Disk,
            vocabulary: Vocabulary::Fs,
            ops: [FS_IN_PLACE_OPS, FS_DIO_FLAGS].concat(),
            contract: Contract {
                acknowledges: "O_DSYNC write and direct write returns, fsync, fdatasync, syncfs and unmount make their data and size durable; fsync of a file, syncfs and unmount make its creation durable; dio_wait makes earlier O_DSYNC direct I/O durable under barrier=stable",
                atomicity: "none beyond the sector; metadata through the journal",
                recovery_must_succeed: true,
                file_updates: crate::target::FileUpdates::InPlace,
                names: crate::target::Names::FileFsync,
                sizes: crate::target::Sizes::Stepwise,
            },
            bugs: fut::Bug::ALL
                .iter()
                .map(|b| BugSwitch {
                    name: b.name(),
                    summary: b.description(),
                })
                .collect(),
            settings: Vec::new(),
            limits: Limits {
                files_max: crate::workload::MAX_FILES,
                file_size_max: fut::MAX_FILE_SIZE.min(crate::workload::FILE_LIMIT),
                keys_max: 0,
                value_len_max: 0,
                device_bytes: DEVICE_BYTES,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: false,
                put_overwrites: true,
            },
        }
    }
}

impl FsEngine for FsUnderTest {
    type Config = Config;
    type Mounted = fut::Filesystem<Device>;

    fn info(&self) -> TargetInfo {
        Self::target_info(self.name)
    }

    fn configure(&self, header: &Header, step_budget: u64) -> Config {
        // Names were checked against `info().bugs` when the header was
        // parsed or the campaign configured; an unknown one is ignored.
        let bugs: fut::BugSet = fut::Bug::ALL
            .iter()
            .copied()
            .filter(|b| header.bugs.contains(b.name()))
            .collect();
        Config {
            mkfs: fut::MkfsOptions {
                inodes: header.files.max(1),
                bugs,
                ..fut::MkfsOptions::default()
            },
            mount: fut::MountOptions {
                barrier: match header.barrier {
                    Barrier::Complete => fut::Barrier::Complete,
                    Barrier::Stable => fut::Barrier::Stable,
                },
                bugs,
                step_budget,
                checkpoint_on_mount: self.checkpoint_on_mount,
                recovery_skips_flush: self.recovery_skips_flush,
                create_not_journaled: self.create_not_journaled,
                recovery_resets_journal_head: self.recovery_resets_journal_head,
            },
        }
    }

    fn mkfs(&self, config: &Config, disk: &mut Disk) -> Result<(), FsError> {
        // `mkfs` wants the engine's device type: lend the disk to a
        // wrapper for the call.
        let mut device = Device(std::mem::replace(disk, Disk::stand_in()));
        let r = fut::mkfs(&mut device, &config.mkfs).map_err(to_fs_error);
        *disk = device.0;
        r
    }

    fn mount(&self, config: &Config, disk: Disk) -> Result<Self::Mounted, FsError> {
        fut::Filesystem::mount(Device(disk), config.mount.clone()).map_err(to_fs_error)
    }

    fn unmount(&self, fs: Self::Mounted) -> Result<Disk, FsError> {
        fs.unmount().map(|d| d.0).map_err(to_fs_error)
    }

    fn crash(&self, fs: Self::Mounted) -> Disk {
        fs.crash().0
    }

    fn disk_mut<'a>(&self, fs: &'a mut Self::Mounted) -> &'a mut Disk {
        &mut fs.device_mut().0
    }

    fn apply(&self, fs: &mut Self::Mounted, op: &Op, data: &[u8]) -> Result<(), FsError> {
        let r = match *op {
            Op::Create { file } => fs.create(file),
            Op::Write {
                file,
                offset,
                dsync,
                ..
            } => fs.write(file, offset, data, dsync),
            Op::DioWrite {
                file,
                offset,
                dsync,
                aio,
                ..
            } => fs.dio_write(file, offset, data, dsync, aio).map(|_| ()),
            Op::Fsync { file } => fs.fsync(file),
            Op::Fdatasync { file } => fs.fdatasync(file),
            Op::Truncate { file, size } => fs.truncate(file, size),
            Op::DioWait { file } => fs.dio_wait(file),
            Op::Writeback { file, pages } => fs.writeback(file, pages.map(|p| p as usize)),
            Op::Syncfs => fs.syncfs(),
            Op::Complete { .. } => fs.poll().map(|_| ()),
            _ => Err(fut::FsError::Invalid(format!(
                "`{}` is not an operation of {NAME}",
                op.keyword()
            ))),
        };
        r.map_err(to_fs_error)
    }

    fn read(
        &self,
        fs: &mut Self::Mounted,
        file: FileId,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, FsError> {
        fs.read(file, offset, len).map_err(to_fs_error)
    }

    fn size(&self, fs: &mut Self::Mounted, file: FileId) -> Result<Option<u64>, FsError> {
        if !fs.exists(file) {
            return Ok(None);
        }
        fs.size(file).map(Some).map_err(to_fs_error)
    }

    fn read_sparse(
        &self,
        fs: &mut Self::Mounted,
        file: FileId,
        size: u64,
    ) -> Result<SparseBytes, FsError> {
        let mut extents = Vec::new();
        for (start, end) in fs.data_ranges(file).map_err(to_fs_error)? {
            let end = end.min(size);
            if start < end {
                extents.push((start, self.read(fs, file, start, end - start)?));
            }
        }
        Ok(SparseBytes::from_extents(size, extents))
    }
}

pub mod fuzz;
pub mod variants;
