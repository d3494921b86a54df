//! How to hunt each bug variant: the crash mode that exposes it and the
//! oracle rules its finding may carry (BUGS.md, "expected finding"). Used
//! by the tests, the `bench` command and the documentation; the oracle
//! itself never looks at this table.

use crate::finding::Rule;
use crate::workload::Barrier;
use crate::workload::CrashMode;
use fs_under_test::Bug;

/// The hunting recipe of one variant.
///
/// The two journal-ordering variants (`commit-no-preflush`,
/// `checkpoint-no-flush`) lose whole metadata blocks at recovery: BUGS.md
/// names rules 1 and 5, but a lost or zeroed inode block shows first as an
/// acknowledged size or acknowledged data gone (rules 2 and 3), so those
/// count too. Likewise a variant that leaves O_DSYNC direct-write data or
/// size volatile breaks the `stable` barrier as well as the acknowledgement:
/// whichever the workload reaches first (a `dio-wait` before the reap, or
/// the reap) names the rule, 2/3 or 4/6. `commit-no-preflush` drops the
/// flush that made O_DSYNC data durable before the commit, so it shows
/// either way.
#[derive(Clone, Copy, Debug)]
pub struct Hunt {
    pub bug: Bug,
    pub mode: CrashMode,
    pub barrier: Barrier,
    /// Rules its finding may carry.
    pub rules: &'static [Rule],
}

use CrashMode::{Prefix, Reorder};
use Rule::*;

/// One recipe per variant, in catalogue order.
pub const HUNTS: &[Hunt] = &[
    hunt(Bug::DioEndBeforeSync, Prefix, &[DioBarrier, RuntimeBarrier]),
    hunt(Bug::SyncDioCompleteUnderIlock, Prefix, &[Deadlock]),
    hunt(Bug::DsyncFsyncTakesIlock, Prefix, &[Deadlock]),
    hunt(
        Bug::DsyncNoFlush,
        Prefix,
        &[AckedData, AckedSize, DioBarrier, RuntimeBarrier],
    ),
    hunt(Bug::FuaOnUnwritten, Prefix, &[AckedData, DioBarrier]),
    hunt(Bug::FuaOnExtending, Prefix, &[AckedSize, DioBarrier]),
    hunt(Bug::SizeAfterSync, Prefix, &[AckedSize, DioBarrier]),
    // A lost data write into a block the durable commit maps (reused
    // after a truncate) shows the block's old contents: rule 5.
    hunt(
        Bug::FsyncNoFlush,
        Reorder,
        &[AckedData, AckedSize, StaleData],
    ),
    hunt(Bug::FdatasyncSkipsSize, Prefix, &[AckedSize]),
    hunt(Bug::CommitBeforeData, Prefix, &[StaleData]),
    hunt(Bug::ConvertBeforeIo, Prefix, &[StaleData, AckedData]),
    hunt(
        Bug::TruncateNoDioWait,
        Prefix,
        &[StaleData, RuntimeBarrier, ReadYourWrites],
    ),
    hunt(
        Bug::CommitNoPreflush,
        Reorder,
        &[
            Recovery,
            StaleData,
            AckedData,
            AckedSize,
            DioBarrier,
            RuntimeBarrier,
        ],
    ),
    hunt(
        Bug::CheckpointNoFlush,
        Reorder,
        &[Recovery, AckedData, AckedSize, StaleData],
    ),
    hunt(
        Bug::TruncateTailNotZeroed,
        Prefix,
        &[StaleData, ReadYourWrites],
    ),
];

const fn hunt(bug: Bug, mode: CrashMode, rules: &'static [Rule]) -> Hunt {
    Hunt {
        bug,
        mode,
        barrier: Barrier::Stable,
        rules,
    }
}

/// The recipe for `bug`.
pub fn hunt_for(bug: Bug) -> Hunt {
    *HUNTS
        .iter()
        .find(|h| h.bug == bug)
        .expect("every variant has a recipe (checked by a test)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_one_recipe() {
        assert_eq!(HUNTS.len(), Bug::ALL.len());
        for (h, &b) in HUNTS.iter().zip(Bug::ALL) {
            assert_eq!(h.bug, b);
        }
    }
}
