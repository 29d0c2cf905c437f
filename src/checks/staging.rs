//! The `on-staging` check: the commit is what the journal says is live on the environment named
//! by `on_staging` (the newest succeeded deploy or rollback there, or one that went live there and
//! only removes old releases now).

use super::CheckInput;

pub(super) async fn check(input: &CheckInput<'_>) -> Result<(), String> {
    let staging = input.env.checks.on_staging.as_str();
    // A deploy the room was told is live there counts, though it still removes old releases.
    let live = crate::engine::live_now(input.journal, input.app(), staging)
        .await
        .map_err(|e| format!("cannot tell what is live on {staging}: {e}"))?;
    let live_sha = live.as_ref().and_then(|record| record.revision.as_deref());
    if live_sha == Some(input.revision.sha) {
        return Ok(());
    }
    let (app, short) = (input.app(), input.revision.short);
    let runs = match live_sha {
        Some(sha) => format!("{staging} runs {}", &sha[..sha.len().min(7)]),
        None => format!("nothing is live on {staging} yet"),
    };
    Err(format!(
        "{short} is not live on {staging} ({runs}); deploy it there first: deploy {app}/{short} to {staging}"
    ))
}
