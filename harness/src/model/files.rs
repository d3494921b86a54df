//! The reference model of an `fs` workload on a copy-on-write target
//! (littlefs): the file system's history as a list of committed trees,
//! the open handles' contents, and which trees a crash may leave.
//!
//! Tree 0 is what the workload started from (empty after a format); tree
//! `c` is the one after the `c`-th commit. A commit is one engine call
//! that changes what is durable: creating a file, syncing or closing an
//! open handle, a rename, a remove, a mkdir. Each is all or nothing and
//! durable when it returns, so a crash at log position `p` may leave tree
//! `j` for any `j` from the last commit acknowledged before `p` to the
//! last one that had begun before `p`.

use crate::engine::files::{FilesError, Node, Tree};
use crate::workload::files::{dir_path, file_path, parent};
use crate::workload::{DirId, FileId};
use std::collections::BTreeMap;

/// A tree: path to node.
pub type Namespace = BTreeMap<String, Node>;

/// One commit, with the log positions the executor recorded.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The operation index it belongs to.
    pub op: usize,
    /// Log position when its engine call began.
    pub start: usize,
    /// Log position just after its acknowledgement mark.
    pub acked: usize,
}

/// The committed history of one execution, and the open handles.
#[derive(Clone, Debug)]
pub struct FilesModel {
    /// `states[c]`: the tree after commit `c`.
    pub states: Vec<Namespace>,
    /// `commits[c - 1]` made `states[c]`.
    pub commits: Vec<Commit>,
    /// The open handles: file to its contents as written through it.
    open: BTreeMap<FileId, Vec<u8>>,
}

impl FilesModel {
    /// A model whose durable tree is `base` (empty after a format; the
    /// recovered tree in a continuation), with no handle open.
    pub fn over(base: Namespace) -> Self {
        FilesModel {
            states: vec![base],
            commits: Vec::new(),
            open: BTreeMap::new(),
        }
    }

    /// The last committed tree.
    pub fn committed(&self) -> &Namespace {
        self.states.last().expect("state 0 always exists")
    }

    /// Whether file `file` has a handle open.
    pub fn is_open(&self, file: FileId) -> bool {
        self.open.contains_key(&file)
    }

    /// The files with a handle open, in order.
    pub fn open_files(&self) -> Vec<FileId> {
        self.open.keys().copied().collect()
    }

    fn dir_exists(&self, dir: Option<DirId>) -> bool {
        dir.is_none_or(|d| self.committed().get(&dir_path(d)) == Some(&Node::Dir))
    }

    fn committed_file(&self, file: FileId) -> Option<&Vec<u8>> {
        match self.committed().get(&file_path(file)) {
            Some(Node::File(data)) => Some(data),
            _ => None,
        }
    }

    /// What opening `file` without creating it must do: succeed (the
    /// handle is open, or the file exists) or fail with ENOENT.
    pub fn expect_open(&self, file: FileId) -> Result<(), FilesError> {
        if self.is_open(file) || self.committed_file(file).is_some() {
            Ok(())
        } else {
            Err(FilesError::NotFound)
        }
    }

    /// What `create` must do: ENOENT when its directory is missing.
    pub fn expect_create(&self, file: FileId) -> Result<(), FilesError> {
        if self.is_open(file) || self.dir_exists(parent(file)) {
            Ok(())
        } else {
            Err(FilesError::NotFound)
        }
    }

    /// Whether `create` (which succeeded) makes a new file: a commit.
    pub fn create_commits(&self, file: FileId) -> bool {
        !self.is_open(file) && self.committed_file(file).is_none()
    }

    /// `create` succeeded: the handle is open (on a new, empty file when
    /// [`FilesModel::create_commits`], whose commit the caller records).
    pub fn create(&mut self, file: FileId) {
        let data = self.committed_file(file).cloned().unwrap_or_default();
        self.open.entry(file).or_insert(data);
    }

    /// Opens `file` if no handle is (after [`FilesModel::expect_open`]
    /// said it exists).
    pub fn open(&mut self, file: FileId) {
        if !self.is_open(file) {
            let data = self.committed_file(file).cloned().unwrap_or_default();
            self.open.insert(file, data);
        }
    }

    /// The open handle's contents.
    pub fn contents(&self, file: FileId) -> &[u8] {
        self.open.get(&file).map_or(&[], Vec::as_slice)
    }

    /// A write through the open handle; a gap reads as zeroes.
    pub fn write(&mut self, file: FileId, offset: u64, data: &[u8]) {
        let buf = self.open.get_mut(&file).expect("written files are open");
        let end = offset as usize + data.len();
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[offset as usize..end].copy_from_slice(data);
    }

    /// A truncate through the open handle; growing adds zeroes.
    pub fn truncate(&mut self, file: FileId, size: u64) {
        let buf = self.open.get_mut(&file).expect("truncated files are open");
        buf.resize(size as usize, 0);
    }

    /// The tree a sync or close of `file`'s handle commits.
    pub fn synced(&self, file: FileId) -> Namespace {
        let mut next = self.committed().clone();
        let data = self.contents(file).to_vec();
        next.insert(file_path(file), Node::File(data));
        next
    }

    /// Drops `file`'s handle (after its close committed).
    pub fn forget(&mut self, file: FileId) {
        self.open.remove(&file);
    }

    /// What `rename from to` must do (no handle open on either).
    pub fn expect_rename(&self, from: FileId, to: FileId) -> Result<(), FilesError> {
        if self.committed_file(from).is_some() && self.dir_exists(parent(to)) {
            Ok(())
        } else {
            Err(FilesError::NotFound)
        }
    }

