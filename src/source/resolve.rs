//! Resolving what a person typed (branch, tag, `HEAD`, sha, abbreviated sha) to exactly one commit.

use git2::{ErrorCode, ObjectType, Oid, Reference};
use serde::{Deserialize, Serialize};

use super::near::near_names;
use super::{Mirror, SourceError};

/// Shortest abbreviated sha accepted (libgit2's minimum).
const MIN_PREFIX: usize = 4;
/// Length of `Revision::short` and of the short shas in messages.
pub(super) const SHORT: usize = 7;

/// One commit, as resolved from a reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The full sha, 40 lowercase hex digits.
    pub sha: String,
    /// The first 7 hex digits of `sha`.
    pub short: String,
    /// A tag pointing at this commit: the one asked for if it was a tag, else the one
    /// [`Mirror::tag_of`] picks.
    pub tag: Option<String>,
    /// The reference exactly as asked.
    pub reference: String,
    /// The first line of the commit message.
    pub subject: String,
}

/// What a reference matched, before deciding whether it is one commit.
struct Match {
    what: Kind,
    commit: Oid,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Branch,
    Tag,
    Ref,
    Sha,
}

impl Mirror {
    /// Resolves a branch, tag (annotated or light), `HEAD`, full ref name, full or abbreviated
    /// (at least 4 hex digits) sha, or a revision expression containing `~` or `^`, to exactly
    /// one commit. A name that is both a branch and a tag (or a sha prefix) is accepted only if
    /// they agree.
    pub fn resolve(&self, reference: &str) -> Result<Revision, SourceError> {
        let (commit, asked_tag) = self.commit_id(reference)?;
        let found = self.repo.find_commit(commit)?;
        let tag = match asked_tag {
            Some(tag) => Some(tag),
            None => self.best_tag(commit)?,
        };
        let sha = commit.to_string();
        Ok(Revision {
            short: sha[..SHORT].to_owned(),
            sha,
            tag,
            reference: reference.to_owned(),
            subject: subject_of(&found),
        })
    }

    /// Whether the mirror has the commit `sha` (full, or an unambiguous abbreviation).
    pub fn contains(&self, sha: &str) -> bool {
        matches!(self.commit_by_sha(sha), Ok(Some(_)))
    }

    /// The commit `reference` names, and the tag name if it named a tag.
    pub(super) fn commit_id(&self, reference: &str) -> Result<(Oid, Option<String>), SourceError> {
        if reference == "HEAD" {
            return match self.repo.head() {
                Ok(head) => Ok((self.peel(&head, reference)?, None)),
                Err(e) if is_absent(&e) => Err(self.not_found(reference)),
                Err(e) => Err(e.into()),
            };
        }
        let mut matches = Vec::new();
        for (prefix, what) in [
            ("refs/heads/", Kind::Branch),
            ("refs/tags/", Kind::Tag),
            ("", Kind::Ref),
        ] {
            if what == Kind::Ref && !reference.starts_with("refs/") {
                continue;
            }
            if let Some(commit) = self.named(&format!("{prefix}{reference}"), reference)? {
                matches.push(Match { what, commit });
            }
        }
        if let Some(commit) = self.commit_by_sha(reference)? {
            matches.push(Match {
                what: Kind::Sha,
                commit,
            });
        }
        let Some(first) = matches.first() else {
            return self.expression(reference);
        };
        if matches.iter().any(|m| m.commit != first.commit) {
            return Err(SourceError::Ambiguous {
                reference: reference.to_owned(),
                candidates: matches
                    .iter()
                    .map(|m| self.describe(m, reference))
                    .collect(),
            });
        }
        let tag = matches
            .iter()
            .any(|m| m.what == Kind::Tag)
            .then(|| reference.to_owned());
        Ok((first.commit, tag))
    }

