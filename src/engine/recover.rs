//! Recovery: a deploy left running by a bot that is gone is taken over under a new generation, every host is fenced and looked at, what ran is undone (waves newest first, hosts in parallel) as the hosts' own records say, and every host is then checked.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::action::{Action, Observed, probe};
use super::fleet::connect_all;
use super::guard::{Fence, HostRecord, StepEnd, inspect};
use super::perform::ErrorKind;
use super::plan::{Phase, Plan};
use super::prepare::target;
use super::undo::{FINISH, ToUndo, Undoer, undo_for, wave_of};
use crate::config::Config;
use crate::journal::{
    DeployRecord, DeployState, Journal, JournalError, Owner, StepRecord, StepState,
};
use crate::transport::{Connector, Host};

/// What recovery found and did about one deploy.
#[derive(Clone, Debug)]
pub struct Recovered {
    pub deploy: DeployRecord,
    /// Steps whose undo ran.
    pub undone: usize,
    /// Hosts found on another release than the fleet's after the undo, and put back.
    pub found: Vec<String>,
    /// Undos that failed, by host: people must look.
    pub problems: Vec<String>,
    /// What the hosts said that people should know (a migration stopped half-way, a step a
    /// dead bot left running that was stopped).
    pub notes: Vec<String>,
    /// The deploy was live on every host (every step before the clean-up of old releases was
    /// done, and the room may have been told so): it is kept, not undone.
    pub went_live: bool,
}

/// Every step of `plan` before its clean-up (`Phase::Finish`) is done in the journal: the
/// deploy reached its goal, only old releases were still being removed.
fn went_live(plan: &Plan, steps: &[StepRecord]) -> bool {
    plan.steps.iter().any(|s| s.phase == Phase::Finish)
        && plan
            .steps
            .iter()
            .filter(|s| s.phase != Phase::Finish)
            .all(|s| {
                steps.iter().any(|r| {
                    r.seq == s.seq as i64 && r.undo_of.is_none() && r.state == StepState::Done
                })
            })
}

/// Runs again, in parallel (at most `max_parallel` hosts at once), the clean-ups of `plan`
/// that the journal does not record as done, on the hosts that answered; one that fails is a
/// note (the next deploy's clean-up tries again). `Err`: a host refused, another bot acts now.
async fn finish_cleanups(
    undoer: &Undoer,
    plan: &Plan,
    steps: &[StepRecord],
    records: &BTreeMap<String, Result<HostRecord, String>>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let limit = Arc::new(tokio::sync::Semaphore::new(undoer.max_parallel.max(1)));
    let mut tasks = JoinSet::new();
    for step in plan.steps.iter().filter(|s| s.phase == Phase::Finish) {
        let done = steps
            .iter()
            .any(|r| r.seq == step.seq as i64 && r.undo_of.is_none() && r.state == StepState::Done);
        if done || !records.get(&step.host).is_some_and(|r| r.is_ok()) {
            continue;
        }
        let (undoer, step, limit) = (undoer.clone(), step.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let result =
                Box::pin(undoer.run_journaled(&step.host, step.seq, FINISH, None, &step.action))
                    .await;
            (step.host, result)
        });
    }
    let mut fenced = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(_))) => {}
            Ok((_, Err((ErrorKind::Fenced, why)))) => fenced = Some(why),
            Ok((host, Err((_, why)))) => notes.push(format!(
                "{host}: the clean-up of old releases failed: {why}"
            )),
            Err(e) => notes.push(format!("a clean-up task died: {e}")),
        }
    }
    fenced.map_or(Ok(()), Err)
}

