//! The catalogue of bug variants (BUGS.md): each a named switch, off by
//! default, that reintroduces one real class of Linux filesystem bug.

use std::fmt;
use std::str::FromStr;

macro_rules! bugs {
    ($( $variant:ident = $name:literal : $desc:literal, )*) => {
        /// One bug variant of the filesystem core.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Bug { $( $variant, )* }

        impl Bug {
            /// Every variant, in catalogue order.
            pub const ALL: &'static [Bug] = &[ $( Bug::$variant, )* ];

            /// The kebab-case switch name, as in BUGS.md.
            pub fn name(self) -> &'static str {
                match self { $( Bug::$variant => $name, )* }
            }

            /// One line on the mechanism the switch reintroduces.
            pub fn description(self) -> &'static str {
                match self { $( Bug::$variant => $desc, )* }
            }
        }
    };
}

bugs! {
    DioEndBeforeSync = "dio-end-before-sync":
        "O_DSYNC DIO completion drops i_dio_count before the sync while claiming barrier=stable",
    SyncDioCompleteUnderIlock = "sync-dio-complete-under-ilock":
        "synchronous O_DSYNC DIO runs its completion (and fsync) while the submitter holds i_rwsem",
    DsyncFsyncTakesIlock = "dsync-fsync-takes-ilock":
        "AIO O_DSYNC completion syncs before inode_dio_end through an fsync that takes i_rwsem",
    DsyncNoFlush = "dsync-no-flush":
        "O_DSYNC write is acknowledged after its data write completes, with neither FUA nor flush",
    FuaOnUnwritten = "fua-on-unwritten":
        "FUA fast path used for O_DSYNC DIO into unwritten extents; the conversion is never logged",
    FuaOnExtending = "fua-on-extending":
        "FUA fast path used for O_DSYNC DIO that extends the file; the new size is never logged",
    SizeAfterSync = "size-after-sync":
        "O_DSYNC DIO append updates i_size after the sync",
    FsyncNoFlush = "fsync-no-flush":
        "fsync writes data and commits the journal but never flushes the device cache",
    FdatasyncSkipsSize = "fdatasync-skips-size":
        "fdatasync does not persist an i_size change",
    CommitBeforeData = "commit-before-data":
        "ordered mode broken: the metadata commit is written before the data it points at",
    ConvertBeforeIo = "convert-before-io":
        "DIO marks unwritten extents written at submission instead of at completion",
    TruncateNoDioWait = "truncate-no-dio-wait":
        "truncate frees blocks without inode_dio_wait; in-flight AIO lands in reallocated blocks",
    CommitNoPreflush = "commit-no-preflush":
        "journal commit written without a preceding flush, and recovery skips the checksum",
    CheckpointNoFlush = "checkpoint-no-flush":
        "journal tail advanced before checkpointed metadata is flushed",
    TruncateTailNotZeroed = "truncate-tail-not-zeroed":
        "truncate down leaves the tail of the last block on disk for a later extension to expose",
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown bug switch name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug switch `{0}` (see `brownout bugs` for the list)")]
pub struct UnknownBug(pub String);

impl FromStr for Bug {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bug::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

/// A set of bug switches that are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BugSet(u32);

impl BugSet {
    /// No switch on: the correct filesystem.
    pub const NONE: BugSet = BugSet(0);

    pub fn with(mut self, bug: Bug) -> Self {
        self.insert(bug);
        self
    }
    pub fn insert(&mut self, bug: Bug) {
        self.0 |= 1 << bug as u32;
    }
    pub fn contains(self, bug: Bug) -> bool {
        self.0 & (1 << bug as u32) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The switches that are on, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.iter().copied().filter(move |b| self.contains(*b))
    }
}

/// A list of switch names, separated by commas or spaces; `none` (or
/// nothing) is the empty set. The inverse of `Display`.
impl FromStr for BugSet {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split([',', ' '])
            .map(str::trim)
            .filter(|name| !name.is_empty() && *name != "none")
            .map(str::parse::<Bug>)
            .collect()
    }
}

impl FromIterator<Bug> for BugSet {
    fn from_iter<I: IntoIterator<Item = Bug>>(iter: I) -> Self {
        iter.into_iter().fold(BugSet::NONE, BugSet::with)
    }
}

impl fmt::Display for BugSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Bug::name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>(), Ok(bug));
        }
        assert!("no-such-bug".parse::<Bug>().is_err());
        assert_eq!(Bug::ALL.len(), 15);
    }

    #[test]
    fn set_membership() {
        let set: BugSet = [Bug::FsyncNoFlush, Bug::CommitBeforeData]
            .into_iter()
            .collect();
        assert!(set.contains(Bug::FsyncNoFlush));
        assert!(!set.contains(Bug::DsyncNoFlush));
        assert_eq!(set.to_string(), "fsync-no-flush,commit-before-data");
        assert_eq!(set.to_string().parse::<BugSet>(), Ok(set));
        assert_eq!("none".parse::<BugSet>(), Ok(BugSet::NONE));
        assert_eq!(
            " fsync-no-flush  commit-before-data,".parse::<BugSet>(),
            Ok(set)
        );
        assert!("fsync-no-flush,nope".parse::<BugSet>().is_err());
    }
}
