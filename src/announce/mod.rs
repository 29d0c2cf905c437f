//! Turns plans, engine events, outcomes and journal records into the plain text the room reads.
//!
//! Nothing here knows a chat system: adapters escape this text for their own markup.

mod record;

pub use record::{QueuedLine, Status, export_text, page_link, releases_text, status_text};

use bosun_chat::clip;

use crate::clock::{format_utc, human_duration};
use crate::config::AnnounceSection;
use crate::engine::{EngineEvent, Failure, Plan, PlanKind, RunOutcome};
use crate::journal::{DeployKind, DeployRecord, DeployState, LockRecord};

/// Longest subject shown for one changeset.
const SUBJECT_CHARS: usize = 100;

/// The announcement made before anything is staged: who, what, where, and the changesets.
pub fn plan_announcement(
    who: &str,
    plan: &Plan,
    settings: &AnnounceSection,
    journal_id: i64,
    forced: bool,
) -> String {
    let mut out = String::new();
    let forced = if forced { " (forced)" } else { "" };
    match plan.kind {
        PlanKind::Deploy => {
            out.push_str(&format!(
                "{who} is deploying {} {} to {}{forced}",
                plan.app,
                plan.revision.describe(),
                plan.env
            ));
            match &plan.previous {
                Some(prev) => out.push_str(&format!(
                    " — {} since {}",
                    count(plan.changesets.len(), "changeset"),
                    prev.describe()
                )),
                None => out.push_str(&format!(
                    " — first deploy to {}, {} in its history",
                    plan.env,
                    count(plan.changesets.len(), "changeset")
                )),
            }
        }
        PlanKind::Rollback => {
            out.push_str(&format!(
                "{who} is rolling {} on {} back to {}{forced}",
                plan.app,
                plan.env,
                plan.revision.describe()
            ));
            if let Some(prev) = &plan.previous {
                out.push_str(&format!(
                    " — taking out {} of {}",
                    count(plan.changesets.len(), "changeset"),
                    prev.describe()
                ));
            }
        }
    }
    out.push_str(if plan.changesets.is_empty() { "." } else { ":" });
    out.push_str(&changeset_list(plan, settings));
    out.push_str(&migration_note(plan));
    let hosts: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
    out.push_str(&format!(
        "\n{}: {} · release {} · journal #{journal_id}",
        count(hosts.len(), "host"),
        hosts.join(", "),
        plan.release
    ));
    out
}

/// The changesets of a plan, one line each (cut at the configured count), then its notices.
fn changeset_list(plan: &Plan, settings: &AnnounceSection) -> String {
    let mut out = String::new();
    for c in plan.changesets.iter().take(settings.max_changesets) {
        out.push_str(&format!("\n• {} ", c.short));
        out.push_str(&c.author);
        if settings.show_email && !c.email.is_empty() {
            out.push_str(&format!(" <{}>", c.email));
        }
        out.push_str(&format!(": {}", clip(&c.subject, SUBJECT_CHARS)));
        for id in &c.tickets {
            match plan.tickets.get(id) {
                Some(t) if t.resolution.is_empty() => out.push_str(&format!(
                    " · #{id} \"{}\" ({})",
                    clip(&t.summary, 80),
                    t.status
                )),
                Some(t) => out.push_str(&format!(
                    " · #{id} \"{}\" ({}: {})",
                    clip(&t.summary, 80),
                    t.status,
                    t.resolution
                )),
                None => {}
            }
        }
    }
    if plan.changesets.len() > settings.max_changesets {
        out.push_str(&format!(
            "\n… and {} more",
            plan.changesets.len() - settings.max_changesets
        ));
        if let Some(url) = &plan.full_list_url {
            out.push_str(&format!(": {url}"));
        }
    }
    for notice in &plan.notices {
        out.push_str(&format!("\n({notice})"));
    }
    out
}

