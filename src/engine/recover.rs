//! Recovery on start: deploys left running by a bot that died are undone from the journal, newest step first.

use std::sync::Arc;
use std::time::Duration;

use super::action::Action;
use super::action::{Observed, probe};
use super::fleet::connect_all;
use super::prepare::target;
use super::runner::{perform, undo_step};
use crate::config::Config;
use crate::journal::{DeployRecord, DeployState, Journal, JournalError, StepState};
use crate::transport::Connector;

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
}

/// Whether the process that wrote a deploy is still running (another bot sharing the journal).
fn owner_alive(pid: Option<u32>) -> bool {
    match pid {
        Some(pid) if pid != std::process::id() => {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// Undoes every deploy the journal says is still running whose bot is gone: its process is not
/// alive on this machine, or its lock's lease ran out.
pub async fn recover(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    layout_timeout: Duration,
) -> Result<Vec<Recovered>, JournalError> {
    let lease_ms = config.journal.lease.as_millis() as i64;
    let now = crate::clock::now_ms();
    let locks = journal.locks().await?;
    let mut report = Vec::new();
    for deploy in journal.unfinished().await? {
        let lock = locks.iter().find(|l| l.deploy_id == Some(deploy.id));
        let stale = lock.is_none_or(|l| l.is_stale(now, lease_ms));
        if owner_alive(journal.owner_pid(deploy.id).await?) && !stale {
            continue;
        }
        report.push(recover_deploy(connector, config, journal, deploy, layout_timeout).await?);
    }
    Ok(report)
}

/// Undoes one unfinished deploy from its journal, newest step first, then checks every host
/// and brings any that is not on the release the fleet was on back to it.
pub async fn recover_deploy(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    deploy: DeployRecord,
    layout_timeout: Duration,
) -> Result<Recovered, JournalError> {
    let steps = journal.steps(deploy.id).await?;
    let mut problems = Vec::new();
    let mut found = Vec::new();
    let mut undone = 0;
    match target(config, &deploy.app, Some(&deploy.env)) {
        Err(e) => problems.push(format!("cannot reach the hosts: {e}")),
        Ok((playbook, env)) => {
            let reached = connect_all(connector, config, playbook, env).await;
            if !reached.not_ready.is_empty() {
                problems.push(format!("cannot reach {}", reached.problems()));
            }
            let hosts = reached.hosts;
            let pending = steps.iter().rev().filter(|s| {
                s.undo_of.is_none()
                    && s.undo.is_some()
                    && matches!(
                        s.state,
                        StepState::Intent
                            | StepState::Done
                            | StepState::Failed
                            | StepState::UndoFailed
                    )
            });
            for step in pending {
                let undo: Vec<Action> =
                    match serde_json::from_str(step.undo.as_deref().unwrap_or("[]")) {
                        Ok(undo) => undo,
                        Err(e) => {
                            problems.push(format!("step {}: unreadable undo: {e}", step.seq));
                            continue;
                        }
                    };
                let host = step.host.clone().unwrap_or_default();
                match undo_step(
                    journal,
                    &hosts,
                    deploy.id,
                    step.id,
                    &host,
                    &undo,
                    step.seq as usize,
                    layout_timeout,
                )
                .await
                {
                    Ok(()) => undone += 1,
                    Err(problem) => problems.push(format!("{host}: {problem}")),
                }
            }
            // Trust, then verify: every host must be on the release the fleet was on.
            for (name, host) in &hosts {
                match reconcile(
                    host,
                    &reached.roots[name],
                    deploy.previous_release.as_deref(),
                    layout_timeout,
                )
                .await
                {
                    Ok(Some(note)) => found.push(format!("{name}: {note}")),
                    Ok(None) => {}
                    Err(problem) => problems.push(format!("{name}: {problem}")),
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
        "interrupted; recovery undid {undone} steps{}{}",
        if found.is_empty() {
            String::new()
        } else {
            format!(", and found {}", found.join("; "))
        },
        if problems.is_empty() {
            String::new()
        } else {
            format!(", {} problems: {}", problems.len(), problems.join("; "))
        }
    );
    journal.finish(deploy.id, state, summary).await?;
    Ok(Recovered {
        deploy,
        undone,
        found,
        problems,
    })
}

/// Puts `current` back on `release` on one host if it points elsewhere; says what it found.
async fn reconcile(
    host: &crate::transport::Host,
    root: &str,
    release: Option<&str>,
    layout_timeout: Duration,
) -> Result<Option<String>, String> {
    let out = host
        .run(&probe(root, &[]), None)
        .await
        .map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(out.last_line().to_string());
    }
    let observed = Observed::parse(&out.output);
    if observed.current.as_deref() == release {
        return Ok(None);
    }
    let fix = match release {
        Some(release) => Action::Switch {
            deploy_to: root.to_string(),
            release: release.to_string(),
        },
        None => Action::Unlink {
            deploy_to: root.to_string(),
        },
    };
    perform(host, &fix, layout_timeout, None)
        .await
        .map_err(|e| e.reason)?;
    Ok(Some(format!(
        "current was on {}, switched back to {}",
        observed.current.as_deref().unwrap_or("nothing"),
        release.unwrap_or("nothing")
    )))
}