    /// The tree after `rename from to`.
    pub fn renamed(&self, from: FileId, to: FileId) -> Namespace {
        let mut next = self.committed().clone();
        let node = next.remove(&file_path(from)).expect("renamed files exist");
        next.insert(file_path(to), node);
        next
    }

    /// What `unlink file` must do (no handle open on it).
    pub fn expect_unlink(&self, file: FileId) -> Result<(), FilesError> {
        match self.committed_file(file) {
            Some(_) => Ok(()),
            None => Err(FilesError::NotFound),
        }
    }

    /// The tree after `unlink file`.
    pub fn unlinked(&self, file: FileId) -> Namespace {
        let mut next = self.committed().clone();
        next.remove(&file_path(file));
        next
    }

    /// What `mkdir dir` must do.
    pub fn expect_mkdir(&self, dir: DirId) -> Result<(), FilesError> {
        match self.committed().contains_key(&dir_path(dir)) {
            true => Err(FilesError::Exists),
            false => Ok(()),
        }
    }

    /// The tree after `mkdir dir`.
    pub fn made_dir(&self, dir: DirId) -> Namespace {
        let mut next = self.committed().clone();
        next.insert(dir_path(dir), Node::Dir);
        next
    }

    /// Records a commit of operation `op` that made `next`, its engine
    /// call between log positions `start` and `acked`.
    pub fn commit(&mut self, op: usize, next: Namespace, start: usize, acked: usize) {
        self.states.push(next);
        self.commits.push(Commit { op, start, acked });
    }

    /// The trees a crash at position `p` may leave: `lo..=hi`.
    pub fn allowed(&self, p: usize) -> (usize, usize) {
        let lo = self
            .commits
            .iter()
            .rposition(|c| c.acked <= p)
            .map_or(0, |c| c + 1);
        let hi = self.commits.iter().filter(|c| c.start < p).count();
        (lo, hi.max(lo))
    }

    /// The last tree equal to `observed`, if any.
    pub fn find(&self, observed: &Namespace) -> Option<usize> {
        self.states.iter().rposition(|s| s == observed)
    }
}

/// An engine's tree as a namespace.
pub fn namespace(tree: Tree) -> Namespace {
    tree.into_iter().collect()
}

/// Words for a tree: `{/d0, /f1: 300 bytes}`.
pub fn describe(tree: &Namespace) -> String {
    let items: Vec<String> = tree
        .iter()
        .map(|(path, node)| match node {
            Node::Dir => path.clone(),
            Node::File(data) => format!("{path}: {} bytes", data.len()),
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Words for how `observed` differs from `expected`: the first path that
/// differs, and where.
pub fn difference(expected: &Namespace, observed: &Namespace) -> String {
    let paths: std::collections::BTreeSet<&String> =
        expected.keys().chain(observed.keys()).collect();
    for path in paths {
        match (expected.get(path), observed.get(path)) {
            (a, b) if a == b => continue,
            (None, Some(_)) => return format!("{path} exists"),
            (Some(_), None) => return format!("{path} is missing"),
            (Some(Node::File(a)), Some(Node::File(b))) => {
                let at = a.iter().zip(b).position(|(x, y)| x != y);
                return match at {
                    Some(i) => format!(
                        "{path} differs at byte {i} (expected {:02x?}, found {:02x?})",
                        &a[i..a.len().min(i + 8)],
                        &b[i..b.len().min(i + 8)]
                    ),
                    None => format!("{path} has {} bytes, expected {}", b.len(), a.len()),
                };
            }
            _ => return format!("{path} is of another kind"),
        }
    }
    "no difference".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_commits_only_its_own_file() {
        let mut m = FilesModel::over(Namespace::new());
        m.create(0);
        m.commit(0, m.synced(0), 1, 2);
        m.create(1);
        m.commit(1, m.synced(1), 3, 4);
        m.write(0, 2, b"ab");
        m.write(1, 0, b"cd");
        m.commit(2, m.synced(0), 5, 6);
        assert_eq!(m.committed()["/f0"], Node::File(vec![0, 0, b'a', b'b']));
        assert_eq!(m.committed()["/f1"], Node::File(Vec::new()));
        assert_eq!(m.allowed(5), (2, 2));
        assert_eq!(m.allowed(6), (3, 3));
        assert_eq!(m.allowed(3), (1, 1));
        assert_eq!(m.allowed(4), (2, 2));
    }

    #[test]
    fn renames_and_removes_need_what_they_name() {
        let mut m = FilesModel::over(Namespace::new());
        assert_eq!(m.expect_create(4), Err(FilesError::NotFound));
        assert_eq!(m.expect_mkdir(0), Ok(()));
        m.commit(0, m.made_dir(0), 0, 1);
        assert_eq!(m.expect_mkdir(0), Err(FilesError::Exists));
        assert_eq!(m.expect_create(4), Ok(()));
        assert_eq!(m.expect_rename(1, 4), Err(FilesError::NotFound));
        m.create(1);
        m.commit(1, m.synced(1), 2, 3);
        m.forget(1);
        assert_eq!(m.expect_rename(1, 5), Err(FilesError::NotFound)); // no d1
        assert_eq!(m.expect_rename(1, 4), Ok(()));
        m.commit(2, m.renamed(1, 4), 4, 5);
        assert!(m.committed().contains_key("/d0/f4"));
        assert_eq!(m.expect_unlink(1), Err(FilesError::NotFound));
        assert_eq!(m.expect_unlink(4), Ok(()));
    }
}
