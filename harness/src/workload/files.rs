//! The `fs` vocabulary on copy-on-write targets (littlefs): where each
//! file lives, and the generator. Files `f0..f3` live in the root, the
//! others in `d0` or `d1` (alternately), so that a rename may cross
//! directories and an operation on a file whose directory was never made
//! fails as the model predicts (ENOENT).

use super::{DirId, FileId, FuzzConfig, Header, Op, Workload};
use crate::target::TargetInfo;
use arbitrary::Unstructured;

/// Files in the root directory; the rest live in the directories.
pub const ROOT_FILES: u32 = 4;
/// Directories a workload may make (`d0`, `d1`).
pub const DIRS: u32 = 2;

/// The directory file `file` lives in (`None`: the root).
pub fn parent(file: FileId) -> Option<DirId> {
    (file >= ROOT_FILES).then(|| (file - ROOT_FILES) % DIRS)
}

/// The path of file `file`: `/f1`, `/d0/f4`.
pub fn file_path(file: FileId) -> String {
    match parent(file) {
        None => format!("/f{file}"),
        Some(dir) => format!("/d{dir}/f{file}"),
    }
}

/// The path of directory `dir`: `/d0`.
pub fn dir_path(dir: DirId) -> String {
    format!("/d{dir}")
}

/// The kinds the generator draws, in the order of `BASE_WEIGHTS`.
const KINDS: [&str; 10] = [
    "create", "write", "truncate", "read", "fsync", "close", "rename", "unlink", "mkdir", "remount",
];
const BASE_WEIGHTS: [u32; 10] = [8, 24, 5, 5, 10, 8, 5, 3, 3, 3];
/// Longest write or read the generator draws.
const IO_MAX: u64 = 1024;
/// The operation count of a workload that is not wide.
const SHORT_OPS: usize = 32;

/// A workload for a copy-on-write target `info`: a few files, writes that
/// overlap near the start of a file and now and then reach its size
/// limit, syncs and closes, renames within and across directories,
/// removes, mkdirs and remounts, each kind weighted swarm-style (0 to 3
/// times its base weight). Each setting is on in half the workloads.
pub fn generate(
    u: &mut Unstructured,
    cfg: &FuzzConfig,
    info: &TargetInfo,
) -> arbitrary::Result<Workload> {
    let files_max = info.limits.files_max.clamp(1, super::MAX_FILES);
    let file_max = info.limits.file_size_max.clamp(1, super::FILE_LIMIT);
    let wide = u.ratio(1, super::WIDE_ONE_IN)?;
    let files: u32 = if wide {
        u.int_in_range(1..=files_max)?
    } else {
        u.int_in_range(1..=files_max.min(3))?
    };
    let mut weights = BASE_WEIGHTS;
    let bits: u32 = u.int_in_range(0..=u32::MAX)?;
    for (k, w) in weights.iter_mut().enumerate() {
        *w *= (bits >> (2 * k)) & 3;
        if !info.supports(KINDS[k]) {
            *w = 0;
        }
    }
    if weights[1] == 0 && info.supports("write") {
        weights[1] = BASE_WEIGHTS[1]; // nothing to lose without writes
    }
    let total: u32 = weights.iter().sum::<u32>().max(1);
    let max_ops = cfg.max_ops.clamp(1, super::MAX_OPS);
    let n: usize = if wide {
        let e = u.int_in_range(0..=super::ceil_log2(max_ops))?;
        u.int_in_range(1..=max_ops.min(1 << e))?
    } else {
        u.int_in_range(1..=max_ops.min(SHORT_OPS))?
    };
    let mut ops = Vec::with_capacity(n);
    while ops.len() < n && !u.is_empty() {
        let file = if u.ratio(3, 4)? {
            u.int_in_range(0..=files.min(2) - 1)?
        } else {
            u.int_in_range(0..=files - 1)?
        };
        let kind = super::weighted_kind(u, &weights, total)?;
        ops.push(match kind {
            0 => Op::Create { file },
            1 => {
                let (offset, len) = range(u, file_max)?;
                Op::Write {
                    file,
                    offset,
                    len,
                    dsync: false,
                }
            }
            2 => Op::Truncate {
                file,
                size: if u.ratio(1, 4)? {
                    u.int_in_range(0..=file_max)?
                } else {
                    u.int_in_range(0..=IO_MAX.min(file_max))?
                },
            },
            3 => {
                let (offset, len) = range(u, file_max)?;
                Op::Read { file, offset, len }
            }
            4 => Op::Fsync { file },
            5 => Op::Close { file },
            6 if files > 1 => {
                let to = (file + u.int_in_range(1..=files - 1)?) % files;
                Op::Rename { from: file, to }
            }
            6 => Op::Fsync { file },
            7 => Op::Unlink { file },
            8 => Op::Mkdir {
                dir: u.int_in_range(0..=DIRS - 1)?,
            },
            _ => Op::Remount,
        });
    }
    // Drawn last so the operations above keep their bytes.
    let settings = super::draw_settings(u, info)?;
    Ok(Workload {
        header: Header {
            target: cfg.target.clone(),
            bugs: cfg.bugs.clone(),
            settings,
            mode: cfg.mode,
            files,
            ..Header::default()
        },
        ops,
    })
}

