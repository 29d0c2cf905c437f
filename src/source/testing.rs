//! Test helper: small git repositories built with git2 in a directory, with a deterministic clock.
//!
//! Not part of bosun's interface; public so that integration tests can make origins such as
//! "three commits by two authors, one tag". Every method panics on failure (it is for tests).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use git2::build::{CheckoutBuilder, TreeUpdateBuilder};
use git2::{FileMode, Oid, Repository, RepositoryInitOptions, Signature, Time};

/// The first commit's time; each commit or annotated tag is one minute later than the last.
const EPOCH: i64 = 1_700_000_000;
const TICK: i64 = 60;

/// One change in a commit made by [`TestRepo::commit_entries`].
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A regular file (mode 0644): path, content.
    File(&'a str, &'a str),
    /// An executable file (mode 0755): path, content.
    Executable(&'a str, &'a str),
    /// A symbolic link: path, target.
    Symlink(&'a str, &'a str),
    /// A submodule (gitlink): path, commit sha (need not exist here).
    Submodule(&'a str, &'a str),
    /// Removes a file.
    Remove(&'a str),
}

/// A non-bare repository whose branch `main` starts unborn. Commits go onto whatever `HEAD`
/// is (a branch or detached) and the working tree is checked out after each one.
pub struct TestRepo {
    repo: Repository,
    path: PathBuf,
    clock: Cell<i64>,
}

impl TestRepo {
    /// Creates a repository at `dir` (created if missing) with `HEAD` on an unborn `main`.
    pub fn new(dir: &Path) -> TestRepo {
        let mut options = RepositoryInitOptions::new();
        options.initial_head("main").mkpath(true);
        let repo = Repository::init_opts(dir, &options).expect("init test repository");
        TestRepo {
            repo,
            path: dir.to_path_buf(),
            clock: Cell::new(EPOCH),
        }
    }

    /// The working directory (usable as a fetch URL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying repository, for anything the helper does not offer.
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Commits regular files (added or replaced) on top of `HEAD`; returns the new sha.
    pub fn commit(
        &self,
        author_name: &str,
        author_email: &str,
        message: &str,
        files: &[(&str, &str)],
    ) -> String {
        let entries: Vec<Entry<'_>> = files
            .iter()
            .map(|&(path, content)| Entry::File(path, content))
            .collect();
        self.commit_entries(author_name, author_email, message, &entries)
    }

