//! Reconciliation: every host's `current`, migration markers and fence compared with the journal; drift is named and brought back to one release by the same runner and undo that deploys use.
//!
//! `survey` only looks (one probe per host). `repair` acts on what a survey found, under the
//! environment's lock and a new generation, as a journaled deploy of kind `repair`: first the
//! undos that a failed deploy could not finish (a host was unreachable then), then every host
//! that is not on the environment's release is switched back to it (load balancer, restart and
//! health check as in a rollback), and migrations that ran for a release that never went live
//! are migrated down. A journal that knows nothing of what the hosts run (emptied, or replaced
//! by an older copy) is named as such, and what the hosts agree on is recorded as live.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::action::Observed;
use super::event::{EngineEvent, RunOutcome, Stop};
use super::fleet::{Reached, reach};
use super::guard::Fence;
use super::plan::{Phase, Plan, PlanInput, PlanKind, RevisionInfo, plan};
use super::prepare::{PrepareError, target};
use super::recover::{look, pending_undos};
use super::runner::Runner;
use super::undo::Undoer;
use crate::config::Config;
use crate::journal::{DeployKind, DeployRecord, DeployState, Journal, NewDeploy};
use crate::transport::{Connector, Host};

/// What the hosts of one environment run, against what the journal says.
#[derive(Debug)]
pub struct Survey {
    pub app: String,
    pub env: String,
    /// The journal's live deploy.
    pub live: Option<DeployRecord>,
    /// What each reachable host runs.
    pub observed: BTreeMap<String, Observed>,
    /// Hosts that could not be looked at, with why.
    pub unreachable: Vec<(String, String)>,
    /// Failed deploys whose undo did not finish ("needs a look").
    pub needs_look: Vec<DeployRecord>,
    /// The release every host should be on, and what is wrong.
    pub assessment: Assessment,
    /// The journal's identity and newest generation when surveyed.
    pub journal: (String, i64),
    /// Before the hosts were probed: whether the environment's lock was held (a deploy, a
    /// rollback, a recovery or a repair was changing the hosts as they were probed), and the
    /// newest deploy of the environment with its state. A repair acts on a survey only when
    /// the lock was free and that deploy is still the newest, in the same state.
    pub before: (bool, Option<(i64, DeployState)>),
}

/// What a survey concludes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assessment {
    /// The release the environment is on (the journal's, or what the hosts agree on).
    pub release: Option<String>,
    /// Its revision, when known.
    pub revision: Option<String>,
    /// Hosts on another release than `release`.
    pub drifted: Vec<String>,
    /// Hosts with a migration marker for a release newer than `release` (a migration that ran
    /// for a release that is not live), by host.
    pub stray_migrations: BTreeMap<String, Vec<String>>,
    /// The journal has no record of `release` being live: it is recorded as live on repair.
    pub adopt: bool,
    /// What is wrong, for people.
    pub findings: Vec<String>,
    /// Why nothing can be done without people.
    pub blocked: Option<String>,
    /// The hosts have seen newer generations, or another journal: the journal's word on what
    /// is live is out of date.
    pub journal_behind: bool,
}

impl Survey {
    /// Whether anything is wrong.
    pub fn drift(&self) -> bool {
        !self.assessment.findings.is_empty() || !self.needs_look.is_empty()
    }

    /// One line for `status` and the room: what was found.
    pub fn describe(&self) -> String {
        let mut parts = self.assessment.findings.clone();
        for d in &self.needs_look {
            parts.push(format!(
                "{} #{} could not be fully undone and needs a look",
                d.kind.as_str(),
                d.id
            ));
        }
        if let Some(why) = &self.assessment.blocked {
            parts.push(why.clone());
        }
        format!("{} on {}: {}", self.app, self.env, parts.join("; "))
    }
}

