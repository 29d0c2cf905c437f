//! Delta staging's source side: what changed between the commit a host runs and the one that ships (git's own objects compared, tree by tree), written as one tar stream, with the manifest the staged tree must match.
//!
//! The stream is an uncompressed tar with three lists first and the changed entries after:
//!
//! - `meta/remove`: paths to remove from the copy of the live release, one a line (every path
//!   that changed, whatever it became, and every path that is gone);
//! - `meta/put`: paths to move from `tree/` into the new release, one a line (the top of each
//!   added or changed entry: a file, a symlink, or a whole directory);
//! - `meta/manifest`: what the staged tree must hold, one line per entry, sorted bytewise:
//!   `d755 - PATH` (a directory), `f644 SHA256 PATH` / `f755 SHA256 PATH` (a file),
//!   `l SHA256-OF-TARGET PATH` (a symlink). `REVISION` and the shared paths are left out: the
//!   staging step writes and links them itself;
//! - `tree/PATH…`: the added and changed entries, as the full archive holds them.
//!
//! A changed file is always shipped whole and lands as a new inode, so a release staged with
//! hard links to the live one never changes a file of the live release.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Tree};
use sha2::{Digest, Sha256};

use super::archive::{ArchiveInfo, SYMLINK_MODE, TarError, TarWriter, hex, temporary};
use super::{Mirror, SourceError};

/// A delta written for one base commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaInfo {
    /// The tar stream.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Files (and symlinks) present in both commits whose content, mode or type changed.
    pub changed: usize,
    /// Files only the new commit has.
    pub added: usize,
    /// Files only the base commit has.
    pub removed: usize,
    /// SHA-256 of the manifest: the tree hash the staged release must have.
    pub tree: String,
}

/// What `write_delta` decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    Ready(DeltaInfo),
    /// A delta cannot or should not be used; the reason, for the journal.
    Unsuitable(String),
}

/// Where the delta from `base` to `sha` of `app` is written:
/// `<state_dir>/artifacts/<app>-<base>-<sha>.delta.tar`.
pub fn delta_path(state_dir: &Path, app: &str, base: &str, sha: &str) -> PathBuf {
    state_dir
        .join("artifacts")
        .join(format!("{app}-{base}-{sha}.delta.tar"))
}

/// Whether `path` is left out of staging's comparison: `REVISION` and the shared paths (and
/// what lies under them), which the staging step replaces.
fn excluded(path: &str, shared: &[String]) -> bool {
    std::iter::once("REVISION")
        .chain(shared.iter().map(String::as_str))
        .any(|s| path == s || path.strip_prefix(s).is_some_and(|r| r.starts_with('/')))
}

/// Paths the host-side tools (`sha256sum`, line-based lists) cannot carry faithfully.
fn awkward(path: &str) -> bool {
    path.contains(['\n', '\r', '\\'])
}

/// The manifest of a full unpack of `full` (its files, symlinks and directories), less
/// `REVISION` and the shared paths: sorted lines, bytewise. `Err`: a path that cannot be
/// compared on a host.
pub fn manifest(full: &ArchiveInfo, shared: &[String]) -> Result<Vec<u8>, String> {
    let mut lines: Vec<String> = Vec::new();
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    let all = full
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(full.skipped.iter().map(String::as_str));
    for path in all {
        if awkward(path) {
            return Err(format!("the path {path:?} cannot be compared on a host"));
        }
        let mut at = path;
        while let Some((parent, _)) = at.rsplit_once('/') {
            dirs.insert(parent);
            at = parent;
        }
    }
    for f in &full.files {
        if excluded(&f.path, shared) {
            continue;
        }
        let kind = match f.mode {
            SYMLINK_MODE => "l",
            0o755 => "f755",
            _ => "f644",
        };
        lines.push(format!("{kind} {} {}", f.sha256, f.path));
    }
    for dir in dirs {
        if !excluded(dir, shared) {
            lines.push(format!("d755 - {dir}"));
        }
    }
    let mut lines: Vec<Vec<u8>> = lines.into_iter().map(String::into_bytes).collect();
    lines.sort();
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    Ok(out)
}

