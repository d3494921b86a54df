//! The `kv` vocabulary: put, remove, commit (durable or not), abort,
//! reopen and get over a few keys. Keys are named by index (`k3`) and
//! stored as the bytes [`key_bytes`]; every value is derived from (key,
//! write id) by [`value`], so a value read back names the put it came from.

use super::{err, parse_num, FuzzConfig, Header, KeyId, Op, ParseError, Workload};
use crate::target::TargetInfo;
use arbitrary::Unstructured;

/// Largest number of keys a workload may use.
pub const MAX_KEYS: u32 = 64;

/// The bytes of key `key`: short, ordered like the index.
pub fn key_bytes(key: KeyId) -> Vec<u8> {
    format!("k{key:04}").into_bytes()
}

/// The index of key bytes, if they are a workload's key.
pub fn key_index(bytes: &[u8]) -> Option<KeyId> {
    let s = std::str::from_utf8(bytes).ok()?;
    let n = s.strip_prefix('k')?;
    (n.len() == 4).then(|| n.parse().ok()).flatten()
}

/// The value put `wid` writes to `key`: `len` pattern bytes (a key is a
/// "file" of the pattern space, offset 0), never zero.
pub fn value(key: KeyId, len: u64, wid: u32) -> Vec<u8> {
    super::pattern(key, 0, len, wid).to_vec()
}

pub(super) fn parse_op<'a>(
    line: usize,
    kw: &str,
    words: &mut impl Iterator<Item = &'a str>,
) -> Result<Op, ParseError> {
    let key = |w: Option<&str>| -> Result<KeyId, ParseError> {
        let w = w.ok_or_else(|| err(line, "missing key argument (expected k0, k1, ...)"))?;
        w.strip_prefix('k')
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| err(line, format!("expected a key like `k0`, found `{w}`")))
    };
    Ok(match kw {
        "put" => {
            let key = key(words.next())?;
            let len = parse_num(line, "value length", words.next())?;
            Op::Put { key, len }
        }
        "remove" => Op::Remove {
            key: key(words.next())?,
        },
        "get" => Op::Get {
            key: key(words.next())?,
        },
        "commit" => match words.next() {
            Some("durable") => Op::Commit { durable: true },
            Some("nondurable") => Op::Commit { durable: false },
            Some(w) => {
                return Err(err(
                    line,
                    format!("expected `durable` or `nondurable`, found `{w}`"),
                ))
            }
            None => return Err(err(line, "missing `durable` or `nondurable`")),
        },
        "abort" => Op::Abort,
        "check-integrity" => Op::CheckIntegrity,
        "compact" => Op::Compact,
        "unwind" => Op::Unwind,
        _ => Op::Reopen,
    })
}

/// Base weights of put, remove, commit, abort, reopen, get,
/// check-integrity, compact, unwind.
const BASE_WEIGHTS: [u32; 9] = [40, 10, 20, 3, 3, 8, 2, 2, 2];
/// The kinds, in the order of [`BASE_WEIGHTS`]: the vocabulary's.
const KINDS: &[&str] = super::KV_OPS;
const _: () = assert!(KINDS.len() == BASE_WEIGHTS.len());