/// A line saying that a plan migrates the database, and how it would be undone.
fn migration_note(plan: &Plan) -> String {
    let migrations: Vec<&crate::engine::Step> = plan
        .steps
        .iter()
        .filter(|s| s.phase == crate::engine::Phase::Migrate && !matches!(&s.action, crate::engine::action::Action::Run { what, .. } if what == "backup"))
        .collect();
    let Some(first) = migrations.first() else {
        return String::new();
    };
    match plan.kind {
        PlanKind::Deploy => match first.undo.first() {
            Some(down) => format!(
                "\nthis deploy migrates: {} (undo: {})",
                first.action.label(),
                down.label()
            ),
            None => format!(
                "\nthis deploy migrates: {} — with no down migration, a rollback will need \"rollback!\"",
                first.action.label()
            ),
        },
        PlanKind::Rollback => format!(
            "\nthis rollback migrates down first: {}",
            first.action.label()
        ),
    }
}

/// `diff APP [to ENV]`: what a deploy would ship now.
pub fn diff_text(plan: &Plan, settings: &AnnounceSection) -> String {
    let mut text = format!(
        "{} to {} would ship {} ({})",
        plan.app,
        plan.env,
        plan.revision.describe(),
        plan.reference.as_deref().unwrap_or("-")
    );
    match &plan.previous {
        Some(prev) if prev.sha == plan.revision.sha => {
            return format!("{text}: it is already live, nothing to ship.");
        }
        Some(prev) => text.push_str(&format!(
            " — {} since {}",
            count(plan.changesets.len(), "changeset"),
            prev.describe()
        )),
        None => text.push_str(&format!(
            " — first deploy, {} in its history",
            count(plan.changesets.len(), "changeset")
        )),
    }
    text.push(':');
    text.push_str(&changeset_list(plan, settings));
    text.push_str(&migration_note(plan));
    text
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A line of progress (or a milestone, for failures) for an engine event.
pub fn event_text(env: &str, event: &EngineEvent) -> (bool, String) {
    match event {
        EngineEvent::Staged {
            hosts,
            delta,
            elapsed,
        } => (
            false,
            if *delta == 0 {
                format!(
                    "{env}: staged on {hosts}/{hosts} hosts ({})",
                    human_duration(*elapsed)
                )
            } else {
                format!(
                    "{env}: staged on {hosts}/{hosts} hosts ({}) · staged: {delta} delta, {} full",
                    human_duration(*elapsed),
                    hosts - delta
                )
            },
        ),
        EngineEvent::Migrated { hosts, elapsed } => (
            false,
            format!(
                "{env}: migrated on {} ({})",
                hosts.join(", "),
                human_duration(*elapsed)
            ),
        ),
        EngineEvent::BatchStarted {
            group,
            batch,
            batches,
            hosts,
        } => (
            false,
            format!(
                "{env}: switching {group} batch {batch}/{batches} ({}) …",
                hosts.join(", ")
            ),
        ),
        EngineEvent::BatchHealthy {
            group,
            batch,
            batches,
            hosts,
            elapsed,
        } => (
            false,
            format!(
                "{env}: {group} batch {batch}/{batches} healthy ({}) in {}",
                hosts.join(", "),
                human_duration(*elapsed)
            ),
        ),
        EngineEvent::Failed(failure) => (true, format!("{env}: {}", failure_text(failure))),
        EngineEvent::Undoing { steps } => (
            false,
            format!("{env}: undoing {}, newest first …", count(*steps, "step")),
        ),
        EngineEvent::Warning(text) => (false, format!("{env}: warning: {text}")),
        EngineEvent::Note(text) => (false, format!("{env}: {text}")),
        EngineEvent::Live { elapsed } => (
            false,
            format!(
                "{env}: live after {}; removing old releases …",
                human_duration(*elapsed)
            ),
        ),
        EngineEvent::CanaryWaiting { host } => (
            true,
            format!(
                "{env}: the canary {host} is switched and healthy; say \"continue\" to deploy the rest, or \"!rollback\" to undo it"
            ),
        ),
        EngineEvent::CanaryContinued { who } => (
            true,
            format!("{env}: {who} said continue; deploying the rest"),
        ),
    }
}

fn failure_text(failure: &Failure) -> String {
    let mut out = failure.describe();
    for line in failure.output_tail(5) {
        out.push_str("\n  | ");
        out.push_str(&clip(&line, 200));
    }
    out
}

/// The last word on a run: repeats what is live, so the last line in the room says it all.
pub fn outcome_text(plan: &Plan, outcome: &RunOutcome, journal_id: i64) -> String {
    let env = &plan.env;
    let hosts = count(plan.hosts.len(), "host");
    match (outcome, plan.kind) {
        (RunOutcome::Succeeded { elapsed }, PlanKind::Deploy) => format!(
            "{env}: {} {} is live on {hosts} in {}. Journal #{journal_id}.",
            plan.app,
            plan.revision.describe(),
            human_duration(*elapsed)
        ),
        (RunOutcome::Succeeded { elapsed }, PlanKind::Rollback) => format!(
            "{env}: {} is back on {} on {hosts} in {}. Journal #{journal_id}.",
            plan.app,
            plan.revision.describe(),
            human_duration(*elapsed)
        ),
        (
            RunOutcome::Undone {
                failure, undone, ..
            },
            kind,
        ) => {
            let still = match (&plan.previous, kind) {
                (_, PlanKind::Rollback) => {
                    format!("{} is still on {}", plan.app, previous_or(plan))
                }
                (Some(prev), PlanKind::Deploy) => {
                    format!("{} is still on {}", plan.app, prev.describe())
                }
                (None, PlanKind::Deploy) => format!("{} is still not deployed there", plan.app),
            };
            let (ended, why) = if failure.step == STOPPED {
                ("was stopped", failure.reason.clone())
            } else {
                ("failed", failure.describe())
            };
            format!(
                "{env}: {} of {} {} {ended} — {why}; undid {}, {still}. Journal #{journal_id}.",
                verb(kind),
                plan.app,
                plan.revision.describe(),
                count(*undone, "step")
            )
        }
        (RunOutcome::Fenced { reason, .. }, kind) => format!(
            "{env}: I stopped the {} of {} {} at once — {reason}. Another bot has taken it over and recovers it. Journal #{journal_id}.",
            verb(kind),
            plan.app,
            plan.revision.describe(),
        ),
        (
            RunOutcome::UndoFailed {
                failure, problems, ..
            },
            kind,
        ) => format!(
            "{env}: {} of {} {} FAILED and could not be fully undone — {}; undo problems: {}. The fleet needs a look. Journal #{journal_id}.",
            verb(kind),
            plan.app,
            plan.revision.describe(),
            failure.describe(),
            problems.join("; ")
        ),
    }
}

/// The `step` of a failure that is a stop (cancel, shutdown) rather than a step failing.
pub const STOPPED: &str = "stopped";

fn previous_or(plan: &Plan) -> String {
    plan.previous
        .as_ref()
        .map(|p| p.describe())
        .unwrap_or_else(|| "its current release".into())
}

fn verb(kind: PlanKind) -> &'static str {
    match kind {
        PlanKind::Deploy => "deploy",
        PlanKind::Rollback => "rollback",
    }
}