/// What is live on `app` in `env`, as the room was told: the newest deploy or rollback that
/// succeeded, or a newer one still running that already went live (every step before its
/// clean-up is done: the room heard "is live", and only old releases are being removed).
pub async fn live_now(
    journal: &Journal,
    app: &str,
    env: &str,
) -> Result<Option<DeployRecord>, JournalError> {
    let live = journal.live(app.to_string(), env.to_string()).await?;
    let after = live.as_ref().map_or(i64::MIN, |d| d.id);
    for deploy in journal.running().await?.into_iter().rev() {
        if deploy.app != app || deploy.env != env || deploy.id <= after {
            continue;
        }
        let Some(plan) = deploy
            .plan
            .as_deref()
            .and_then(|p| serde_json::from_str::<Plan>(p).ok())
        else {
            continue;
        };
        if went_live(&plan, &journal.steps(deploy.id).await?) {
            return Ok(Some(deploy));
        }
    }
    Ok(live)
}

/// Every successful deploy and rollback of `app` in `env`, oldest first, and last the one
/// still running that went live (see `live_now`), if any.
pub async fn succeeded_or_live(
    journal: &Journal,
    app: &str,
    env: &str,
) -> Result<Vec<DeployRecord>, JournalError> {
    let mut records = journal.succeeded(app.to_string(), env.to_string()).await?;
    if let Some(live) = live_now(journal, app, env).await?
        && live.state == DeployState::Running
    {
        records.push(live);
    }
    Ok(records)
}

/// Whether the bot instance that holds a deploy may still be running: another instance (on
/// any machine sharing the journal) whose lease has not run out. On this machine a dead
/// process is known at once: its process id is checked too, so a restarted bot recovers
/// what it left without waiting out the lease.
fn owner_alive(journal: &Journal, owner: Option<&Owner>) -> bool {
    let Some(owner) = owner else { return false };
    if journal.is_me(&owner.instance) {
        return false;
    }
    let same_host = crate::journal::host_name() == owner.host();
    !same_host || (owner.pid != 0 && std::path::Path::new(&format!("/proc/{}", owner.pid)).exists())
}

/// Unfinished deploys whose bot is gone (its process is not alive on this machine, or its
/// lock's lease ran out), with the generation their lock was seen under.
pub async fn orphaned(
    config: &Config,
    journal: &Journal,
) -> Result<Vec<(DeployRecord, Option<i64>)>, JournalError> {
    let lease_ms = config.journal.lease.as_millis() as i64;
    let now = journal.now_ms().await?;
    let locks = journal.locks().await?;
    let mut gone = Vec::new();
    for deploy in journal.unfinished().await? {
        let lock = locks.iter().find(|l| l.deploy_id == Some(deploy.id));
        let stale = lock.is_none_or(|l| l.is_stale(now, lease_ms));
        if owner_alive(journal, journal.owner(deploy.id).await?.as_ref()) && !stale {
            continue;
        }
        gone.push((deploy, lock.and_then(|l| l.generation)));
    }
    Ok(gone)
}

/// Recovers every deploy whose bot is gone, in parallel.
pub async fn recover(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    layout_timeout: Duration,
) -> Result<Vec<Recovered>, JournalError> {
    let mut tasks = JoinSet::new();
    for (deploy, seen) in orphaned(config, journal).await? {
        let (connector, config, journal) = (connector.clone(), config.clone(), journal.clone());
        tasks.spawn(async move {
            recover_one(
                &connector,
                &config,
                &journal,
                deploy.id,
                seen,
                layout_timeout,
            )
            .await
        });
    }
    let mut report = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(Some(recovered))) => report.push(recovered),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => tracing::error!("a recovery task died: {e}"),
        }
    }
    report.sort_by_key(|r| r.deploy.id);
    Ok(report)
}

/// Takes deploy `id` over (if it is still held under `seen`) and recovers it. `None` when
/// another bot took it over first, or it finished meanwhile.
pub async fn recover_one(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    id: i64,
    seen: Option<i64>,
    layout_timeout: Duration,
) -> Result<Option<Recovered>, JournalError> {
    let Some(generation) = journal.take_over(id, seen).await? else {
        return Ok(None);
    };
    let deploy = journal.deploy(id).await?;
    recover_deploy(
        connector,
        config,
        journal,
        deploy,
        generation,
        layout_timeout,
    )
    .await
    .map(Some)
}