/// Builds a `kv` workload from fuzzer bytes: swarm-weighted operations
/// over a few keys, transactions of one to several puts, value sizes from
/// tiny to the target's limit (small ones favoured), and a final commit
/// more often than not.
pub(super) fn generate(
    u: &mut Unstructured,
    cfg: &FuzzConfig,
    info: &TargetInfo,
) -> arbitrary::Result<Workload> {
    let keys_max = info.limits.keys_max.clamp(1, MAX_KEYS);
    // Most workloads name a few keys (conflicts, overwrites); one in
    // `WIDE_ONE_IN` up to every key the target allows, so the database
    // outgrows a page and its file grows (page splits, file growth).
    let narrow = keys_max.min(8);
    let keys: u32 = if u.ratio(1, super::WIDE_ONE_IN)? {
        u.int_in_range(narrow..=keys_max)?
    } else {
        u.int_in_range(1..=narrow)?
    };
    let mut weights = BASE_WEIGHTS;
    let bits: u32 = u.int_in_range(0..=u32::MAX)?;
    for (k, w) in weights.iter_mut().enumerate() {
        *w *= (bits >> (2 * k)) & 3;
        if !info.supports(KINDS[k]) {
            *w = 0;
        }
    }
    if weights[0] == 0 {
        weights[0] = BASE_WEIGHTS[0]; // nothing happens without puts
    }
    if info.supports("commit") && weights[2] == 0 {
        weights[2] = BASE_WEIGHTS[2];
    }
    let total: u32 = weights.iter().sum();
    let max_ops = cfg.max_ops.clamp(1, super::MAX_OPS);
    let n: usize = u.int_in_range(1..=max_ops)?;
    let mut ops = Vec::with_capacity(n);
    // Puts and removes in the open transaction, for a target whose commits
    // hold a bounded number of them.
    let changes_max = info.limits.changes_per_commit_max;
    let mut pending = 0u32;
    // Keys a put may have left present (a superset: an aborted put counts).
    let mut maybe_present = std::collections::BTreeSet::new();
    let n = if changes_max > 0 || !info.limits.put_overwrites {
        n.min(super::MAX_OPS - 3) // room for a remove and the commits
    } else {
        n
    };
    while ops.len() < n {
        if u.is_empty() {
            break;
        }
        let key = u.int_in_range(0..=keys - 1)?;
        let kind = super::weighted_kind(u, &weights, total)?;
        // A store that never overwrites: the key goes first, in a change
        // (and, for one-change commits, a commit) of its own.
        if kind == 0 && !info.limits.put_overwrites && maybe_present.contains(&key) {
            ops.push(Op::Remove { key });
            maybe_present.remove(&key);
            pending += 1;
            if changes_max > 0 && pending >= changes_max {
                ops.push(Op::Commit { durable: true });
                pending = 0;
            }
        }
        ops.push(match kind {
            0 => Op::Put {
                key,
                len: value_len(u, info.limits.value_len_max)?,
            },
            1 => Op::Remove { key },
            2 => Op::Commit {
                durable: !info.limits.nondurable_commits || u.ratio(2, 3)?,
            },
            3 => Op::Abort,
            4 => Op::Reopen,
            5 => Op::Get { key },
            6 => Op::CheckIntegrity,
            7 => Op::Compact,
            _ => Op::Unwind,
        });
        match ops.last() {
            Some(Op::Put { key, .. }) => {
                maybe_present.insert(*key);
                pending += 1
            }
            Some(Op::Remove { key }) => {
                maybe_present.remove(key);
                pending += 1
            }
            Some(Op::Get { .. }) => {}
            _ => pending = 0,
        }
        if changes_max > 0 && pending >= changes_max {
            ops.push(Op::Commit { durable: true });
            pending = 0;
        }
    }
    // Drawn last so the operations above keep their bytes.
    let settings = super::draw_settings(u, info)?;
    Ok(Workload {
        header: Header {
            target: cfg.target.clone(),
            bugs: cfg.bugs.clone(),
            settings,
            mode: cfg.mode,
            keys,
            ..Header::default()
        },
        ops,
    })
}

