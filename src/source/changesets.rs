//! What a deploy ships: the commits between two revisions, with authors as the mailmap names them.

use git2::{Mailmap, Sort};
use serde::{Deserialize, Serialize};

use super::resolve::{SHORT, subject_of};
use super::{Mirror, SourceError};

/// One commit being deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changeset {
    pub sha: String,
    pub short: String,
    /// The author as git records them, mapped through the repository's `.mailmap`.
    pub author_name: String,
    pub author_email: String,
    /// The first line of the message.
    pub subject: String,
    /// The whole message.
    pub message: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
}

impl Mirror {
    /// The commits reachable from `to` and not from `from` (all of `to`'s history when `from`
    /// is `None`: a first deploy), newest first in topological order, merges included.
    pub fn changesets(&self, from: Option<&str>, to: &str) -> Result<Vec<Changeset>, SourceError> {
        let (to, _) = self.commit_id(to)?;
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
        walk.push(to)?;
        if let Some(from) = from {
            let (from, _) = self.commit_id(from)?;
            walk.hide(from)?;
        }
        let mailmap = self.mailmap()?;
        let mut changesets = Vec::new();
        for oid in walk {
            let commit = self.repo.find_commit(oid?)?;
            let author = commit.author_with_mailmap(&mailmap)?;
            let sha = commit.id().to_string();
            changesets.push(Changeset {
                short: sha[..SHORT].to_owned(),
                sha,
                author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
                author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
                subject: subject_of(&commit),
                message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
                time: author.when().seconds(),
            });
        }
        Ok(changesets)
    }

    /// Whether `ancestor` is `descendant` or in its history.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, SourceError> {
        let (ancestor, _) = self.commit_id(ancestor)?;
        let (descendant, _) = self.commit_id(descendant)?;
        Ok(ancestor == descendant || self.repo.graph_descendant_of(descendant, ancestor)?)
    }

    /// The repository's mailmap. In a bare repository libgit2 reads `HEAD:.mailmap` (the
    /// `mailmap.blob` default), which in a mirror is the origin's HEAD: the newest mapping.
    fn mailmap(&self) -> Result<Mailmap, SourceError> {
        Ok(self.repo.mailmap()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::TestRepo;

    fn sync(dir: &std::path::Path, origin: &TestRepo) -> Mirror {
        Mirror::sync(&dir.join("state"), "app", origin.path().to_str().unwrap()).unwrap()
    }

    fn shas(changesets: &[Changeset]) -> Vec<&str> {
        changesets.iter().map(|c| c.sha.as_str()).collect()
    }

    #[test]
    fn changesets_between_two_revisions_and_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let first = origin.commit("Ann", "ann@example.org", "First", &[("a", "1")]);
        let second = origin.commit(
            "Bob",
            "bob@example.org",
            "Fix feed\n\nRefs #212",
            &[("a", "2")],
        );
        let third = origin.commit("Ann", "ann@example.org", "Third", &[("a", "3")]);
        origin.tag("v1.0", &first, true);
        let mirror = sync(dir.path(), &origin);

        let since = mirror.changesets(Some("v1.0"), "main").unwrap();
        assert_eq!(shas(&since), [third.as_str(), second.as_str()]);
        let fix = &since[1];
        assert_eq!(fix.short, &second[..7]);
        assert_eq!(
            (fix.author_name.as_str(), fix.author_email.as_str()),
            ("Bob", "bob@example.org")
        );
        assert_eq!(fix.subject, "Fix feed");
        assert_eq!(fix.message, "Fix feed\n\nRefs #212");
        assert!(since[0].time > fix.time);

        let everything = mirror.changesets(None, &third).unwrap();
        assert_eq!(
            shas(&everything),
            [third.as_str(), second.as_str(), first.as_str()]
        );
        assert!(mirror.changesets(Some("main"), "main").unwrap().is_empty());
        assert!(matches!(
            mirror.changesets(Some("nope"), "main"),
            Err(SourceError::NotFound { .. })
        ));
    }

    #[test]
    fn changesets_include_both_sides_of_a_merge() {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let base = origin.commit("Ann", "ann@example.org", "Base", &[("a", "1")]);
        let on_main = origin.commit("Ann", "ann@example.org", "On main", &[("a", "2")]);
        origin.branch("topic", &base);
        origin.set_head("topic");
        let on_topic = origin.commit("Bob", "bob@example.org", "On topic", &[("b", "1")]);
        origin.set_head("main");
        let merge = origin.merge("Ann", "ann@example.org", "Merge topic", &on_topic);
        let mirror = sync(dir.path(), &origin);

        let since = mirror.changesets(Some(&base), "main").unwrap();
        assert_eq!(since.len(), 3);
        assert_eq!(since[0].sha, merge);
        assert_eq!(since[0].subject, "Merge topic");
        let rest: std::collections::HashSet<&str> = shas(&since[1..]).into_iter().collect();
        assert_eq!(
            rest,
            [on_main.as_str(), on_topic.as_str()].into_iter().collect()
        );

        assert!(mirror.is_ancestor(&base, "main").unwrap());
        assert!(mirror.is_ancestor(&on_topic, &merge).unwrap());
        assert!(mirror.is_ancestor("main", "main").unwrap());
        assert!(!mirror.is_ancestor("main", &base).unwrap());
        assert!(!mirror.is_ancestor(&on_main, "topic").unwrap());
    }

    #[test]
    fn the_mailmap_of_the_origins_head_names_authors() {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let old = origin.commit("bobby", "bob@old.example", "Old work", &[("a", "1")]);
        origin.commit(
            "Ann",
            "ann@example.org",
            "Add mailmap",
            &[(
                ".mailmap",
                "Bob Builder <bob@example.org> bobby <bob@old.example>\n",
            )],
        );
        let mirror = sync(dir.path(), &origin);
        let all = mirror.changesets(None, "main").unwrap();
        let mapped = all.iter().find(|c| c.sha == old).unwrap();
        assert_eq!(mapped.author_name, "Bob Builder");
        assert_eq!(mapped.author_email, "bob@example.org");
        assert_eq!(all[0].author_name, "Ann");
    }
}
