//! A commit's tree as a deterministic, uncompressed tar file, with a record of every file shipped.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use git2::{ObjectType, Tree};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::{Mirror, SourceError};

/// Mode recorded for symbolic links in [`ShippedFile::mode`] (`S_IFLNK | 0777`, as `lstat`).
pub const SYMLINK_MODE: u32 = 0o120777;

/// What [`Mirror::write_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// The tar file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Every regular file and symlink in it, in archive order.
    pub files: Vec<ShippedFile>,
    /// Paths of submodules (gitlinks), which are not shipped.
    pub skipped: Vec<String>,
}

/// One file in an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedFile {
    /// Path inside the tree, `/`-separated.
    pub path: String,
    /// Content size; for a symlink, the length of its target.
    pub size: u64,
    /// SHA-256 of the content (of the target, for a symlink), lowercase hex.
    pub sha256: String,
    /// `0o755` or `0o644` for regular files, [`SYMLINK_MODE`] for symlinks.
    pub mode: u32,
}

/// The sidecar kept next to an archive so that a valid one is not rebuilt.
#[derive(Serialize, Deserialize)]
struct Sidecar {
    sha: String,
    info: ArchiveInfo,
}

/// Where the archive of `app` at commit `sha` is kept: `<state_dir>/artifacts/<app>-<sha>.tar`.
pub fn archive_path(state_dir: &Path, app: &str, sha: &str) -> PathBuf {
    state_dir.join("artifacts").join(format!("{app}-{sha}.tar"))
}

impl Mirror {
    /// Writes the tree of commit `sha` as an uncompressed tar at `dest`: directories, regular
    /// files with their executable bit (0755/0644), symlinks, in tree order, every entry with
    /// mtime = commit time and uid/gid 0. Submodules are skipped and listed. The file appears
    /// at `dest` only when complete. If `dest` already holds this commit's archive (per the
    /// `<dest>.json` sidecar and its size), nothing is rebuilt and the recorded info returned.
    pub fn write_archive(&self, sha: &str, dest: &Path) -> Result<ArchiveInfo, SourceError> {
        let (commit_id, _) = self.commit_id(sha)?;
        let full_sha = commit_id.to_string();
        let sidecar = sidecar_path(dest);
        if let Some(info) = cached(&sidecar, &full_sha, dest) {
            return Ok(info);
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(SourceError::io(parent))?;
        }
        let commit = self.repo.find_commit(commit_id)?;
        let mtime = u64::try_from(commit.time().seconds()).unwrap_or(0);
        let tree = commit.tree()?;

        let tmp = temporary(dest);
        let written = self
            .write_tar(&tree, mtime, &tmp)
            .and_then(|(files, skipped)| {
                fs::rename(&tmp, dest).map_err(SourceError::io(dest))?;
                let bytes = fs::metadata(dest).map_err(SourceError::io(dest))?.len();
                Ok(ArchiveInfo {
                    path: dest.to_path_buf(),
                    bytes,
                    files,
                    skipped,
                })
            });
        let info = match written {
            Ok(info) => info,
            Err(e) => {
                // Best effort: the temporary file is ours and useless now.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        write_sidecar(
            &sidecar,
            &Sidecar {
                sha: full_sha,
                info: info.clone(),
            },
        )?;
        Ok(info)
    }

    fn write_tar(
        &self,
        tree: &Tree<'_>,
        mtime: u64,
        tmp: &Path,
    ) -> Result<(Vec<ShippedFile>, Vec<String>), SourceError> {
        let io_err = SourceError::io(tmp);
        let result = (|| -> Result<_, TarError> {
            let file = File::create(tmp)?;
            let mut writer = TarWriter {
                builder: tar::Builder::new(BufWriter::new(file)),
                mtime,
                files: Vec::new(),
                skipped: Vec::new(),
            };
            writer.add_tree(&self.repo, tree, &[])?;
            let file = writer
                .builder
                .into_inner()?
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?;
            file.sync_all()?;
            Ok((writer.files, writer.skipped))
        })();
        match result {
            Ok(done) => Ok(done),
            Err(TarError::Io(e)) => Err(io_err(e)),
            Err(TarError::Git(e)) => Err(SourceError::Git(e)),
        }
    }
}

pub(super) enum TarError {
    Io(io::Error),
    Git(git2::Error),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

impl From<git2::Error> for TarError {
    fn from(e: git2::Error) -> Self {
        TarError::Git(e)
    }
}

pub(super) struct TarWriter<W: Write> {
    pub(super) builder: tar::Builder<W>,
    pub(super) mtime: u64,
    pub(super) files: Vec<ShippedFile>,
    pub(super) skipped: Vec<String>,
}

impl<W: Write> TarWriter<W> {
    /// Appends the entries of `tree`, whose path is `prefix` (empty for the root).
    pub(super) fn add_tree(
        &mut self,
        repo: &git2::Repository,
        tree: &Tree<'_>,
        prefix: &[u8],
    ) -> Result<(), TarError> {
        for entry in tree.iter() {
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(entry.name_bytes());
            let mode = u32::try_from(entry.filemode()).unwrap_or(0);
            self.add_entry(repo, path, entry.kind(), entry.id(), mode)?;
        }
        Ok(())
    }