/// A value length: mostly small, sometimes up to the limit, with the
/// limit itself over-weighted (records that fill a page or a slot).
fn value_len(u: &mut Unstructured, max: u64) -> arbitrary::Result<u64> {
    let max = max.max(1);
    Ok(match u.int_in_range(0..=7u8)? {
        0 => max,
        1 | 2 => u.int_in_range(1..=max)?,
        _ => u.int_in_range(1..=max.min(32))?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{generate, FuzzConfig, Op, Workload, KV_CORE_OPS, KV_OPS};
    use crate::target::{Contract, DeviceModel, Limits, TargetInfo, Vocabulary};
    use std::collections::BTreeSet;

    fn kv_target(ops: &[&'static str]) -> TargetInfo {
        TargetInfo {
            name: "kv-test",
            version: "0".to_string(),
            device: DeviceModel::File,
            vocabulary: Vocabulary::Kv,
            ops: ops.to_vec(),
            contract: Contract {
                acknowledges: "commit",
                atomicity: "transaction",
                recovery_must_succeed: true,
                file_updates: crate::target::FileUpdates::InPlace,
                names: crate::target::Names::FileFsync,
                sizes: crate::target::Sizes::Stepwise,
            },
            bugs: Vec::new(),
            settings: Vec::new(),
            limits: Limits {
                files_max: 0,
                file_size_max: 0,
                keys_max: super::MAX_KEYS,
                value_len_max: 4096,
                device_bytes: 1 << 20,
                tear_bytes: 512,
                changes_per_commit_max: 0,
                nondurable_commits: true,
                put_overwrites: true,
            },
        }
    }

    /// The generator draws every operation the target declares (`unwind`
    /// included) and none it does not, and each workload reads back from
    /// its text.
    #[test]
    fn generated_kinds_are_the_targets_ops() {
        for ops in [KV_OPS, KV_CORE_OPS] {
            let info = kv_target(ops);
            let cfg = FuzzConfig {
                target: info.name.to_string(),
                max_ops: 64,
                ..FuzzConfig::default()
            };
            let mut seen = BTreeSet::new();
            for i in 0..400 {
                let w = generate(7, i, &cfg, Some(&info));
                w.validate_for(&info).unwrap();
                assert_eq!(Workload::parse(&w.to_text()).unwrap(), w);
                seen.extend(w.ops.iter().map(|op| op.keyword()));
            }
            assert_eq!(seen, ops.iter().copied().collect::<BTreeSet<_>>());
        }
    }

    /// A store that commits each change alone: every generated workload
    /// has a commit after each put or remove and none that is not durable,
    /// and a workload file that holds two changes in one transaction is
    /// refused at the line of the second.
    #[test]
    fn one_change_per_commit_is_generated_and_enforced() {
        let mut info = kv_target(KV_CORE_OPS);
        info.limits.changes_per_commit_max = 1;
        info.limits.nondurable_commits = false;
        let cfg = FuzzConfig {
            target: info.name.to_string(),
            max_ops: 64,
            ..FuzzConfig::default()
        };
        let mut commits = 0;
        for i in 0..200 {
            let w = generate(3, i, &cfg, Some(&info));
            w.validate_for(&info).unwrap();
            commits += w.ops.iter().filter(|op| op.keyword() == "commit").count();
            assert!(!w.to_text().contains("nondurable"));
        }
        assert!(commits > 200);
        let text = "target: kv-test\nkeys: 2\nput k0 1\nput k1 1\ncommit durable\n";
        let (w, _) = Workload::parse_with_lines(text).unwrap();
        let (at, e) = w.check_commits(&info).unwrap_err();
        assert_eq!(at, 1);
        assert!(
            e.to_string().contains("commits each change on its own"),
            "{e}"
        );
    }

    /// A store that never overwrites: no generated put finds its key
    /// possibly present; a committed remove always comes between.
    #[test]
    fn a_store_without_overwrites_gets_a_remove_before_each_put_again() {
        let mut info = kv_target(KV_CORE_OPS);
        info.limits.changes_per_commit_max = 1;
        info.limits.nondurable_commits = false;
        info.limits.put_overwrites = false;
        let cfg = FuzzConfig {
            target: info.name.to_string(),
            max_ops: 128,
            ..FuzzConfig::default()
        };
        let mut again = 0;
        for i in 0..200 {
            let w = generate(5, i, &cfg, Some(&info));
            w.validate_for(&info).unwrap();
            let mut present = BTreeSet::new();
            for op in &w.ops {
                match *op {
                    Op::Put { key, .. } => {
                        assert!(present.insert(key), "{}", w.to_text());
                        again += 1;
                    }
                    Op::Remove { key } => {
                        present.remove(&key);
                    }
                    _ => {}
                }
            }
        }
        assert!(again > 200);
    }
}