/// SHA-256 of a manifest, lowercase hex: the tree hash.
pub fn tree_hash(manifest: &[u8]) -> String {
    hex(&Sha256::digest(manifest))
}

/// One tree entry as the walk sees it.
#[derive(Clone, Copy)]
struct Node {
    id: Oid,
    mode: i32,
    kind: Option<ObjectType>,
}

/// The removals and puts between two trees, with counts and an estimate of the stream's size.
struct Walk<'r> {
    repo: &'r Repository,
    shared: &'r [String],
    remove: Vec<String>,
    put: Vec<(String, Node)>,
    changed: usize,
    added: usize,
    removed: usize,
    /// Bytes the tar entries of the puts take (headers and padded content).
    bytes: u64,
}

enum WalkError {
    Unsuitable(String),
    Git(git2::Error),
}

impl From<git2::Error> for WalkError {
    fn from(e: git2::Error) -> Self {
        WalkError::Git(e)
    }
}

fn nodes(tree: &Tree<'_>, prefix: &str) -> Result<BTreeMap<String, Node>, WalkError> {
    let mut out = BTreeMap::new();
    for entry in tree.iter() {
        let Ok(name) = entry.name() else {
            return Err(WalkError::Unsuitable(format!(
                "a path under {prefix:?} is not UTF-8"
            )));
        };
        out.insert(
            name.to_string(),
            Node {
                id: entry.id(),
                mode: entry.filemode(),
                kind: entry.kind(),
            },
        );
    }
    Ok(out)
}