/// Fences every host under `fence` and reads its last step record, in parallel. A host that
/// cannot be reached is named with why.
pub(crate) async fn look(
    hosts: &BTreeMap<String, Host>,
    roots: &BTreeMap<String, String>,
    fence: &Fence,
    max_parallel: usize,
) -> BTreeMap<String, Result<HostRecord, String>> {
    let limit = Arc::new(tokio::sync::Semaphore::new(max_parallel.max(1)));
    let mut tasks = JoinSet::new();
    for (name, host) in hosts {
        let Some(root) = roots.get(name) else {
            continue;
        };
        let (name, host, cmd) = (name.clone(), host.clone(), inspect(fence, root));
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let seen = match Box::pin(host.run(&cmd, None)).await {
                Ok(out) if out.success() => Ok(HostRecord::parse(&out.output)),
                Ok(out) => Err(out.last_line().to_string()),
                Err(e) => Err(e.to_string()),
            };
            (name, seen)
        });
    }
    let mut seen = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((name, record)) = joined {
            seen.insert(name, record);
        }
    }
    seen
}

/// How a journaled step really ended, as far as its journal entry and its host say. `None`:
/// it never started on its host, so there is nothing to undo.
fn settled(
    step: &StepRecord,
    steps: &[StepRecord],
    journal_id: &str,
    records: &BTreeMap<String, Result<HostRecord, String>>,
) -> Option<StepState> {
    if step.state != StepState::Intent {
        return Some(step.state);
    }
    // An undo of it was already under way: it ran.
    if steps.iter().any(|s| s.undo_of == Some(step.id)) {
        return Some(StepState::Done);
    }
    let host = step.host.as_deref().unwrap_or_default();
    match records.get(host) {
        Some(Ok(record)) => match record.outcome_of(journal_id, step.id) {
            None => None,
            Some(StepEnd::Exit(0)) => Some(StepState::Done),
            // Killed by a signal, or stopped at its time limit (`timeout`'s 124).
            Some(StepEnd::Exit(code)) if code > 128 || code == 124 => Some(StepState::Interrupted),
            Some(StepEnd::Exit(_)) => Some(StepState::Failed),
            Some(StepEnd::Lost) => Some(StepState::Interrupted),
        },
        // The host cannot say (unreachable, or the bot's own machine): assume it ran.
        _ => Some(StepState::Done),
    }
}

