//! The checks that ask the app's mirror: `tag` (the commit carries a tag) and `pushed` (the
//! commit is on the origin's branch). git work runs on the blocking pool.

use std::path::PathBuf;

use git2::Repository;

use super::CheckInput;
use crate::source::{Mirror, SourceError};

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("internal error: {e}"))?
}

/// The `tag` check. The fix names the newest tag in the repository when there is one.
pub(super) async fn tag(input: &CheckInput<'_>) -> Result<(), String> {
    if input.revision.tag.is_some() {
        return Ok(());
    }
    let mirror = Mirror::mirror_path(input.state_dir, input.app());
    let newest = blocking(move || Ok(newest_tag(mirror))).await?;
    let (app, env, short) = (input.app(), &input.env.name, input.revision.short);
    Err(match newest {
        Some(tag) => format!("{short} carries no tag; deploy a tag: deploy {app}/{tag} to {env}"),
        None => format!(
            "{short} carries no tag, and the repository has none; tag a release and push the tag, \
             then deploy a tag: deploy {app}/TAG to {env}"
        ),
    })
}

/// The tag on the newest tagged commit (by commit time, then by name), if any.
fn newest_tag(mirror: PathBuf) -> Option<String> {
    let repo = Repository::open_bare(mirror).ok()?;
    let references = repo.references_glob("refs/tags/*").ok()?;
    references
        .filter_map(Result::ok)
        .filter_map(|reference| {
            let name = reference.shorthand().ok()?.to_string();
            let time = reference.peel_to_commit().ok()?.time().seconds();
            Some((time, name))
        })
        .max()
        .map(|(_, name)| name)
}

/// The `pushed` check: the commit is the branch's tip or in its history, in the mirror the
/// engine has just fetched.
pub(super) async fn pushed(input: &CheckInput<'_>) -> Result<(), String> {
    let branch = input.env.checks.branch.clone();
    let reference = if branch.starts_with("refs/") {
        branch.clone()
    } else {
        format!("refs/heads/{branch}")
    };
    let (state_dir, app, sha) = (
        input.state_dir.to_path_buf(),
        input.app().to_string(),
        input.revision.sha.to_string(),
    );
    let on_branch = blocking(move || {
        let mirror =
            Mirror::open(&state_dir, &app).map_err(|e| format!("cannot open the mirror: {e}"))?;
        match mirror.is_ancestor(&sha, &reference) {
            Ok(on) => Ok(Some(on)),
            Err(SourceError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    let short = input.revision.short;
    match on_branch {
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "{short} is not on {branch} in the origin; merge it into {branch} and push, then deploy again"
        )),
        None => Err(format!(
            "the origin has no branch {branch:?}; push it, or set branch = \"…\" for {}",
            input.env.name
        )),
    }
}