impl Walk<'_> {
    fn join(prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    }

    /// Files under a node, and the bytes their tar entries take.
    fn weigh(&self, node: Node) -> Result<(usize, u64), WalkError> {
        match node.kind {
            Some(ObjectType::Tree) => {
                let tree = self.repo.find_tree(node.id)?;
                let mut total = (0, 512);
                for entry in tree.iter() {
                    let (n, b) = self.weigh(Node {
                        id: entry.id(),
                        mode: entry.filemode(),
                        kind: entry.kind(),
                    })?;
                    total = (total.0 + n, total.1 + b);
                }
                Ok(total)
            }
            Some(ObjectType::Blob) => {
                let (size, _) = self.repo.odb()?.read_header(node.id)?;
                Ok((1, 512 + (size as u64).div_ceil(512) * 512))
            }
            _ => Ok((0, 0)),
        }
    }

    fn diff(&mut self, old: &Tree<'_>, new: &Tree<'_>, prefix: &str) -> Result<(), WalkError> {
        let before = nodes(old, prefix)?;
        let after = nodes(new, prefix)?;
        let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for name in names {
            let path = Self::join(prefix, name);
            if excluded(&path, self.shared) {
                continue;
            }
            if awkward(&path) {
                return Err(WalkError::Unsuitable(format!(
                    "the path {path:?} cannot be staged by delta"
                )));
            }
            match (before.get(name).copied(), after.get(name).copied()) {
                (Some(o), None) => {
                    self.removed += self.weigh(o)?.0;
                    self.remove.push(path);
                }
                (None, Some(n)) => {
                    let (files, bytes) = self.weigh(n)?;
                    self.added += files;
                    self.bytes += bytes;
                    if n.kind != Some(ObjectType::Commit) {
                        self.put.push((path, n));
                    }
                }
                (Some(o), Some(n)) if o.id == n.id && o.mode == n.mode => {}
                (Some(o), Some(n))
                    if o.kind == Some(ObjectType::Tree) && n.kind == Some(ObjectType::Tree) =>
                {
                    let (old, new) = (self.repo.find_tree(o.id)?, self.repo.find_tree(n.id)?);
                    self.diff(&old, &new, &path)?;
                }
                (Some(o), Some(n)) => {
                    let (was, _) = self.weigh(o)?;
                    let (files, bytes) = self.weigh(n)?;
                    if o.kind == Some(ObjectType::Blob) && n.kind == Some(ObjectType::Blob) {
                        self.changed += 1;
                    } else {
                        self.removed += was;
                        self.added += files;
                    }
                    self.bytes += bytes;
                    self.remove.push(path.clone());
                    if n.kind != Some(ObjectType::Commit) {
                        self.put.push((path, n));
                    }
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

fn lines(paths: impl Iterator<Item = impl AsRef<str>>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in paths {
        out.extend_from_slice(p.as_ref().as_bytes());
        out.push(b'\n');
    }
    out
}

impl Mirror {
    /// Writes the delta from commit `base` to commit `sha` at `dest`, given the full archive
    /// of `sha` (for its manifest and size) and the playbook's shared paths. `Unsuitable` when
    /// the base is not in the mirror, a path cannot be carried, or the delta would be more than
    /// `max_percent` of the full archive.
    pub fn write_delta(
        &self,
        base: &str,
        sha: &str,
        full: &ArchiveInfo,
        shared: &[String],
        max_percent: u32,
        dest: &Path,
    ) -> Result<Delta, SourceError> {
        let Ok((base_id, _)) = self.commit_id(base) else {
            return Ok(Delta::Unsuitable(format!(
                "the live revision {} is not in the repository",
                &base[..base.len().min(12)]
            )));
        };
        let (new_id, _) = self.commit_id(sha)?;
        let manifest = match manifest(full, shared) {
            Ok(m) => m,
            Err(why) => return Ok(Delta::Unsuitable(why)),
        };
        let new_commit = self.repo.find_commit(new_id)?;
        let (old, new) = (self.repo.find_commit(base_id)?.tree()?, new_commit.tree()?);
        let mut walk = Walk {
            repo: &self.repo,
            shared,
            remove: Vec::new(),
            put: Vec::new(),
            changed: 0,
            added: 0,
            removed: 0,
            bytes: 0,
        };
        match walk.diff(&old, &new, "") {
            Ok(()) => {}
            Err(WalkError::Unsuitable(why)) => return Ok(Delta::Unsuitable(why)),
            Err(WalkError::Git(e)) => return Err(e.into()),
        }
        let remove = lines(walk.remove.iter());
        let put = lines(walk.put.iter().map(|(p, _)| p));
        let estimate = walk.bytes + 3 * 1024 + (remove.len() + put.len() + manifest.len()) as u64;
        if estimate * 100 > full.bytes * u64::from(max_percent) {
            return Ok(Delta::Unsuitable(format!(
                "the change is {}% of the full archive, more than delta_max_percent = {max_percent}",
                estimate * 100 / full.bytes.max(1)
            )));
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(SourceError::io(parent))?;
        }
        let tmp = temporary(dest);
        let mtime = u64::try_from(new_commit.time().seconds()).unwrap_or(0);
        let written = (|| -> Result<(), TarError> {
            let mut writer = TarWriter {
                builder: tar::Builder::new(BufWriter::new(File::create(&tmp)?)),
                mtime,
                files: Vec::new(),
                skipped: Vec::new(),
            };
            writer.add_file("meta/remove", &remove)?;
            writer.add_file("meta/put", &put)?;
            writer.add_file("meta/manifest", &manifest)?;
            for (path, node) in &walk.put {
                let at = format!("tree/{path}").into_bytes();
                let mode = u32::try_from(node.mode).unwrap_or(0);
                writer.add_entry(&self.repo, at, node.kind, node.id, mode)?;
            }
            writer
                .builder
                .into_inner()?
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all()?;
            Ok(())
        })();
        let finished = written.and_then(|()| fs::rename(&tmp, dest).map_err(TarError::Io));
        match finished {
            Ok(()) => {}
            Err(e) => {
                // Best effort: the temporary file is ours and useless now.
                let _ = fs::remove_file(&tmp);
                return Err(match e {
                    TarError::Io(e) => SourceError::io(dest)(e),
                    TarError::Git(e) => SourceError::Git(e),
                });
            }
        }
        let bytes = fs::metadata(dest).map_err(SourceError::io(dest))?.len();
        Ok(Delta::Ready(DeltaInfo {
            path: dest.to_path_buf(),
            bytes,
            changed: walk.changed,
            added: walk.added,
            removed: walk.removed,
            tree: tree_hash(&manifest),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::archive_path;
    use crate::source::testing::{Entry, TestRepo};
    use std::io::Read;

    fn members(path: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut archive = tar::Archive::new(File::open(path).unwrap());
        let mut out = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut content = Vec::new();
            if entry.header().entry_type() == tar::EntryType::Symlink {
                content = entry.link_name_bytes().unwrap().into_owned();
            } else {
                entry.read_to_end(&mut content).unwrap();
            }
            out.insert(name, content);
        }
        out
    }

    #[test]
    fn a_delta_lists_changes_type_changes_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let base = origin.commit_entries(
            "Ann",
            "ann@example.org",
            "Base",
            &[
                Entry::File("keep.txt", "same\n"),
                Entry::File("edit.txt", "one\n"),
                Entry::File("mode.sh", "echo\n"),
                Entry::File("flip", "a file\n"),
                Entry::File("gone/a.txt", "a\n"),
                Entry::Symlink("link", "keep.txt"),
                Entry::File("log/.keep", ""),
            ],
        );
        // A file cannot become a directory in one tree update: two commits, one delta.
        origin.commit_entries("Ann", "ann@example.org", "Drop", &[Entry::Remove("flip")]);
        let sha = origin.commit_entries(
            "Ann",
            "ann@example.org",
            "Change",
            &[
                Entry::File("edit.txt", "two\n"),
                Entry::Executable("mode.sh", "echo\n"),
                Entry::File("flip/inside.txt", "now a dir\n"),
                Entry::Remove("gone/a.txt"),
                Entry::Symlink("link", "edit.txt"),
                Entry::File("new/deep/file.txt", "new\n"),
                Entry::File("log/.keep", "changed but shared\n"),
            ],
        );
        let state = dir.path().join("state");
        let mirror = Mirror::sync(&state, "app", origin.path().to_str().unwrap()).unwrap();
        let full = mirror
            .write_archive(&sha, &archive_path(&state, "app", &sha))
            .unwrap();
        let dest = delta_path(&state, "app", &base, &sha);
        let shared = vec!["log".to_string()];
        // A tiny app: its delta weighs about what its archive does.
        let info = match mirror
            .write_delta(&base, &sha, &full, &shared, 1000, &dest)
            .unwrap()
        {
            Delta::Ready(info) => info,
            Delta::Unsuitable(why) => panic!("no delta: {why}"),
        };
        assert_eq!((info.changed, info.added, info.removed), (3, 2, 2));
        let m = members(&dest);
        assert_eq!(
            String::from_utf8_lossy(&m["meta/remove"]),
            "edit.txt\nflip\ngone\nlink\nmode.sh\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&m["meta/put"]),
            "edit.txt\nflip\nlink\nmode.sh\nnew\n"
        );
        assert_eq!(m["tree/flip/inside.txt"], b"now a dir\n");
        assert_eq!(m["tree/link"], b"edit.txt");
        assert!(!m.contains_key("tree/keep.txt") && !m.contains_key("tree/log/.keep"));
        let manifest = String::from_utf8(m["meta/manifest"].clone()).unwrap();
        assert!(manifest.contains("d755 - new/deep\n"), "{manifest}");
        assert!(manifest.contains(" mode.sh\n") && manifest.starts_with("d755 - flip\n"));
        assert!(!manifest.contains("log"), "{manifest}");
        assert_eq!(info.tree, tree_hash(&m["meta/manifest"]));

        // A delta bigger than the allowed share is not written.
        let too_big = mirror
            .write_delta(&base, &sha, &full, &shared, 1, &dir.path().join("x.tar"))
            .unwrap();
        assert!(
            matches!(too_big, Delta::Unsuitable(ref why) if why.contains("delta_max_percent = 1")),
            "{too_big:?}"
        );
        assert!(!dir.path().join("x.tar").exists());
        let unknown = mirror
            .write_delta(&"1".repeat(40), &sha, &full, &shared, 100, &dest)
            .unwrap();
        assert!(
            matches!(unknown, Delta::Unsuitable(ref why) if why.contains("not in the repository"))
        );
    }
}
