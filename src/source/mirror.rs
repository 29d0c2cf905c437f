//! The local bare mirror of an app's repository: create it, fetch into it, record the origin's HEAD.

use std::fmt;
use std::path::{Path, PathBuf};

use git2::{AutotagOption, FetchOptions, FetchPrune, Oid, Repository};

use super::SourceError;

/// Branches and tags are mirrored exactly; refs the origin deleted are pruned.
const HEADS: &str = "+refs/heads/*:refs/heads/*";
const TAGS: &str = "+refs/tags/*:refs/tags/*";
/// The origin's HEAD, kept under a ref of our own so that a detached HEAD's commit (one on no
/// branch, as in a working checkout) is fetched and stays reachable.
const ORIGIN_HEAD: &str = "refs/bosun/origin-head";

/// A bare mirror of one app's repository under bosun's state directory,
/// `<state_dir>/mirrors/<app>.git`. All its methods block: call them from `spawn_blocking`.
pub struct Mirror {
    pub(super) repo: Repository,
    path: PathBuf,
    app: String,
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("app", &self.app)
            .field("path", &self.path)
            .finish()
    }
}

impl Mirror {
    /// Where the mirror of `app` lives: `<state_dir>/mirrors/<app>.git`.
    pub fn mirror_path(state_dir: &Path, app: &str) -> PathBuf {
        state_dir.join("mirrors").join(format!("{app}.git"))
    }

    /// Creates the mirror if it is missing, then fetches every branch and tag from `url` (a
    /// local path or `file://` URL), pruning what the origin deleted, and points the mirror's
    /// `HEAD` where the origin's `HEAD` points.
    pub fn sync(state_dir: &Path, app: &str, url: &str) -> Result<Mirror, SourceError> {
        check_app(app)?;
        check_url(url)?;
        let path = Self::mirror_path(state_dir, app);
        let repo = if path.exists() {
            Repository::open_bare(&path)?
        } else {
            let parent = path.parent().unwrap_or(state_dir);
            std::fs::create_dir_all(parent).map_err(SourceError::io(parent))?;
            Repository::init_bare(&path)?
        };
        let mirror = Mirror {
            repo,
            path,
            app: app.to_owned(),
        };
        mirror.fetch(url)?;
        Ok(mirror)
    }

    /// Opens an existing mirror without fetching (for queries between deploys).
    pub fn open(state_dir: &Path, app: &str) -> Result<Mirror, SourceError> {
        check_app(app)?;
        let path = Self::mirror_path(state_dir, app);
        let repo = Repository::open_bare(&path)?;
        Ok(Mirror {
            repo,
            path,
            app: app.to_owned(),
        })
    }

    /// Fetches from `url` into this mirror (what `sync` does after opening it).
    pub fn fetch(&self, url: &str) -> Result<(), SourceError> {
        check_url(url)?;
        let fetch_err = |source| SourceError::Fetch {
            url: url.to_owned(),
            source,
        };
        let mut remote = self.repo.remote_anonymous(url).map_err(fetch_err)?;
        let mut options = FetchOptions::new();
        options
            .prune(FetchPrune::On)
            .download_tags(AutotagOption::None)
            .update_fetchhead(false);
        let head_spec = format!("+HEAD:{ORIGIN_HEAD}");
        remote
            .fetch(&[HEADS, TAGS, head_spec.as_str()], Some(&mut options), None)
            .map_err(fetch_err)?;
        let origin_head = remote
            .list()
            .map_err(fetch_err)?
            .iter()
            .find(|head| head.name() == "HEAD")
            .map(|head| (head.oid(), head.symref_target().map(str::to_owned)));
        match origin_head {
            Some((oid, symref)) => self.record_head(oid, symref.as_deref()),
            None => {
                // An empty origin: nothing to point at, and no stale HEAD ref to keep.
                if let Ok(mut stale) = self.repo.find_reference(ORIGIN_HEAD) {
                    stale.delete()?;
                }
                Ok(())
            }
        }
    }

