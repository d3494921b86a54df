//! Linux filesystems on the running kernel as brownout targets:
//! `linux-ext4`, `linux-xfs` and `linux-btrfs`.
//!
//! The recording block device is a loop device over a file served by a
//! FUSE daemon in this process ([`device`]): every write and flush the
//! kernel sends reaches the daemon, which puts it in a brownout [`Disk`]
//! log before it answers. Workloads run as real system calls; each crash
//! state is served the same way (the replay crate's image underneath,
//! recovery's writes recorded on a copy), mounted by the kernel and read
//! back. Needs root, `/dev/fuse`, loop devices and the mkfs tools; without
//! them the targets are listed but refuse to run, saying what is missing.
//!
//! [`Disk`]: brownout::device::disk::Disk

pub mod adapter;
pub mod device;
pub mod session;
pub mod tool;

use brownout::Target;
use std::path::Path;

/// Which filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ext4,
    Xfs,
    Btrfs,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Ext4, Kind::Xfs, Kind::Btrfs];

    /// The target's name.
    pub fn target_name(self) -> &'static str {
        match self {
            Kind::Ext4 => "linux-ext4",
            Kind::Xfs => "linux-xfs",
            Kind::Btrfs => "linux-btrfs",
        }
    }

    /// The kernel's name for it (mount(2), /proc/filesystems).
    pub fn fstype(self) -> &'static str {
        match self {
            Kind::Ext4 => "ext4",
            Kind::Xfs => "xfs",
            Kind::Btrfs => "btrfs",
        }
    }

    /// The device size: small, above each mkfs's minimum (XFS wants
    /// 300 MiB; the device is sparse, so unused space costs nothing).
    pub fn device_bytes(self) -> u64 {
        match self {
            Kind::Ext4 => 64 << 20,
            Kind::Xfs => 320 << 20,
            Kind::Btrfs => 256 << 20,
        }
    }

    /// The device's logical sector, which it writes atomically (a torn
    /// write keeps or loses whole sectors). ext4 (4 KiB blocks) and btrfs
    /// (4 KiB sectors, a 4 KiB superblock it never reads a second copy
    /// of at mount) get a 4Kn disk; XFS a 512-byte one, whose sectors its
    /// log and superblock are laid out in.
    pub fn sector_bytes(self) -> u64 {
        match self {
            Kind::Ext4 | Kind::Btrfs => 4096,
            Kind::Xfs => 512,
        }
    }

    /// Whether a direct write off the workload's 4 KiB blocks must fail
    /// with EINVAL (`dio-write … misaligned`): ext4 on its 4Kn device.
    /// XFS sits on a 512-byte device, where a 512-aligned request is
    /// legal, and btrfs serves a misaligned request by buffered I/O.
    pub fn misaligned_refused(self) -> bool {
        self == Kind::Ext4
    }

    /// mkfs and its arguments before the device: quiet, forced, no
    /// discard (the recorder has none), everything initialised now
    /// rather than by a kernel thread later (whose writes would land at
    /// random points of the log).
    pub fn mkfs(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::Ext4 => (
                "mkfs.ext4",
                &[
                    "-q",
                    "-F",
                    "-b",
                    "4096",
                    "-E",
                    "lazy_itable_init=0,lazy_journal_init=0,nodiscard",
                ],
            ),
            Kind::Xfs => ("mkfs.xfs", &["-q", "-f", "-K"]),
            Kind::Btrfs => ("mkfs.btrfs", &["-q", "-f", "-K"]),
        }
    }

    /// The consistency check in no-modify mode and its arguments before
    /// the device; any exit status but 0 is a complaint.
    pub fn fsck(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::Ext4 => ("e2fsck", &["-f", "-n"]),
            Kind::Xfs => ("xfs_repair", &["-n", "-P", "-m", "64"]),
            Kind::Btrfs => ("btrfs", &["check", "--readonly"]),
        }
    }

    /// Mount options always given. XFS refuses a second mount of a
    /// filesystem whose UUID is mounted already, and with several jobs
    /// every crash image of one execution has the same UUID.
    pub fn mount_options(self) -> &'static [&'static str] {
        match self {
            Kind::Xfs => &["nouuid"],
            Kind::Ext4 | Kind::Btrfs => &[],
        }
    }

    /// Settings a workload may turn on: name, summary, mount option.
    pub fn settings(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Kind::Ext4 => &[(
                "data-journal",
                "mount with data=journal: file data go through the journal too",
                "data=journal",
            )],
            Kind::Xfs | Kind::Btrfs => &[],
        }
    }
}

/// What this machine lacks to run `kind`, in a sentence; `None`: nothing.
pub fn missing(kind: Kind) -> Option<String> {
    let mut lacks = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        lacks.push("root (mount(2) and loop devices)".to_string());
    }
    if !on_path("losetup") {
        lacks.push("losetup (apt-get install mount)".to_string());
    }
    for dev in ["/dev/fuse", "/dev/loop-control"] {
        if !Path::new(dev).exists() {
            lacks.push(dev.to_string());
        }
    }
    let package = match kind {
        Kind::Ext4 => "e2fsprogs",
        Kind::Xfs => "xfsprogs",
        Kind::Btrfs => "btrfs-progs",
    };
    for program in [kind.mkfs().0, kind.fsck().0] {
        if !on_path(program) {
            lacks.push(format!("{program} (apt-get install {package})"));
        }
    }
    let known = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !known.split_whitespace().any(|w| w == kind.fstype()) {
        lacks.push(format!("{} in the running kernel", kind.fstype()));
    }
    (!lacks.is_empty()).then(|| format!("needs {}", lacks.join(", ")))
}

fn on_path(program: &str) -> bool {
    tool::path(program).is_some()
}

/// The three targets, always listed; each says at run time what it lacks.
pub fn targets() -> Vec<&'static dyn Target> {
    Kind::ALL
        .iter()
        .map(|&kind| {
            let t: &'static dyn Target =
                Box::leak(Box::new(brownout::FsTarget::new(adapter::Linux::new(kind))));
            t
        })
        .collect()
}

/// Tears down the recording devices kept for reuse (FUSE mounts, loop
/// devices, directories). The command line calls it when it ends; a test
/// or a program of its own calls it when done.
pub fn release() {
    session::release();
}