/// Why a request waits on a lock.
pub fn lock_refusal(app: &str, env: &str, lock: &LockRecord) -> String {
    match lock.deploy_id {
        Some(id) => format!(
            "{app} on {env} is busy: {} holds it for {} (journal #{id}) since {}.",
            lock.holder,
            lock.reason,
            format_utc(lock.since)
        ),
        None => format!(
            "{env} is locked by {} since {}: {}. Ask them, or wait for \"unlock {env}\".",
            lock.holder,
            format_utc(lock.since),
            lock.reason
        ),
    }
}

fn short(sha: &Option<String>) -> String {
    sha.as_deref()
        .map(|s| s.chars().take(7).collect())
        .unwrap_or_else(|| "-".into())
}

fn revision_of(d: &DeployRecord) -> String {
    match &d.tag {
        Some(tag) => format!("{tag} ({})", short(&d.revision)),
        None => short(&d.revision),
    }
}

/// One line of `history`.
pub fn history_line(d: &DeployRecord) -> String {
    format!(
        "#{} {} {} {} {} to {} — {}",
        d.id,
        format_utc(d.started_at),
        d.requested_by,
        match d.kind {
            DeployKind::Deploy => "deployed",
            DeployKind::Rollback => "rolled back",
            DeployKind::Repair => "repaired",
        },
        revision_of(d),
        d.env,
        state_word(d.state)
    )
}

fn state_word(state: DeployState) -> &'static str {
    match state {
        DeployState::Running => "running",
        DeployState::Succeeded => "succeeded",
        DeployState::Undone => "failed, undone",
        DeployState::Failed => "FAILED, needs a look",
        DeployState::Recovered => "interrupted, undone on restart",
        DeployState::Repaired => "hosts brought back to the live release",
    }
}