    /// The mirror's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The app this mirror belongs to.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Points `HEAD` at the origin's branch when the origin's HEAD is a branch we mirrored,
    /// else detaches it at the origin's HEAD commit.
    fn record_head(&self, oid: Oid, symref: Option<&str>) -> Result<(), SourceError> {
        let on_branch = symref.filter(|target| {
            target.starts_with("refs/heads/")
                && self
                    .repo
                    .refname_to_id(target)
                    .is_ok_and(|branch_tip| branch_tip == oid)
        });
        match on_branch {
            Some(branch) => self.repo.set_head(branch)?,
            None => self.repo.set_head_detached(oid)?,
        }
        Ok(())
    }
}

fn check_app(app: &str) -> Result<(), SourceError> {
    let usable = !app.is_empty()
        && !app.starts_with('.')
        && app
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if usable {
        Ok(())
    } else {
        Err(SourceError::InvalidApp {
            app: app.to_owned(),
        })
    }
}

/// Only local origins: git2 is built without network transports.
fn check_url(url: &str) -> Result<(), SourceError> {
    let unsupported = if let Some((scheme, _)) = url.split_once("://") {
        scheme != "file"
    } else {
        // scp-like `host:path` (a colon before any slash) is ssh.
        url.find(':')
            .is_some_and(|colon| url.find('/').is_none_or(|slash| colon < slash))
    };
    if unsupported || url.is_empty() {
        Err(SourceError::UnsupportedUrl {
            url: url.to_owned(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::TestRepo;

    fn origin_with_two_branches(dir: &Path) -> (TestRepo, String, String) {
        let origin = TestRepo::new(&dir.join("origin"));
        let first = origin.commit("Ann", "ann@example.org", "First", &[("a.txt", "a")]);
        origin.branch("old", &first);
        let second = origin.commit("Ann", "ann@example.org", "Second", &[("b.txt", "b")]);
        (origin, first, second)
    }

    fn head_sha(mirror: &Mirror) -> String {
        mirror
            .repo
            .head()
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .id()
            .to_string()
    }

    #[test]
    fn sync_creates_a_bare_mirror_of_branches_tags_and_head() {
        let dir = tempfile::tempdir().unwrap();
        let (origin, first, second) = origin_with_two_branches(dir.path());
        origin.tag("v1.0", &first, true);
        let state = dir.path().join("state");
        let mirror = Mirror::sync(&state, "blog", origin.path().to_str().unwrap()).unwrap();
        assert_eq!(mirror.path(), state.join("mirrors/blog.git"));
        assert!(mirror.repo.is_bare());
        let id = |name: &str| mirror.repo.refname_to_id(name).unwrap().to_string();
        assert_eq!(id("refs/heads/main"), second);
        assert_eq!(id("refs/heads/old"), first);
        assert_eq!(
            mirror
                .repo
                .find_reference("refs/tags/v1.0")
                .unwrap()
                .peel_to_commit()
                .unwrap()
                .id()
                .to_string(),
            first
        );
        assert_eq!(
            mirror.repo.head().unwrap().name().ok(),
            Some("refs/heads/main")
        );
        assert_eq!(head_sha(&mirror), second);
    }

    #[test]
    fn resync_picks_up_new_commits_tags_and_deleted_branches() {
        let dir = tempfile::tempdir().unwrap();
        let (origin, _first, _second) = origin_with_two_branches(dir.path());
        let state = dir.path().join("state");
        let url = format!("file://{}", origin.path().display());
        Mirror::sync(&state, "blog", &url).unwrap();

        let third = origin.commit("Bob", "bob@example.org", "Third", &[("c.txt", "c")]);
        origin.tag("v2.0", &third, false);
        origin.delete_branch("old");
        let mirror = Mirror::sync(&state, "blog", &url).unwrap();
        assert_eq!(
            mirror
                .repo
                .refname_to_id("refs/heads/main")
                .unwrap()
                .to_string(),
            third
        );
        assert_eq!(
            mirror
                .repo
                .refname_to_id("refs/tags/v2.0")
                .unwrap()
                .to_string(),
            third
        );
        assert!(mirror.repo.find_reference("refs/heads/old").is_err());
        assert_eq!(head_sha(&mirror), third);
    }

    #[test]
    fn head_follows_a_checkout_on_another_branch() {
        let dir = tempfile::tempdir().unwrap();
        let (origin, first, _second) = origin_with_two_branches(dir.path());
        origin.set_head("old");
        let state = dir.path().join("state");
        let mirror = Mirror::sync(&state, "bosun", origin.path().to_str().unwrap()).unwrap();
        assert_eq!(
            mirror.repo.head().unwrap().name().ok(),
            Some("refs/heads/old")
        );
        assert_eq!(head_sha(&mirror), first);
    }

    #[test]
    fn head_follows_a_detached_checkout_on_no_branch() {
        let dir = tempfile::tempdir().unwrap();
        let (origin, _first, second) = origin_with_two_branches(dir.path());
        origin.detach(&second);
        let loose = origin.commit("Ann", "ann@example.org", "Work in progress", &[("d", "d")]);
        let state = dir.path().join("state");
        let mirror = Mirror::sync(&state, "bosun", origin.path().to_str().unwrap()).unwrap();
        assert!(mirror.repo.head_detached().unwrap());
        assert_eq!(head_sha(&mirror), loose);
        // Kept reachable from a ref of the mirror's own, not only present by chance.
        assert_eq!(
            mirror.repo.refname_to_id(ORIGIN_HEAD).unwrap().to_string(),
            loose
        );
        // Back on a branch: HEAD follows again.
        origin.set_head("main");
        let mirror = Mirror::sync(&state, "bosun", origin.path().to_str().unwrap()).unwrap();
        assert_eq!(
            mirror.repo.head().unwrap().name().ok(),
            Some("refs/heads/main")
        );
        assert_eq!(head_sha(&mirror), second);
    }

    #[test]
    fn an_empty_origin_gives_an_empty_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let state = dir.path().join("state");
        let mirror = Mirror::sync(&state, "new", origin.path().to_str().unwrap()).unwrap();
        assert!(matches!(
            mirror.resolve("HEAD"),
            Err(SourceError::NotFound { .. })
        ));
        let first = origin.commit("Ann", "ann@example.org", "First", &[("a", "1")]);
        let mirror = Mirror::sync(&state, "new", origin.path().to_str().unwrap()).unwrap();
        assert_eq!(mirror.resolve("HEAD").unwrap().sha, first);
    }

    #[test]
    fn open_finds_an_existing_mirror_only() {
        let dir = tempfile::tempdir().unwrap();
        let (origin, _first, second) = origin_with_two_branches(dir.path());
        let state = dir.path().join("state");
        assert!(Mirror::open(&state, "blog").is_err());
        Mirror::sync(&state, "blog", origin.path().to_str().unwrap()).unwrap();
        let mirror = Mirror::open(&state, "blog").unwrap();
        assert_eq!(mirror.app(), "blog");
        assert_eq!(head_sha(&mirror), second);
    }

    #[test]
    fn network_urls_and_bad_app_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "https://example.org/x.git",
            "ssh://git@example.org/x",
            "git@example.org:x.git",
            "",
        ] {
            assert!(
                matches!(
                    Mirror::sync(dir.path(), "blog", url),
                    Err(SourceError::UnsupportedUrl { .. })
                ),
                "{url}"
            );
        }
        for app in ["", "../x", "a/b", ".hidden"] {
            assert!(
                matches!(
                    Mirror::sync(dir.path(), app, "/nonexistent"),
                    Err(SourceError::InvalidApp { .. })
                ),
                "{app}"
            );
        }
        assert!(matches!(
            Mirror::sync(dir.path(), "blog", "/nonexistent/repo"),
            Err(SourceError::Fetch { .. })
        ));
    }

    #[test]
    fn mirror_is_send() {
        fn check<T: Send>() {}
        check::<Mirror>();
    }
}