/// The steps of a deploy that still need their undo, with the undo that fits how each ended.
pub(crate) fn pending_undos(
    steps: &[StepRecord],
    plan: Option<&Plan>,
    journal_id: &str,
    records: &BTreeMap<String, Result<HostRecord, String>>,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Vec<ToUndo> {
    let waves = plan.map(|p| wave_of(&p.steps)).unwrap_or_default();
    let mut out = Vec::new();
    for step in steps
        .iter()
        .filter(|s| s.undo_of.is_none() && s.undo.is_some())
    {
        if matches!(step.state, StepState::Undone | StepState::Reverted) {
            continue;
        }
        let Some(state) = settled(step, steps, journal_id, records) else {
            continue;
        };
        let (action, undo): (Action, Vec<Action>) = match (
            serde_json::from_str(&step.action),
            serde_json::from_str(step.undo.as_deref().unwrap_or("[]")),
        ) {
            (Ok(action), Ok(undo)) => (action, undo),
            (Err(e), _) | (_, Err(e)) => {
                problems.push(format!("step {}: unreadable in the journal: {e}", step.seq));
                continue;
            }
        };
        let host = step.host.clone().unwrap_or_default();
        if state == StepState::Interrupted
            && let Action::Migrate { up, .. } = &action
        {
            notes.push(format!(
                "migrate {} on {host} was stopped before it finished; its {} was not run (a migration must undo itself when stopped)",
                if *up { "up" } else { "down" },
                if *up { "down" } else { "up" }
            ));
        }
        let actions = undo_for(&action, &undo, state);
        if actions.is_empty() {
            continue;
        }
        out.push(ToUndo {
            step_id: step.id,
            seq: step.seq as usize,
            host,
            // Without a plan to say, every step is a wave of its own: one at a time.
            wave: waves
                .get(&(step.seq as usize))
                .copied()
                .unwrap_or(step.id as usize),
            actions,
        });
    }
    out
}

/// Undoes one unfinished deploy that this bot has taken over under `generation`: fence and
/// look at every host, undo what ran, then bring every host to the release it was on.
pub async fn recover_deploy(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    deploy: DeployRecord,
    generation: i64,
    layout_timeout: Duration,
) -> Result<Recovered, JournalError> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut found = Vec::new();
    let mut undone = 0;
    let (journal_id, _) = journal.identity().await?;
    let fence = Fence {
        journal: journal_id.clone(),
        deploy: deploy.id,
        generation,
    };
    let plan: Option<Plan> = deploy
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    match target(config, &deploy.app, Some(&deploy.env)) {
        Err(e) => problems.push(format!("cannot reach the hosts: {e}")),
        Ok((playbook, env)) => {
            let reached = connect_all(connector, config, playbook, env).await;
            if !reached.not_ready.is_empty() {
                problems.push(format!("cannot reach {}", reached.problems()));
            }
            let hosts = Arc::new(reached.hosts);
            let roots = Arc::new(reached.roots);
            // First every host is fenced: from here on, the dead bot's commands are refused
            // and anything it left running has been stopped.
            let records = look(&hosts, &roots, &fence, playbook.app.max_parallel).await;
            for (host, record) in &records {
                if let Err(why) = record {
                    problems.push(format!("{host}: {why}"));
                }
            }
            let steps = journal.steps(deploy.id).await?;
            let undoer = Undoer {
                journal: journal.clone(),
                hosts: hosts.clone(),
                roots: roots.clone(),
                fence: fence.clone(),
                deploy_id: deploy.id,
                layout_timeout,
                max_parallel: playbook.app.max_parallel,
            };
            if let Some(plan) = plan.as_ref().filter(|p| went_live(p, &steps)) {
                // Live everywhere; the hosts are fenced, so the dead bot's clean-up has
                // stopped. Its unfinished clean-ups run again (each renames a release aside
                // before removing it, so what a stopped one left is a whole release or a
                // hidden leftover, which the clean-up removes first).
                if let Err(fenced) =
                    finish_cleanups(&undoer, plan, &steps, &records, &mut notes).await
                {
                    notes.push(format!("another bot took over: {fenced}"));
                    return Ok(Recovered {
                        deploy,
                        undone: 0,
                        found,
                        problems,
                        notes,
                        went_live: true,
                    });
                }
                let state = if problems.is_empty() {
                    DeployState::Succeeded
                } else {
                    DeployState::Failed
                };
                let mut summary = "live on every host; the bot stopped during the clean-up of old releases, nothing was undone".to_string();
                if !problems.is_empty() {
                    summary.push_str(&format!(
                        ", {} problems: {}",
                        problems.len(),
                        problems.join("; ")
                    ));
                }
                if journal.still_holds(deploy.id, generation).await? {
                    journal.finish(deploy.id, state, summary).await?;
                }
                return Ok(Recovered {
                    deploy,
                    undone: 0,
                    found,
                    problems,
                    notes,
                    went_live: true,
                });
            }
            let to_undo = pending_undos(
                &steps,
                plan.as_ref(),
                &journal_id,
                &records,
                &mut notes,
                &mut problems,
            );
            let result = undoer.undo(to_undo).await;
            undone = result.steps;
            problems.extend(result.problems);
            if let Some(why) = result.fenced {
                // Yet another bot took over meanwhile: it finishes the job.
                notes.push(format!("another bot took over: {why}"));
                return Ok(Recovered {
                    deploy,
                    undone,
                    found,
                    problems,
                    notes,
                    went_live: false,
                });
            }
            // Trust, then verify: every host must be on the release it was on.
            let back_to = settle_targets(plan.as_ref(), &deploy, &hosts);
            let limit = Arc::new(tokio::sync::Semaphore::new(undoer.max_parallel.max(1)));
            let mut tasks = JoinSet::new();
            for (name, (release, undo)) in back_to {
                if records.get(&name).is_some_and(|r| r.is_err()) {
                    continue;
                }
                let (undoer, root) = (undoer.clone(), roots.get(&name).cloned());
                let limit = limit.clone();
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("semaphore open");
                    let result =
                        Box::pin(put_back(&undoer, &name, root.as_deref(), release, undo)).await;
                    (name, result)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok((name, Ok(Some(note)))) => found.push(format!("{name}: {note}")),
                    Ok((_, Ok(None))) => {}
                    Ok((name, Err(problem))) => problems.push(format!("{name}: {problem}")),
                    Err(e) => problems.push(format!("a check task died: {e}")),
                }
            }
        }
    }
    let state = if problems.is_empty() {
        DeployState::Recovered
    } else {
        DeployState::Failed
    };
    let summary = format!(
        "interrupted; recovery undid {undone} steps{}{}{}",
        if found.is_empty() {
            String::new()
        } else {
            format!(", and found {}", found.join("; "))
        },
        if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        },
        if problems.is_empty() {
            String::new()
        } else {
            format!(", {} problems: {}", problems.len(), problems.join("; "))
        }
    );
    if journal.still_holds(deploy.id, generation).await? {
        journal.finish(deploy.id, state, summary).await?;
    }
    Ok(Recovered {
        deploy,
        undone,
        found,
        problems,
        notes,
        went_live: false,
    })
}