/// `history APP [ENV]`
pub fn history_text(app: &str, env: Option<&str>, deploys: &[DeployRecord]) -> String {
    let place = env
        .map(|e| format!("{app} on {e}"))
        .unwrap_or_else(|| app.to_string());
    if deploys.is_empty() {
        return format!("{place} has no deploys yet.");
    }
    let mut out = format!(
        "last {} of {place}, newest first:",
        count(deploys.len(), "deploy")
    );
    for d in deploys {
        out.push('\n');
        out.push_str(&history_line(d));
    }
    out
}

/// One line of `status` for what is live.
pub fn live_line(app: &str, env: &str, live: Option<&DeployRecord>) -> String {
    match live {
        Some(d) => format!(
            "{app} on {env}: {} (release {}) since {} by {}, journal #{}",
            revision_of(d),
            d.release.as_deref().unwrap_or("-"),
            format_utc(d.finished_at.unwrap_or(d.started_at)),
            d.requested_by,
            d.id
        ),
        None => format!("{app} on {env}: never deployed"),
    }
}

/// One line of `status` for a lock.
pub fn lock_line(lock: &LockRecord) -> String {
    match lock.deploy_id {
        Some(id) => format!(
            "running: {} on {} by {} (journal #{id}) since {}",
            lock.app,
            lock.env,
            lock.holder,
            format_utc(lock.since)
        ),
        None => format!(
            "locked: {} by {} since {}: {}",
            lock.env,
            lock.holder,
            format_utc(lock.since),
            lock.reason
        ),
    }
}

/// What the room is told about a deploy that a previous run of the bot left unfinished.
pub fn recovery_text(r: &crate::engine::Recovered) -> String {
    let d = &r.deploy;
    let head = format!(
        "I was restarted while {} #{} ({} to {} by {}) was running: ",
        d.kind.as_str(),
        d.id,
        d.app,
        d.env,
        d.requested_by
    );
    head + &recovered_text(r)
}

/// What a bot that took the lead from another (whose lease ran out) says about the deploy it
/// recovered: "bosun on HOST takes over; deploy #N of blog to live was recovered: …".
pub fn takeover_text(host: &str, r: &crate::engine::Recovered) -> String {
    let d = &r.deploy;
    format!(
        "bosun on {host} takes over; {} #{} of {} to {} (by {}) was recovered: {}",
        d.kind.as_str(),
        d.id,
        d.app,
        d.env,
        d.requested_by,
        recovered_text(r)
    )
}

/// What recovery did, after the sentence that says which deploy.
fn recovered_text(r: &crate::engine::Recovered) -> String {
    let d = &r.deploy;
    let mut out = String::new();
    if r.went_live && r.problems.is_empty() {
        let live = match (&d.revision, &d.release) {
            (Some(sha), Some(release)) => {
                format!("{} (release {release})", &sha[..sha.len().min(7)])
            }
            _ => "its new release".to_string(),
        };
        out.push_str(&format!(
            "it was already live on every host and only old releases were being removed; nothing was undone, {} stays on {live}.",
            d.env
        ));
        if !r.notes.is_empty() {
            out.push_str(&format!(" Note: {}.", r.notes.join("; ")));
        }
    } else if r.problems.is_empty() {
        let back = match (&d.previous_release, &d.previous_revision) {
            (Some(release), Some(sha)) => format!(
                "{} is back on {} (release {release})",
                d.env,
                &sha[..sha.len().min(7)]
            ),
            _ => format!("{} is back where it was", d.env),
        };
        out.push_str(&format!("I undid {}; {back}.", count(r.undone, "step")));
        if !r.notes.is_empty() {
            out.push_str(&format!(" Note: {}.", r.notes.join("; ")));
        }
        if !r.found.is_empty() {
            out.push_str(&format!(
                " Checking every host, I found and fixed: {}.",
                r.found.join("; ")
            ));
        }
    } else {
        out.push_str(&format!(
            "I undid {} but could not undo everything: {}. The fleet needs a look.",
            count(r.undone, "step"),
            r.problems.join("; ")
        ));
    }
    out
}

#[cfg(test)]
mod tests;