    /// Appends one tree entry at `path` (a directory with everything in it, a file or a
    /// symlink); a gitlink is listed as skipped.
    pub(super) fn add_entry(
        &mut self,
        repo: &git2::Repository,
        path: Vec<u8>,
        kind: Option<ObjectType>,
        id: git2::Oid,
        mode: u32,
    ) -> Result<(), TarError> {
        match kind {
            Some(ObjectType::Tree) => {
                let mut header = self.header(EntryType::Directory, 0o755, 0);
                let mut dir = path.clone();
                dir.push(b'/');
                self.builder
                    .append_data(&mut header, as_path(&dir), io::empty())?;
                let subtree = repo.find_tree(id)?;
                self.add_tree(repo, &subtree, &path)?;
            }
            Some(ObjectType::Blob) if mode & 0o170000 == 0o120000 => {
                let blob = repo.find_blob(id)?;
                let target = blob.content();
                let mut header = self.header(EntryType::Symlink, 0o777, 0);
                self.builder
                    .append_link(&mut header, as_path(&path), as_path(target))?;
                self.files.push(shipped(&path, target, SYMLINK_MODE));
            }
            Some(ObjectType::Blob) => {
                let blob = repo.find_blob(id)?;
                let content = blob.content();
                let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                let size = content.len() as u64;
                let mut header = self.header(EntryType::Regular, perm, size);
                self.builder
                    .append_data(&mut header, as_path(&path), content)?;
                self.files.push(shipped(&path, content, perm));
            }
            // Gitlinks (submodules) and anything unexpected are not shipped.
            _ => self
                .skipped
                .push(String::from_utf8_lossy(&path).into_owned()),
        }
        Ok(())
    }

    /// Appends a regular file (0644) with `content`.
    pub(super) fn add_file(&mut self, path: &str, content: &[u8]) -> Result<(), TarError> {
        let mut header = self.header(EntryType::Regular, 0o644, content.len() as u64);
        self.builder
            .append_data(&mut header, Path::new(path), content)?;
        Ok(())
    }