/// Decides, from what the journal says is live and what every host runs, which release the
/// environment is on and what differs. `journal` (its identity and newest generation) is
/// compared with the hosts' fences; without it the journal's word is taken as it is. Pure.
pub fn assess(
    live: Option<&DeployRecord>,
    observed: &BTreeMap<String, Observed>,
    journal: Option<(&str, i64)>,
) -> Assessment {
    let mut a = Assessment::default();
    let mut by_release: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for (host, o) in observed {
        by_release
            .entry(o.current.clone())
            .or_default()
            .push(host.clone());
    }
    let revision_on = |release: &str| {
        observed
            .values()
            .find(|o| o.current.as_deref() == Some(release))
            .and_then(|o| o.revision.clone())
    };
    let present_everywhere = |release: &str| {
        observed
            .values()
            .all(|o| o.releases.iter().any(|r| r == release))
    };
    let mut live_release = live.and_then(|l| l.release.clone());

    // Hosts that remember a newer generation, or another journal, than this one: then the
    // journal's word on what is live is out of date, and what the hosts run counts.
    if let Some(((generation, other), (id, newest))) = observed
        .values()
        .filter_map(|o| o.fence.clone())
        .max_by_key(|(g, _)| *g)
        .zip(journal)
    {
        if other != id && generation > 0 {
            a.findings.push(format!(
                "the hosts were last deployed through another journal ({other}, generation {generation}) than mine ({id}, generation {newest}): my journal is new or was replaced"
            ));
            live_release = None;
            a.journal_behind = true;
        } else if generation > newest {
            a.findings.push(format!(
                "the hosts have seen generation {generation} but my journal only {newest}: my journal is older than the hosts"
            ));
            live_release = None;
            a.journal_behind = true;
        }
    }
    let live = live.filter(|_| live_release.is_some());

    let deployed: Vec<&Option<String>> = by_release.keys().filter(|r| r.is_some()).collect();
    match (&live_release, deployed.as_slice()) {
        (_, []) => {
            // Nothing deployed anywhere: nothing to compare.
            a.release = live_release.clone();
            a.revision = live.and_then(|l| l.revision.clone());
            return a;
        }
        (Some(release), _) if present_everywhere(release) => {
            a.release = Some(release.clone());
            a.revision = live
                .and_then(|l| l.revision.clone())
                .or_else(|| revision_on(release));
        }
        (Some(live), [Some(only)]) => {
            // Every host agrees on a release the journal does not say is live, and the
            // journal's is gone from some host: the journal is behind the hosts.
            a.findings.push(format!(
                "my journal says release {live} is live, but every host runs {only}, and {live} is gone from some of them"
            ));
            a.release = Some(only.clone());
            a.revision = revision_on(only);
            a.adopt = true;
        }
        (None, [Some(only)]) => {
            a.findings.push(format!(
                "every host runs release {only}{}, which my journal has no record of: the journal is empty or older than the hosts",
                revision_on(only)
                    .map(|r| format!(" ({})", short(&r)))
                    .unwrap_or_default()
            ));
            a.release = Some(only.clone());
            a.revision = revision_on(only);
            a.adopt = true;
        }
        (_, _) => {
            // The hosts disagree and the journal cannot settle it: the release most hosts run
            // (the newest of those tied), if every host still has it.
            let (release, _) = by_release
                .iter()
                .filter_map(|(r, hosts)| r.as_ref().map(|r| (r.clone(), hosts.len())))
                .max_by(|(r1, n1), (r2, n2)| n1.cmp(n2).then(r1.cmp(r2)))
                .expect("some host runs a release");
            if !present_everywhere(&release) {
                a.blocked = Some(format!(
                    "the hosts run different releases and my journal cannot say which is right; {release} is not on every host, so this needs a look"
                ));
                a.findings.push(split_text(&by_release));
                return a;
            }
            a.findings.push(format!(
                "{}; my journal has no say, so the one most hosts run, {release}, stands",
                split_text(&by_release)
            ));
            a.revision = revision_on(&release);
            a.release = Some(release);
            a.adopt = true;
        }
    }
    let release = a.release.clone().expect("set above");
    a.drifted = by_release
        .iter()
        .filter(|(r, _)| r.as_deref() != Some(release.as_str()))
        .flat_map(|(_, hosts)| hosts.iter().cloned())
        .collect();
    if !a.drifted.is_empty() && !a.adopt {
        a.findings.push(format!(
            "{}, while {release} is live",
            split_text(&by_release)
        ));
    }
    for (host, o) in observed {
        let stray: Vec<String> = o
            .markers
            .iter()
            .filter(|m| m.as_str() > release.as_str())
            .cloned()
            .collect();
        if !stray.is_empty() {
            a.findings.push(format!(
                "{host} has migrated for {} but runs {release}",
                stray.join(", ")
            ));
            a.stray_migrations.insert(host.clone(), stray);
        }
    }
    a
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn split_text(by_release: &BTreeMap<Option<String>, Vec<String>>) -> String {
    let parts: Vec<String> = by_release
        .iter()
        .map(|(release, hosts)| {
            format!(
                "{} on {}",
                hosts.join(", "),
                release.as_deref().unwrap_or("no release")
            )
        })
        .collect();
    format!("the hosts differ: {}", parts.join(", "))
}

/// Looks at every host of `app` in `env` (one probe each) and compares with the journal.
pub async fn survey(
    connector: &Connector,
    config: &Config,
    journal: &Journal,
    app: &str,
    env: &str,
) -> Result<Survey, PrepareError> {
    let (playbook, environment) = target(config, app, Some(env))?;
    let before = snapshot(journal, &playbook.app.name, &environment.name).await?;
    let reached = reach(connector, config, playbook, environment, &[]).await;
    let live = journal
        .live(playbook.app.name.clone(), environment.name.clone())
        .await?;
    let identity = journal.identity().await?;
    let history = journal
        .history(
            Some(playbook.app.name.clone()),
            Some(environment.name.clone()),
            50,
        )
        .await?;
    // Failed deploys after the last one that went live: their undo never finished.
    let needs_look: Vec<DeployRecord> = history
        .into_iter()
        .take_while(|d| d.state != DeployState::Succeeded)
        .filter(|d| d.state == DeployState::Failed)
        .collect();
    let assessment = assess(
        live.as_ref(),
        &reached.observed,
        Some((&identity.0, identity.1)),
    );
    Ok(Survey {
        app: playbook.app.name.clone(),
        env: environment.name.clone(),
        live,
        observed: reached.observed,
        unreachable: reached.not_ready,
        needs_look,
        assessment,
        journal: identity,
        before,
    })
}

/// Whether the lock of `app` on `env` is held, and the newest deploy there with its state.
async fn snapshot(
    journal: &Journal,
    app: &str,
    env: &str,
) -> Result<(bool, Option<(i64, DeployState)>), PrepareError> {
    let held = journal
        .locks()
        .await?
        .iter()
        .any(|l| l.env == env && (l.app == app || l.app == "*"));
    let newest = journal
        .history(Some(app.to_string()), Some(env.to_string()), 1)
        .await?
        .first()
        .map(|d| (d.id, d.state));
    Ok((held, newest))
}

/// What a repair did.
#[derive(Debug)]
pub struct Repaired {
    pub app: String,
    pub env: String,
    /// The repair's journal id, when one was recorded.
    pub journal_id: Option<i64>,
    /// Everything done, for people.
    pub done: Vec<String>,
    /// What could not be done.
    pub problems: Vec<String>,
}

/// Brings the environment a survey looked at back to one release, under its lock. `who` is
/// recorded as having asked (the bot itself for a scheduled repair). Returns `None` when the
/// environment is locked (a deploy runs there; its own end settles it).
pub async fn repair(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    survey: &Survey,
    who: &str,
    room: &str,
    layout_timeout: Duration,
) -> Result<Option<Repaired>, PrepareError> {
    let (playbook, env) = target(config, &survey.app, Some(&survey.env))?;
    // A survey taken while something else changed the hosts (it held the lock then, or it
    // has ended since) saw them half-way: the environment is busy, and the next survey looks
    // again. (A recovery that finished between a survey and its repair was once taken for
    // drift, and the repair held the lock against the next deploy.)
    if survey.before.0 || snapshot(journal, &survey.app, &survey.env).await? != survey.before {
        return Ok(None);
    }
    let mut done = Vec::new();
    let mut problems = Vec::new();
    // Hosts that have seen newer generations than this journal would refuse every step.
    let newest_seen = survey
        .observed
        .values()
        .filter_map(|o| o.fence.as_ref().map(|(g, _)| *g))
        .max()
        .unwrap_or(0);
    if newest_seen > survey.journal.1 {
        journal.raise_generation(newest_seen).await?;
        done.push(format!(
            "raised my journal's generation past {newest_seen}, the newest the hosts have seen"
        ));
    }
    let a = &survey.assessment;
    // Undos owed to hosts that do not answer (or are gone from the playbook): nothing can be
    // done about them until they do, so nothing is recorded either.
    let mut owed_to = std::collections::BTreeSet::new();
    for failed in &survey.needs_look {
        for step in journal.steps(failed.id).await? {
            if step.undo_of.is_none()
                && step.undo.is_some()
                && !matches!(
                    step.state,
                    crate::journal::StepState::Undone | crate::journal::StepState::Reverted
                )
                && let Some(host) = step.host
            {
                owed_to.insert(host);
            }
        }
    }
    let waiting: Vec<String> = owed_to
        .into_iter()
        .filter(|h| {
            survey.unreachable.iter().any(|(u, _)| u == h)
                || !env.groups.iter().any(|g| g.hosts.contains(h))
        })
        .collect();
    if !waiting.is_empty()
        && a.drifted.is_empty()
        && a.stray_migrations.is_empty()
        && !a.adopt
        && a.blocked.is_none()
    {
        problems.push(format!(
            "its undo waits for {}, which cannot be reached; I try again when it answers",
            waiting.join(", ")
        ));
        return Ok(Some(Repaired {
            app: survey.app.clone(),
            env: survey.env.clone(),
            journal_id: None,
            done,
            problems,
        }));
    }
    let record = NewDeploy {
        kind: DeployKind::Repair,
        app: survey.app.clone(),
        env: survey.env.clone(),
        reference: None,
        revision: a.revision.clone(),
        tag: None,
        release: a.release.clone(),
        // What the hosts ran before an adopted release is not known.
        previous_release: survey
            .live
            .as_ref()
            .filter(|_| !a.adopt)
            .and_then(|l| l.release.clone()),
        previous_revision: survey
            .live
            .as_ref()
            .filter(|_| !a.adopt)
            .and_then(|l| l.revision.clone()),
        requested_by: who.to_string(),
        room: room.to_string(),
        plan: "{}".into(),
    };
    let id = match journal.begin(record).await? {
        Ok(id) => id,
        Err(_) => return Ok(None),
    };
    let (journal_id, _) = journal.identity().await?;
    let generation = journal.generation(id).await?.unwrap_or_default();
    let fence = Fence {
        journal: journal_id.clone(),
        deploy: id,
        generation,
    };

    // First what failed deploys could not undo, now that their hosts may answer again.
    let mut reached = reach(connector, config, playbook, env, &[]).await;
    if !survey.needs_look.is_empty() {
        let hosts = Arc::new(reached.hosts.clone());
        let roots = Arc::new(reached.roots.clone());
        let records = look(&hosts, &roots, &fence, playbook.app.max_parallel).await;
        for failed in &survey.needs_look {
            let plan: Option<Plan> = failed
                .plan
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok());
            let steps = journal.steps(failed.id).await?;
            let mut notes = Vec::new();
            let mut undo_problems = Vec::new();
            let to_undo = pending_undos(
                &steps,
                plan.as_ref(),
                &journal_id,
                &records,
                &mut notes,
                &mut undo_problems,
            );
            let undoer = Undoer {
                journal: journal.clone(),
                hosts: hosts.clone(),
                roots: roots.clone(),
                fence: fence.clone(),
                deploy_id: failed.id,
                layout_timeout,
                max_parallel: playbook.app.max_parallel,
            };
            let result = undoer.undo(to_undo).await;
            undo_problems.extend(result.problems);
            if undo_problems.is_empty() {
                done.push(format!(
                    "finished undoing {} #{} ({} more steps)",
                    failed.kind.as_str(),
                    failed.id,
                    result.steps
                ));
                let summary = format!(
                    "{}; its undo was finished by repair #{id}",
                    failed.summary.clone().unwrap_or_default()
                );
                journal
                    .finish(failed.id, DeployState::Recovered, summary)
                    .await?;
            } else {
                problems.extend(undo_problems);
            }
        }
        // Look again: the undo moved hosts.
        reached = reach(connector, config, playbook, env, &[]).await;
    }
    let live = journal
        .live(playbook.app.name.clone(), env.name.clone())
        .await?;
    // Look again at what the hosts run now; the journal's word counts as the survey found it
    // (the hosts' fences have moved on since: this repair raised them).
    let trusted = live.as_ref().filter(|_| !survey.assessment.journal_behind);
    let after = assess(trusted, &reached.observed, None);
    let outcome_state;
    if let Some(why) = &after.blocked {
        // Nothing was changed: nothing of this repair is left half-done.
        problems.push(why.clone());
        outcome_state = DeployState::Undone;
    } else if after.drifted.is_empty() && after.stray_migrations.is_empty() {
        if let Some(release) = &after.release {
            done.push(if after.adopt {
                format!("recorded {release}, which every host runs, as live")
            } else {
                format!("checked that every host is on {release}")
            });
        }
        // Only a release found on the hosts becomes live through a repair.
        outcome_state = if after.adopt {
            DeployState::Succeeded
        } else {
            DeployState::Repaired
        };
    } else {
        let (state, text) = switch_back(
            &reached,
            &after,
            config,
            journal,
            &fence,
            &survey.app,
            &survey.env,
            layout_timeout,
        )
        .await?;
        match state {
            DeployState::Succeeded => done.push(text),
            _ => problems.push(text),
        }
        outcome_state = match state {
            DeployState::Succeeded if !after.adopt => DeployState::Repaired,
            other => other,
        };
    }
    let summary = if problems.is_empty() {
        format!("repaired: {}", done.join("; "))
    } else {
        format!(
            "repair incomplete: {}{}",
            problems.join("; "),
            if done.is_empty() {
                String::new()
            } else {
                format!(" (done: {})", done.join("; "))
            }
        )
    };
    // A repair that could not do everything it set out to is not a clean one.
    let outcome_state = match outcome_state {
        DeployState::Repaired if !problems.is_empty() => DeployState::Undone,
        other => other,
    };
    journal.finish(id, outcome_state, summary).await?;
    Ok(Some(Repaired {
        app: survey.app.clone(),
        env: survey.env.clone(),
        journal_id: Some(id),
        done,
        problems,
    }))
}