/// For every host: the release it must be on after the deploy is undone, and the actions that
/// put it back there (the undo of its switch step in the plan: switch, restart with that
/// release's variables).
fn settle_targets(
    plan: Option<&Plan>,
    deploy: &DeployRecord,
    hosts: &BTreeMap<String, Host>,
) -> BTreeMap<String, (Option<String>, Vec<Action>)> {
    let mut out = BTreeMap::new();
    for name in hosts.keys().filter(|n| n.as_str() != super::plan::BOT_HOST) {
        let planned = plan.and_then(|p| p.hosts.iter().find(|h| &h.name == name));
        let release = match planned {
            Some(h) => h.previous_release.clone(),
            None => deploy.previous_release.clone(),
        };
        let undo = plan
            .and_then(|p| {
                p.steps.iter().find(|s| {
                    &s.host == name
                        && matches!(s.phase, Phase::Switch { .. })
                        && matches!(s.action, Action::Switch { .. })
                })
            })
            .map(|s| s.undo.clone())
            .unwrap_or_default();
        out.insert(name.clone(), (release, undo));
    }
    out
}

/// Puts `current` back on `release` on one host if it points elsewhere; says what it found.
async fn put_back(
    undoer: &Undoer,
    name: &str,
    root: Option<&str>,
    release: Option<String>,
    undo: Vec<Action>,
) -> Result<Option<String>, String> {
    let (Some(root), Some(host)) = (root, undoer.hosts.get(name)) else {
        return Ok(None);
    };
    let out = host
        .run(&probe(root, false, &[]), None)
        .await
        .map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(out.last_line().to_string());
    }
    let observed = Observed::parse(&out.output);
    if observed.current == release {
        return Ok(None);
    }
    let fix = match (&release, undo.is_empty()) {
        (Some(_), false) => undo,
        (Some(release), true) => vec![Action::Switch {
            deploy_to: root.to_string(),
            release: release.clone(),
        }],
        (None, _) => vec![Action::Unlink {
            deploy_to: root.to_string(),
        }],
    };
    for action in &fix {
        undoer
            .run_journaled(name, 0, "reconcile", None, action)
            .await
            .map_err(|(kind, why)| match kind {
                ErrorKind::Fenced => format!("another bot took over: {why}"),
                _ => why,
            })?;
    }
    Ok(Some(format!(
        "current was on {}, switched back to {}",
        observed.current.as_deref().unwrap_or("nothing"),
        release.as_deref().unwrap_or("nothing")
    )))
}
