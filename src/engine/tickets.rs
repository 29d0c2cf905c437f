//! What the tracker adds to a plan: ticket details for the changesets, the tracker's own changeset log, a link to the full list.

use super::plan::{ChangesetLine, Plan, TicketInfo};
use crate::tracker::{Tracker, ticket_refs};

/// Looks up the tickets the plan's changesets name (one request), within the tracker's timeout.
/// When details cannot be had, the plan carries one notice saying why; with `required` that is
/// an error instead.
pub async fn annotate(plan: &mut Plan, tracker: &Tracker, required: bool) -> Result<(), String> {
    if let Some(previous) = &plan.previous {
        plan.full_list_url = tracker.log_url(&plan.revision.sha, &previous.sha);
    }
    let mut ids: Vec<u32> = plan
        .changesets
        .iter()
        .flat_map(|c| c.tickets.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let lookup = tracker.lookup(&ids).await;
    if let Some(notice) = lookup.notice() {
        if required {
            return Err(notice);
        }
        plan.notices.push(notice);
    }
    for (id, t) in lookup.tickets {
        plan.tickets.insert(
            id,
            TicketInfo {
                id,
                summary: t.summary,
                status: t.status,
                resolution: t.resolution,
            },
        );
    }
    Ok(())
}

/// The changesets after `old` up to `new` as the tracker's log lists them, for playbooks that
/// say `changesets = "tracker"`.
pub async fn from_tracker_log(
    tracker: &Tracker,
    new: &str,
    old: &str,
) -> Result<Vec<ChangesetLine>, String> {
    let logged = tracker.log(new, old).await.map_err(|e| e.to_string())?;
    Ok(logged
        .into_iter()
        .map(|c| {
            let (name, email) = match c.author.split_once(" <") {
                Some((name, rest)) => (name.to_string(), rest.trim_end_matches('>').to_string()),
                None => (c.author.clone(), String::new()),
            };
            ChangesetLine {
                short: c.sha.chars().take(7).collect(),
                sha: c.sha.clone(),
                author: name,
                email,
                subject: c.message.lines().next().unwrap_or("").to_string(),
                tickets: ticket_refs(&c.message),
            }
        })
        .collect())
}
