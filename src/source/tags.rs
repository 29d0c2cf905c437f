//! Which tag names a commit: tags pointing at it, version-like ones preferred, highest version first.

use std::cmp::Ordering;

use git2::Oid;

use super::{Mirror, SourceError};

impl Mirror {
    /// The tag that names commit `sha` (full or abbreviated): its highest version-like tag
    /// (`v1.4.2`, `2.0`, `v2.0-rc1`), else the last of its other tags by name; `None` when
    /// no tag points at it or `sha` is not a commit here.
    pub fn tag_of(&self, sha: &str) -> Option<String> {
        let oid = self.commit_by_sha(sha).ok().flatten()?;
        self.best_tag(oid).ok().flatten()
    }

    pub(super) fn best_tag(&self, commit: Oid) -> Result<Option<String>, SourceError> {
        Ok(best_of(self.tags_at(commit)?))
    }

    /// Names of all tags, annotated or light, that peel to `commit`.
    fn tags_at(&self, commit: Oid) -> Result<Vec<String>, SourceError> {
        let mut names = Vec::new();
        for reference in self.repo.references_glob("refs/tags/*")? {
            let reference = reference?;
            let Ok(name) = reference.shorthand() else {
                continue;
            };
            if reference
                .peel_to_commit()
                .is_ok_and(|target| target.id() == commit)
            {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
}

/// The highest version-like name, else the last name in byte order.
pub(super) fn best_of(names: Vec<String>) -> Option<String> {
    names.into_iter().max_by(|a, b| compare(a, b))
}

/// Version-like names sort above the others and by version among themselves.
fn compare(a: &str, b: &str) -> Ordering {
    match (version_key(a), version_key(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// The sort key of a version-like tag: an optional `v`, dot-separated numbers, an optional
/// `-suffix` or `+suffix` (a pre-release, sorting below the plain release).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct VersionKey {
    numbers: Vec<u64>,
    release: bool,
    suffix: String,
}

fn version_key(tag: &str) -> Option<VersionKey> {
    let rest = tag
        .strip_prefix('v')
        .or_else(|| tag.strip_prefix('V'))
        .unwrap_or(tag);
    let (core, suffix) = match rest.find(['-', '+']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let numbers = core
        .split('.')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                part.parse::<u64>().ok()
            }
        })
        .collect::<Option<Vec<u64>>>()?;
    Some(VersionKey {
        numbers,
        release: suffix.is_none(),
        suffix: suffix.unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::TestRepo;

    fn best(names: &[&str]) -> Option<String> {
        best_of(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn versions_sort_numerically_with_prereleases_below() {
        assert_eq!(
            best(&["v1.9.0", "v1.10.0", "v1.2"]).as_deref(),
            Some("v1.10.0")
        );
        assert_eq!(best(&["v2.0-rc1", "v1.9"]).as_deref(), Some("v2.0-rc1"));
        assert_eq!(best(&["v2.0-rc1", "v2.0"]).as_deref(), Some("v2.0"));
        assert_eq!(best(&["zeta", "1.0"]).as_deref(), Some("1.0"));
        assert_eq!(best(&["alpha", "beta"]).as_deref(), Some("beta"));
        assert_eq!(best(&[]), None);
        assert!(version_key("v1..2").is_none());
        assert!(version_key("release").is_none());
    }

    #[test]
    fn tag_of_peels_annotated_and_light_tags() {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let first = origin.commit("Ann", "ann@example.org", "First", &[("a", "1")]);
        let second = origin.commit("Ann", "ann@example.org", "Second", &[("a", "2")]);
        origin.tag("v1.0", &first, true);
        origin.tag("v1.1", &first, false);
        origin.tag("deployed", &first, false);
        let state = dir.path().join("state");
        let mirror = Mirror::sync(&state, "app", origin.path().to_str().unwrap()).unwrap();
        assert_eq!(mirror.tag_of(&first).as_deref(), Some("v1.1"));
        assert_eq!(mirror.tag_of(&first[..8]).as_deref(), Some("v1.1"));
        assert_eq!(mirror.tag_of(&second), None);
        assert_eq!(mirror.tag_of("not-a-sha"), None);
    }
}