/// Switches the drifted hosts back to the environment's release (and migrates down what ran
/// for releases that never went live) with a rollback-shaped plan run by the runner.
#[allow(clippy::too_many_arguments)]
async fn switch_back(
    reached: &Reached,
    a: &Assessment,
    config: &Arc<Config>,
    journal: &Journal,
    fence: &Fence,
    app: &str,
    env_name: &str,
    layout_timeout: Duration,
) -> Result<(DeployState, String), PrepareError> {
    let (playbook, env) = target(config, app, Some(env_name))?;
    let release = a.release.clone().expect("a release to go back to");
    let sha = a.revision.clone().unwrap_or_default();
    // Downs of migrations that ran for releases newer than the live one, newest first, as the
    // deploys that ran them recorded.
    let mut migrations_down = Vec::new();
    let mut unknown = Vec::new();
    let mut strays: Vec<(String, String)> = a
        .stray_migrations
        .iter()
        .flat_map(|(h, rs)| rs.iter().map(move |r| (h.clone(), r.clone())))
        .collect();
    strays.sort_by(|x, y| y.1.cmp(&x.1));
    for (host, stray) in &strays {
        let deploy = journal
            .introduced_or_tried(app.to_string(), env_name.to_string(), stray.clone())
            .await?;
        let recorded = deploy
            .as_ref()
            .and_then(|d| d.plan.as_deref())
            .and_then(|p| serde_json::from_str::<Plan>(p).ok())
            .map(|p| {
                p.steps
                    .into_iter()
                    .filter(|s| s.phase == Phase::Migrate && &s.host == host)
                    .filter(|s| !s.undo.is_empty())
                    .map(|s| (s.host, s.action, s.undo))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if recorded.is_empty() {
            unknown.push(format!("{host}: {stray}"));
        }
        migrations_down.extend(recorded);
    }
    if !unknown.is_empty() {
        return Ok((
            DeployState::Failed,
            format!(
                "migrations ran for releases that are not live ({}), and my journal has no down for them: this needs a look",
                unknown.join(", ")
            ),
        ));
    }
    let mut targets: Vec<String> = a.drifted.clone();
    targets.extend(a.stray_migrations.keys().cloned());
    targets.sort();
    targets.dedup();
    let only = env.only(|h| targets.iter().any(|t| t == h));
    let observed: BTreeMap<String, Observed> = reached
        .observed
        .iter()
        .filter(|(h, _)| targets.contains(h))
        .map(|(h, o)| (h.clone(), o.clone()))
        .collect();
    let plan = plan(PlanInput {
        kind: PlanKind::Rollback,
        playbook,
        env: &only,
        reference: None,
        revision: RevisionInfo {
            short: short(&sha).to_string(),
            sha: sha.clone(),
            tag: None,
        },
        previous: None,
        release: release.clone(),
        previous_release: None,
        archive: PathBuf::new(),
        changesets: Vec::new(),
        deploy_roots: reached.roots.clone(),
        addresses: reached.addresses.clone(),
        observed,
        canary: false,
        migrations_down,
    });
    let mut hosts: BTreeMap<String, Host> = reached
        .hosts
        .iter()
        .filter(|(h, _)| targets.contains(h))
        .map(|(h, host)| (h.clone(), host.clone()))
        .collect();
    let (name, bot) = super::prepare::bot_host(config);
    hosts.insert(name, bot);
    let (events, mut heard) = mpsc::channel::<EngineEvent>(64);
    let runner = Runner {
        journal: journal.clone(),
        hosts: Arc::new(hosts),
        events,
        stop: Stop::new(),
        max_parallel: playbook.app.max_parallel,
        layout_timeout,
        retries: playbook.pipeline.retries,
        fence: fence.clone(),
        lines: None,
        tenure: super::Tenure::unbounded(),
    };
    let drain = async { while heard.recv().await.is_some() {} };
    let run = async {
        let outcome = runner.run(&plan, None).await;
        drop(runner);
        outcome
    };
    let (outcome, ()) = tokio::join!(run, drain);
    let hosts_text = targets.join(", ");
    Ok(match outcome {
        RunOutcome::Succeeded { .. } => (
            DeployState::Succeeded,
            format!(
                "switched {hosts_text} back to {release}{}",
                if strays.is_empty() {
                    String::new()
                } else {
                    format!(
                        " and migrated down {}",
                        strays
                            .iter()
                            .map(|(h, r)| format!("{r} on {h}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        ),
        RunOutcome::Undone { failure, .. } => (
            DeployState::Undone,
            format!(
                "could not switch {hosts_text} back to {release}: {}",
                failure.describe()
            ),
        ),
        RunOutcome::UndoFailed {
            failure, problems, ..
        } => (
            DeployState::Failed,
            format!(
                "could not switch {hosts_text} back to {release}: {}; {}",
                failure.describe(),
                problems.join("; ")
            ),
        ),
        RunOutcome::Fenced { reason, .. } => (
            DeployState::Failed,
            format!("another bot took over: {reason}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::DeployKind;

    fn host(current: Option<&str>, releases: &[&str]) -> Observed {
        Observed {
            current: current.map(str::to_string),
            revision: current.map(|c| format!("sha-of-{c}")),
            releases: releases.iter().map(|r| r.to_string()).collect(),
            ..Observed::default()
        }
    }

    fn live(release: &str) -> DeployRecord {
        DeployRecord {
            id: 4,
            kind: DeployKind::Deploy,
            app: "demo".into(),
            env: "staging".into(),
            reference: None,
            revision: Some(format!("sha-of-{release}")),
            tag: None,
            release: Some(release.into()),
            previous_release: None,
            previous_revision: None,
            requested_by: "alice".into(),
            room: "ops".into(),
            state: DeployState::Succeeded,
            plan: None,
            summary: None,
            started_at: 0,
            finished_at: None,
            generation: Some(3),
        }
    }

    fn fleet(hosts: &[(&str, Observed)]) -> BTreeMap<String, Observed> {
        hosts
            .iter()
            .map(|(h, o)| (h.to_string(), o.clone()))
            .collect()
    }

    #[test]
    fn a_fleet_on_the_live_release_has_nothing_to_say() {
        let hosts = fleet(&[
            ("h1", host(Some("r2"), &["r1", "r2"])),
            ("h2", host(Some("r2"), &["r1", "r2"])),
        ]);
        let a = assess(Some(&live("r2")), &hosts, Some(("j", 5)));
        assert_eq!(a.findings, Vec::<String>::new());
        assert_eq!(a.release.as_deref(), Some("r2"));
        assert!(a.drifted.is_empty() && !a.adopt);
    }

    #[test]
    fn a_host_on_another_release_is_named_and_brought_back_to_the_live_one() {
        let hosts = fleet(&[
            ("h1", host(Some("r2"), &["r1", "r2"])),
            ("h2", host(Some("r3"), &["r2", "r3"])),
        ]);
        let a = assess(Some(&live("r2")), &hosts, Some(("j", 5)));
        assert_eq!(a.drifted, ["h2"]);
        assert_eq!(a.release.as_deref(), Some("r2"));
        assert!(a.findings[0].contains("h2 on r3"), "{:?}", a.findings);
    }

    #[test]
    fn an_empty_journal_facing_deployed_hosts_says_so_and_adopts_what_they_agree_on() {
        let hosts = fleet(&[
            ("h1", host(Some("r3"), &["r3"])),
            ("h2", host(Some("r3"), &["r3"])),
        ]);
        let a = assess(None, &hosts, Some(("j", 0)));
        assert!(a.adopt);
        assert_eq!(a.release.as_deref(), Some("r3"));
        assert_eq!(a.revision.as_deref(), Some("sha-of-r3"));
        assert!(a.findings[0].contains("no record"), "{:?}", a.findings);
    }

    #[test]
    fn an_older_journal_is_named_by_the_generations_the_hosts_have_seen() {
        let mut h1 = host(Some("r5"), &["r3", "r4", "r5"]);
        h1.fence = Some((57, "j".into()));
        let hosts = fleet(&[("h1", h1)]);
        let a = assess(Some(&live("r3")), &hosts, Some(("j", 40)));
        assert!(
            a.findings
                .iter()
                .any(|f| f.contains("older than the hosts")),
            "{:?}",
            a.findings
        );
        assert!(
            a.adopt,
            "what the hosts run is recorded as live, never switched back"
        );
        assert_eq!(a.release.as_deref(), Some("r5"));
        assert!(a.drifted.is_empty());

        let mut h1 = host(Some("r5"), &["r5"]);
        h1.fence = Some((57, "other".into()));
        let a = assess(None, &fleet(&[("h1", h1)]), Some(("j", 0)));
        assert!(
            a.findings.iter().any(|f| f.contains("another journal")),
            "{:?}",
            a.findings
        );
    }

    #[test]
    fn a_migration_for_a_release_newer_than_the_live_one_is_a_stray() {
        let mut h1 = host(Some("r2"), &["r1", "r2", "r3"]);
        h1.markers = vec!["r1".into(), "r2".into(), "r3".into()];
        let a = assess(Some(&live("r2")), &fleet(&[("h1", h1)]), Some(("j", 5)));
        assert_eq!(a.stray_migrations["h1"], ["r3"]);
        assert!(a.drifted.is_empty());
    }

    #[test]
    fn disagreeing_hosts_without_a_journal_go_to_what_most_run_if_all_have_it() {
        let hosts = fleet(&[
            ("h1", host(Some("r2"), &["r1", "r2"])),
            ("h2", host(Some("r2"), &["r1", "r2"])),
            ("h3", host(Some("r1"), &["r1", "r2"])),
        ]);
        let a = assess(None, &hosts, Some(("j", 0)));
        assert_eq!(
            (a.release.as_deref(), a.drifted.as_slice()),
            (Some("r2"), &["h3".to_string()][..])
        );
        let hosts = fleet(&[
            ("h1", host(Some("r2"), &["r2"])),
            ("h2", host(Some("r1"), &["r1"])),
        ]);
        let a = assess(None, &hosts, Some(("j", 0)));
        assert!(a.blocked.is_some());
    }
}