    fn header(&self, kind: EntryType, mode: u32, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header
    }
}

fn shipped(path: &[u8], content: &[u8], mode: u32) -> ShippedFile {
    ShippedFile {
        path: String::from_utf8_lossy(path).into_owned(),
        size: content.len() as u64,
        sha256: hex(&Sha256::digest(content)),
        mode,
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

fn sidecar_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// A name beside `dest` that no other writer uses, so that concurrent builds of one archive
/// (two environments deploying one commit) cannot interleave; the last rename wins, and
/// both wrote the same bytes.
pub(super) fn temporary(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = dest.as_os_str().to_owned();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    PathBuf::from(name)
}

/// The recorded info, if the sidecar describes this commit's archive at `dest` and the file
/// there has the recorded size.
fn cached(sidecar: &Path, sha: &str, dest: &Path) -> Option<ArchiveInfo> {
    let text = fs::read(sidecar).ok()?;
    let recorded: Sidecar = serde_json::from_slice(&text).ok()?;
    let size = fs::metadata(dest).ok()?.len();
    (recorded.sha == sha && recorded.info.path == dest && recorded.info.bytes == size)
        .then_some(recorded.info)
}

fn write_sidecar(path: &Path, sidecar: &Sidecar) -> Result<(), SourceError> {
    let tmp = temporary(path);
    let json = serde_json::to_vec_pretty(sidecar).map_err(|e| SourceError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    fs::write(&tmp, json).map_err(SourceError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(SourceError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::{Entry, TestRepo};
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    const HELLO_SHA256: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    const RUN_SHA256: &str = "a4e0317eafab5cf1bc4a0041c7c8aeb6ece56fe72e7b2b3017a8a6574614cd35";

    struct Fixture {
        dir: tempfile::TempDir,
        mirror: Mirror,
        sha: String,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        origin.commit("Ann", "ann@example.org", "Old", &[("gone.txt", "x")]);
        let sha = origin.commit_entries(
            "Ann",
            "ann@example.org",
            "Tree with everything",
            &[
                Entry::File("README", "hello\n"),
                Entry::Executable("bin/run", "#!/bin/sh\necho run\n"),
                Entry::Symlink("docs", "README"),
                Entry::File("lib/deep/mod.txt", "hello\n"),
                Entry::Submodule("vendor/lib", &"ab".repeat(20)),
                Entry::Remove("gone.txt"),
            ],
        );
        let mirror = Mirror::sync(
            &dir.path().join("state"),
            "app",
            origin.path().to_str().unwrap(),
        )
        .unwrap();
        Fixture { dir, mirror, sha }
    }

    /// (path, type, mode, mtime, uid, gid, content or link target)
    type TarEntry = (String, EntryType, u32, u64, u64, u64, Vec<u8>);

    fn read_tar(path: &Path) -> Vec<TarEntry> {
        let mut archive = tar::Archive::new(File::open(path).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let header = entry.header().clone();
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                let mut content = Vec::new();
                match header.entry_type() {
                    EntryType::Symlink => {
                        content = entry.link_name_bytes().unwrap().into_owned();
                    }
                    _ => {
                        entry.read_to_end(&mut content).unwrap();
                    }
                }
                (
                    path,
                    header.entry_type(),
                    header.mode().unwrap(),
                    header.mtime().unwrap(),
                    header.uid().unwrap(),
                    header.gid().unwrap(),
                    content,
                )
            })
            .collect()
    }

    #[test]
    fn archive_holds_the_pure_tree() {
        let f = fixture();
        let dest = archive_path(&f.dir.path().join("state"), "app", &f.sha);
        assert!(dest.ends_with(format!("artifacts/app-{}.tar", f.sha)));
        let info = f.mirror.write_archive(&f.sha, &dest).unwrap();
        assert_eq!(info.path, dest);
        assert_eq!(info.bytes, fs::metadata(&dest).unwrap().len());
        assert_eq!(info.skipped, ["vendor/lib"]);

        let commit_time = f
            .mirror
            .repo
            .find_commit(git2::Oid::from_str(&f.sha).unwrap())
            .unwrap()
            .time()
            .seconds() as u64;
        let entries = read_tar(&dest);
        let summary: Vec<(&str, EntryType, u32, &[u8])> = entries
            .iter()
            .map(|(p, t, m, _, _, _, c)| (p.as_str(), *t, *m, c.as_slice()))
            .collect();
        assert_eq!(
            summary,
            [
                ("README", EntryType::Regular, 0o644, &b"hello\n"[..]),
                ("bin/", EntryType::Directory, 0o755, b""),
                (
                    "bin/run",
                    EntryType::Regular,
                    0o755,
                    b"#!/bin/sh\necho run\n"
                ),
                ("docs", EntryType::Symlink, 0o777, b"README"),
                ("lib/", EntryType::Directory, 0o755, b""),
                ("lib/deep/", EntryType::Directory, 0o755, b""),
                ("lib/deep/mod.txt", EntryType::Regular, 0o644, b"hello\n"),
                ("vendor/", EntryType::Directory, 0o755, b""),
            ]
        );
        assert!(
            entries
                .iter()
                .all(|e| e.3 == commit_time && e.4 == 0 && e.5 == 0)
        );
        assert!(!entries.iter().any(|e| e.0.contains(".git")));

        let files: Vec<(&str, u64, &str, u32)> = info
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.size, f.sha256.as_str(), f.mode))
            .collect();
        let link_sha = hex(&Sha256::digest(b"README"));
        assert_eq!(
            files,
            [
                ("README", 6, HELLO_SHA256, 0o644),
                ("bin/run", 19, RUN_SHA256, 0o755),
                ("docs", 6, link_sha.as_str(), SYMLINK_MODE),
                ("lib/deep/mod.txt", 6, HELLO_SHA256, 0o644),
            ]
        );
    }

    #[test]
    fn archives_are_deterministic() {
        let f = fixture();
        let one = f.dir.path().join("one.tar");
        let two = f.dir.path().join("elsewhere/two.tar");
        f.mirror.write_archive(&f.sha, &one).unwrap();
        f.mirror.write_archive(&f.sha[..8], &two).unwrap();
        assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
        let leftovers: Vec<_> = fs::read_dir(f.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_valid_archive_is_reused_and_a_damaged_one_rebuilt() {
        let f = fixture();
        let dest = archive_path(&f.dir.path().join("state"), "app", &f.sha);
        let first = f.mirror.write_archive(&f.sha, &dest).unwrap();
        let inode = fs::metadata(&dest).unwrap().ino();
        assert!(sidecar_path(&dest).exists());

        let again = f.mirror.write_archive(&f.sha, &dest).unwrap();
        assert_eq!(again, first);
        assert_eq!(
            fs::metadata(&dest).unwrap().ino(),
            inode,
            "archive was rebuilt"
        );

        fs::write(&dest, b"truncated").unwrap();
        let rebuilt = f.mirror.write_archive(&f.sha, &dest).unwrap();
        assert_eq!(rebuilt, first);
        assert_eq!(fs::metadata(&dest).unwrap().len(), first.bytes);
        assert_eq!(read_tar(&dest).len(), 8);
    }

    #[test]
    fn a_sidecar_for_another_commit_is_not_trusted() {
        let f = fixture();
        let dest = f.dir.path().join("app.tar");
        let parent = f.mirror.resolve(&format!("{}^", f.sha)).unwrap().sha;
        let old = f.mirror.write_archive(&parent, &dest).unwrap();
        assert_eq!(old.files.len(), 1);
        let new = f.mirror.write_archive(&f.sha, &dest).unwrap();
        assert_eq!(new.files.len(), 4);
        assert_eq!(read_tar(&dest).len(), 8);
    }

    #[test]
    fn an_unknown_commit_is_not_archived() {
        let f = fixture();
        let dest = f.dir.path().join("x.tar");
        assert!(matches!(
            f.mirror.write_archive(&"0".repeat(40), &dest),
            Err(SourceError::NotFound { .. })
        ));
        assert!(!dest.exists());
    }
}
