//! Recovery on start: deploys left running by a bot that died are undone from the journal, newest step first.

use std::sync::Arc;
use std::time::Duration;

use super::action::Action;
use super::fleet::connect_all;
use super::prepare::target;
use super::runner::undo_step;
use crate::config::Config;
use crate::journal::{DeployRecord, DeployState, Journal, JournalError, StepState};
use crate::transport::Connector;

/// What recovery found and did about one deploy.
#[derive(Clone, Debug)]
pub struct Recovered {
    pub deploy: DeployRecord,
    /// Steps whose undo ran.
    pub undone: usize,
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

/// Undoes every deploy the journal says is still running, unless its bot is alive.
pub async fn recover(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    layout_timeout: Duration,
) -> Result<Vec<Recovered>, JournalError> {
    let mut report = Vec::new();
    for deploy in journal.unfinished().await? {
        if owner_alive(journal.owner_pid(deploy.id).await?) {
            continue;
        }
        let steps = journal.steps(deploy.id).await?;
        let mut problems = Vec::new();
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
            }
        }
        let state = if problems.is_empty() {
            DeployState::Recovered
        } else {
            DeployState::Failed
        };
        let summary = format!(
            "interrupted; recovery undid {undone} steps{}",
            if problems.is_empty() {
                String::new()
            } else {
                format!(", {} problems", problems.len())
            }
        );
        journal.finish(deploy.id, state, summary).await?;
        report.push(Recovered {
            deploy,
            undone,
            problems,
        });
    }
    Ok(report)
}