    /// Commits any kind of change on top of `HEAD`; returns the new sha.
    pub fn commit_entries(
        &self,
        author_name: &str,
        author_email: &str,
        message: &str,
        entries: &[Entry<'_>],
    ) -> String {
        let parent = self.head_commit();
        let baseline = match &parent {
            Some(commit) => commit.tree().expect("parent tree"),
            None => {
                let empty = self.repo.treebuilder(None).expect("treebuilder");
                let id = empty.write().expect("write empty tree");
                self.repo.find_tree(id).expect("empty tree")
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for entry in entries {
            match *entry {
                Entry::File(path, content) => {
                    update.upsert(path, self.blob(content.as_bytes()), FileMode::Blob)
                }
                Entry::Executable(path, content) => update.upsert(
                    path,
                    self.blob(content.as_bytes()),
                    FileMode::BlobExecutable,
                ),
                Entry::Symlink(path, target) => {
                    update.upsert(path, self.blob(target.as_bytes()), FileMode::Link)
                }
                Entry::Submodule(path, sha) => {
                    update.upsert(path, Oid::from_str(sha).expect("sha"), FileMode::Commit)
                }
                Entry::Remove(path) => update.remove(path),
            };
        }
        let tree_id = update
            .create_updated(&self.repo, &baseline)
            .expect("update tree");
        let tree = self.repo.find_tree(tree_id).expect("tree");
        let parents: Vec<git2::Commit<'_>> = parent.into_iter().collect();
        let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let signature = self.signature(author_name, author_email);
        let id = self
            .repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parent_refs,
            )
            .expect("commit");
        if tree_id != baseline.id() {
            self.checkout();
        }
        id.to_string()
    }

    /// Merges commit `other` into `HEAD` with a merge commit; returns its sha.
    pub fn merge(
        &self,
        author_name: &str,
        author_email: &str,
        message: &str,
        other: &str,
    ) -> String {
        let ours = self.head_commit().expect("HEAD to merge into");
        let theirs = self.find_commit(other);
        let mut index = self
            .repo
            .merge_commits(&ours, &theirs, None)
            .expect("merge");
        assert!(!index.has_conflicts(), "test merge has conflicts");
        let tree_id = index.write_tree_to(&self.repo).expect("merged tree");
        let tree = self.repo.find_tree(tree_id).expect("tree");
        let signature = self.signature(author_name, author_email);
        let id = self
            .repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &[&ours, &theirs],
            )
            .expect("merge commit");
        self.checkout();
        id.to_string()
    }

    /// Tags commit `sha` as `name` (replacing any tag of that name); annotated or light.
    pub fn tag(&self, name: &str, sha: &str, annotated: bool) {
        let target = self.find_commit(sha).into_object();
        if annotated {
            let tagger = self.signature("Tagger", "tagger@example.org");
            self.repo
                .tag(name, &target, &tagger, &format!("Release {name}"), true)
                .expect("annotated tag");
        } else {
            self.repo
                .tag_lightweight(name, &target, true)
                .expect("light tag");
        }
    }

    /// Creates or moves branch `name` to commit `sha`.
    pub fn branch(&self, name: &str, sha: &str) {
        self.repo
            .branch(name, &self.find_commit(sha), true)
            .expect("branch");
    }

    /// Deletes branch `name` (which must not be checked out).
    pub fn delete_branch(&self, name: &str) {
        self.repo
            .find_branch(name, git2::BranchType::Local)
            .expect("branch to delete")
            .delete()
            .expect("delete branch");
    }

    /// Checks out branch `name`: later commits go onto it.
    pub fn set_head(&self, branch: &str) {
        self.repo
            .set_head(&format!("refs/heads/{branch}"))
            .expect("set HEAD");
        self.checkout();
    }

    /// Detaches `HEAD` at commit `sha`: later commits are on no branch.
    pub fn detach(&self, sha: &str) {
        self.repo
            .set_head_detached(Oid::from_str(sha).expect("sha"))
            .expect("detach HEAD");
        self.checkout();
    }

    fn head_commit(&self) -> Option<git2::Commit<'_>> {
        self.repo
            .head()
            .ok()
            .map(|head| head.peel_to_commit().expect("HEAD points at a commit"))
    }

    fn find_commit(&self, sha: &str) -> git2::Commit<'_> {
        self.repo
            .find_commit(Oid::from_str(sha).expect("sha"))
            .expect("commit exists")
    }

    fn blob(&self, content: &[u8]) -> Oid {
        self.repo.blob(content).expect("write blob")
    }

    fn signature(&self, name: &str, email: &str) -> Signature<'static> {
        let now = self.clock.get();
        self.clock.set(now + TICK);
        Signature::new(name, email, &Time::new(now, 0)).expect("signature")
    }

    fn checkout(&self) {
        self.repo
            .checkout_head(Some(CheckoutBuilder::new().force().remove_untracked(true)))
            .expect("checkout");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_ordered_and_checked_out() {
        let dir = tempfile::tempdir().unwrap();
        let repo = TestRepo::new(dir.path());
        let first = repo.commit("Ann", "ann@example.org", "First", &[("dir/a.txt", "a")]);
        let second = repo.commit("Bob", "bob@example.org", "Second", &[("b.txt", "b")]);
        let git = repo.repo();
        let second_commit = git.find_commit(Oid::from_str(&second).unwrap()).unwrap();
        let first_commit = git.find_commit(Oid::from_str(&first).unwrap()).unwrap();
        assert_eq!(second_commit.parent_id(0).unwrap(), first_commit.id());
        assert_eq!(
            second_commit.time().seconds() - first_commit.time().seconds(),
            TICK
        );
        assert_eq!(second_commit.author().name().ok(), Some("Bob"));
        assert_eq!(git.head().unwrap().name().ok(), Some("refs/heads/main"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("dir/a.txt")).unwrap(),
            "a"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.txt")).unwrap(),
            "b"
        );
        assert!(git.statuses(None).unwrap().is_empty());
    }
}