    /// The commit a hex string abbreviates: `None` if it is not hex of a usable length or
    /// matches nothing, an error if it matches several commits.
    pub(super) fn commit_by_sha(&self, sha: &str) -> Result<Option<Oid>, SourceError> {
        let hex = sha.len() >= MIN_PREFIX
            && sha.len() <= 40
            && sha.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            return Ok(None);
        }
        match self.repo.find_object_by_prefix(sha, None) {
            Ok(object) => match object.peel(ObjectType::Commit) {
                Ok(commit) => Ok(Some(commit.id())),
                Err(_) => Ok(None),
            },
            Err(e) if e.code() == ErrorCode::Ambiguous => {
                let commits = self.commits_with_prefix(sha)?;
                match commits.as_slice() {
                    [] => Ok(None),
                    [one] => Ok(Some(*one)),
                    several => Err(SourceError::Ambiguous {
                        reference: sha.to_owned(),
                        candidates: several
                            .iter()
                            .map(|oid| self.short_and_subject(*oid))
                            .collect(),
                    }),
                }
            }
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every commit whose sha, or whose annotated tag's sha, starts with `prefix`. A full scan
    /// of the object database: only used once libgit2 has said the prefix is ambiguous.
    fn commits_with_prefix(&self, prefix: &str) -> Result<Vec<Oid>, SourceError> {
        let prefix = prefix.to_ascii_lowercase();
        let mut objects = Vec::new();
        self.repo.odb()?.foreach(|oid| {
            if oid.to_string().starts_with(&prefix) {
                objects.push(*oid);
            }
            true
        })?;
        let mut commits: Vec<Oid> = objects
            .into_iter()
            .filter_map(|oid| {
                let object = self.repo.find_object(oid, None).ok()?;
                object.peel(ObjectType::Commit).ok().map(|c| c.id())
            })
            .collect();
        commits.sort_unstable();
        commits.dedup();
        Ok(commits)
    }

    /// The commit a full ref name leads to, if the ref exists.
    fn named(&self, full: &str, reference: &str) -> Result<Option<Oid>, SourceError> {
        if !Reference::is_valid_name(full) {
            return Ok(None);
        }
        match self.repo.find_reference(full) {
            Ok(found) => self.peel(&found, reference).map(Some),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn peel(&self, found: &Reference<'_>, reference: &str) -> Result<Oid, SourceError> {
        found
            .peel(ObjectType::Commit)
            .map(|commit| commit.id())
            .map_err(|_| SourceError::NotACommit {
                reference: reference.to_owned(),
            })
    }

    /// Revision expressions (`main~2`, `v1.0^`); anything else is not found.
    fn expression(&self, reference: &str) -> Result<(Oid, Option<String>), SourceError> {
        if !reference.contains(['~', '^']) {
            return Err(self.not_found(reference));
        }
        match self.repo.revparse_single(reference) {
            Ok(object) => match object.peel(ObjectType::Commit) {
                Ok(commit) => Ok((commit.id(), None)),
                Err(_) => Err(SourceError::NotACommit {
                    reference: reference.to_owned(),
                }),
            },
            Err(e) if e.code() == ErrorCode::Ambiguous => Err(SourceError::Ambiguous {
                reference: reference.to_owned(),
                candidates: Vec::new(),
            }),
            Err(_) => Err(self.not_found(reference)),
        }
    }

    fn not_found(&self, reference: &str) -> SourceError {
        let names: Vec<String> = ["refs/heads/*", "refs/tags/*"]
            .iter()
            .filter_map(|glob| self.repo.references_glob(glob).ok())
            .flat_map(|refs| {
                refs.filter_map(|r| r.ok().and_then(|r| r.shorthand().ok().map(str::to_owned)))
                    .collect::<Vec<_>>()
            })
            .collect();
        SourceError::NotFound {
            reference: reference.to_owned(),
            hint: near_names(reference, names.iter().map(String::as_str)),
        }
    }

    fn describe(&self, found: &Match, reference: &str) -> String {
        let commit = self.short_and_subject(found.commit);
        match found.what {
            Kind::Branch => format!("branch {reference} at {commit}"),
            Kind::Tag => format!("tag {reference} at {commit}"),
            Kind::Ref => format!("{reference} at {commit}"),
            Kind::Sha => format!("commit {commit}"),
        }
    }

    fn short_and_subject(&self, oid: Oid) -> String {
        let sha = oid.to_string();
        match self.repo.find_commit(oid) {
            Ok(commit) => format!("{} {}", &sha[..SHORT], subject_of(&commit)),
            Err(_) => sha[..SHORT].to_owned(),
        }
    }
}

pub(super) fn subject_of(commit: &git2::Commit<'_>) -> String {
    String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned()
}

fn is_absent(error: &git2::Error) -> bool {
    matches!(
        error.code(),
        ErrorCode::NotFound | ErrorCode::UnbornBranch | ErrorCode::InvalidSpec
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::TestRepo;
    use std::path::Path;

    struct Fixture {
        _dir: tempfile::TempDir,
        origin: TestRepo,
        mirror: Mirror,
        first: String,
        second: String,
        third: String,
    }

    /// main: first ← second ← third; v1.0 annotated on first, v1.1 light on second;
    /// `feature` at second; the origin is checked out on `feature`.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let first = origin.commit("Ann", "ann@example.org", "First\n\nbody", &[("a", "1")]);
        let second = origin.commit("Bob", "bob@example.org", "Second", &[("a", "2")]);
        let third = origin.commit("Ann", "ann@example.org", "Third", &[("a", "3")]);
        origin.tag("v1.0", &first, true);
        origin.tag("v1.1", &second, false);
        origin.branch("feature", &second);
        origin.set_head("feature");
        let mirror = sync(dir.path(), &origin);
        Fixture {
            _dir: dir,
            origin,
            mirror,
            first,
            second,
            third,
        }
    }

    fn sync(dir: &Path, origin: &TestRepo) -> Mirror {
        Mirror::sync(&dir.join("state"), "app", origin.path().to_str().unwrap()).unwrap()
    }

    #[test]
    fn resolves_a_branch_with_the_tag_at_its_tip() {
        let f = fixture();
        let main = f.mirror.resolve("main").unwrap();
        assert_eq!(main.sha, f.third);
        assert_eq!(main.short, &f.third[..7]);
        assert_eq!(main.subject, "Third");
        assert_eq!(main.reference, "main");
        assert_eq!(main.tag, None);
        let feature = f.mirror.resolve("feature").unwrap();
        assert_eq!(feature.sha, f.second);
        assert_eq!(feature.tag.as_deref(), Some("v1.1"));
    }

    #[test]
    fn resolves_light_and_annotated_tags_to_their_commits() {
        let f = fixture();
        let light = f.mirror.resolve("v1.1").unwrap();
        assert_eq!(
            (light.sha.as_str(), light.tag.as_deref()),
            (f.second.as_str(), Some("v1.1"))
        );
        let annotated = f.mirror.resolve("v1.0").unwrap();
        assert_eq!(annotated.sha, f.first);
        assert_eq!(annotated.tag.as_deref(), Some("v1.0"));
        assert_eq!(annotated.subject, "First");
        let full = f.mirror.resolve("refs/tags/v1.0").unwrap();
        assert_eq!(full.sha, f.first);
    }

    #[test]
    fn head_is_the_origins_checked_out_branch() {
        let f = fixture();
        let head = f.mirror.resolve("HEAD").unwrap();
        assert_eq!(head.sha, f.second);
        assert_eq!(head.reference, "HEAD");
    }

    #[test]
    fn resolves_full_and_abbreviated_shas() {
        let f = fixture();
        assert_eq!(f.mirror.resolve(&f.third).unwrap().sha, f.third);
        assert_eq!(f.mirror.resolve(&f.first[..10]).unwrap().sha, f.first);
        assert_eq!(
            f.mirror.resolve(&f.first[..10].to_uppercase()).unwrap().sha,
            f.first
        );
        assert!(f.mirror.contains(&f.first));
        assert!(f.mirror.contains(&f.first[..7]));
        assert!(!f.mirror.contains(&"0".repeat(40)));
        assert!(!f.mirror.contains("main"));
        assert!(matches!(
            f.mirror.resolve(&"0".repeat(40)),
            Err(SourceError::NotFound { .. })
        ));
    }

    #[test]
    fn resolves_ancestry_expressions() {
        let f = fixture();
        assert_eq!(f.mirror.resolve("main~2").unwrap().sha, f.first);
        assert_eq!(f.mirror.resolve("main^").unwrap().sha, f.second);
        assert!(matches!(
            f.mirror.resolve("main~9"),
            Err(SourceError::NotFound { .. })
        ));
    }

    #[test]
    fn unknown_names_get_near_names_as_hints() {
        let f = fixture();
        match f.mirror.resolve("v1.2") {
            Err(SourceError::NotFound { reference, hint }) => {
                assert_eq!(reference, "v1.2");
                assert_eq!(hint, ["v1.0", "v1.1"]);
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        match f.mirror.resolve("featur") {
            Err(SourceError::NotFound { hint, .. }) => assert_eq!(hint, ["feature"]),
            other => panic!("expected NotFound, got {other:?}"),
        }
        match f.mirror.resolve("bad name with spaces") {
            Err(SourceError::NotFound { hint, .. }) => assert!(hint.is_empty()),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[test]
    fn a_prefix_of_several_commits_is_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let mut seen = std::collections::HashMap::new();
        let (a, b) = loop {
            let n = seen.len();
            let sha = origin.commit("Ann", "ann@example.org", &format!("Commit {n}"), &[]);
            if let Some(other) = seen.insert(sha[..4].to_owned(), sha.clone()) {
                break (other, sha);
            }
            assert!(seen.len() < 5000, "no shared prefix in 5000 commits");
        };
        let mirror = sync(dir.path(), &origin);
        match mirror.resolve(&a[..4]) {
            Err(SourceError::Ambiguous {
                reference,
                candidates,
            }) => {
                assert_eq!(reference, a[..4]);
                assert_eq!(candidates.len(), 2, "{candidates:?}");
                for sha in [&a, &b] {
                    assert!(
                        candidates
                            .iter()
                            .any(|c| c.starts_with(&sha[..7]) && c.contains("Commit ")),
                        "{candidates:?} lacks {sha}"
                    );
                }
            }
            other => panic!("expected Ambiguous, got {other:?}"),
        }
        assert!(!mirror.contains(&a[..4]));
        assert_eq!(mirror.resolve(&a).unwrap().sha, a);
    }

    #[test]
    fn a_branch_and_a_tag_of_one_name_must_agree() {
        let f = fixture();
        f.origin.tag("feature", &f.first, false);
        f.origin.tag("main", &f.third, true);
        let mirror = sync(f._dir.path(), &f.origin);
        match mirror.resolve("feature") {
            Err(SourceError::Ambiguous { candidates, .. }) => {
                assert_eq!(
                    candidates,
                    [
                        format!("branch feature at {} Second", &f.second[..7]),
                        format!("tag feature at {} First", &f.first[..7]),
                    ]
                );
            }
            other => panic!("expected Ambiguous, got {other:?}"),
        }
        let main = mirror.resolve("main").unwrap();
        assert_eq!(
            (main.sha.as_str(), main.tag.as_deref()),
            (f.third.as_str(), Some("main"))
        );
    }
}