/// A write or read range: mostly in the first `IO_MAX` bytes, where
/// operations overlap; one in four anywhere up to the size limit.
fn range(u: &mut Unstructured, file_max: u64) -> arbitrary::Result<(u64, u64)> {
    let e = u.int_in_range(0..=super::log2(IO_MAX.min(file_max)))?;
    let len = u.int_in_range(1..=1u64 << e)?.min(file_max);
    let top = if u.ratio(1, 4)? {
        file_max - len
    } else {
        (IO_MAX - len.min(IO_MAX)).min(file_max - len)
    };
    Ok((u.int_in_range(0..=top)?, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Contract, DeviceModel, FileUpdates, Limits, Vocabulary};

    fn cow_target() -> TargetInfo {
        TargetInfo {
            name: "cow-test",
            version: "0".to_string(),
            device: DeviceModel::Flash,
            vocabulary: Vocabulary::Fs,
            ops: vec!["create", "write", "fsync", "close", "rename", "mkdir"],
            contract: Contract {
                acknowledges: "sync",
                atomicity: "copy on write",
                recovery_must_succeed: true,
                file_updates: FileUpdates::CopyOnWrite,
                names: crate::target::Names::FileFsync,
                sizes: crate::target::Sizes::Stepwise,
            },
            bugs: Vec::new(),
            settings: Vec::new(),
            limits: Limits {
                files_max: 8,
                file_size_max: 2048,
                keys_max: 0,
                value_len_max: 0,
                device_bytes: 1 << 16,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: false,
                put_overwrites: true,
            },
        }
    }

    #[test]
    fn generated_workloads_use_only_what_the_target_declares() {
        let info = cow_target();
        let cfg = FuzzConfig {
            target: "cow-test".to_string(),
            max_ops: 64,
            ..FuzzConfig::default()
        };
        let mut kinds = std::collections::BTreeSet::new();
        for i in 0..200 {
            let w = crate::workload::generate(7, i, &cfg, Some(&info));
            w.validate_for(&info).expect("valid for its target");
            assert_eq!(crate::workload::Workload::parse(&w.to_text()).unwrap(), w);
            kinds.extend(w.ops.iter().map(Op::keyword));
        }
        let declared: std::collections::BTreeSet<&str> = info.ops.iter().copied().collect();
        assert_eq!(kinds, declared, "every declared kind drawn, nothing else");
    }

    #[test]
    fn an_o_dsync_write_is_refused() {
        let info = cow_target();
        let dsync = Op::Write {
            file: 0,
            offset: 0,
            len: 1,
            dsync: true,
        };
        let plain = Op::Write {
            file: 0,
            offset: 0,
            len: 1,
            dsync: false,
        };
        let header = Header {
            files: 1,
            ..Header::default()
        };
        assert!(dsync.validate_for(&info, &header).is_err());
        assert!(plain.validate_for(&info, &header).is_ok());
    }

    #[test]
    fn files_past_the_root_alternate_between_the_directories() {
        assert_eq!(file_path(0), "/f0");
        assert_eq!(file_path(3), "/f3");
        assert_eq!(file_path(4), "/d0/f4");
        assert_eq!(file_path(5), "/d1/f5");
        assert_eq!(file_path(6), "/d0/f6");
        assert_eq!(dir_path(1), "/d1");
    }
}
