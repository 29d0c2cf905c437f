//! Undoing steps: newest wave first, the hosts of a wave in parallel (bounded), each host's steps newest first; every undo action journaled and run under the guard.
//!
//! The runner uses it when a deploy fails or is stopped, and recovery and reconciliation use it
//! for what a dead bot left. Undo actions are idempotent, so running one again after a crash is
//! safe.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::action::Action;
use super::guard::Fence;
use super::perform::{Acting, ErrorKind, perform};
use super::plan::Step;
use crate::journal::{Journal, StepIntent, StepState};
use crate::transport::Host;

/// One step to undo, and where it stood in its plan.
#[derive(Clone, Debug)]
pub(crate) struct ToUndo {
    /// The step's journal id.
    pub step_id: i64,
    pub seq: usize,
    pub host: String,
    /// Its wave in the plan: later waves are undone first.
    pub wave: usize,
    pub actions: Vec<Action>,
}

/// What undoing found: how many steps went back, and what could not.
#[derive(Clone, Debug, Default)]
pub(crate) struct Undone {
    pub steps: usize,
    pub problems: Vec<String>,
    /// A host refused an undo: another bot has taken the deploy over.
    pub fenced: Option<String>,
}

/// Everything an undo needs; cheap to clone into the tasks of a wave.
#[derive(Clone)]
pub(crate) struct Undoer {
    pub journal: Journal,
    pub hosts: Arc<BTreeMap<String, Host>>,
    /// Deploy root per host (the guard's lock and records live there).
    pub roots: Arc<BTreeMap<String, String>>,
    pub fence: Fence,
    pub deploy_id: i64,
    pub layout_timeout: Duration,
    pub max_parallel: usize,
}

impl Undoer {
    /// Undoes `steps`: wave by wave from the last, the hosts of a wave in parallel.
    pub async fn undo(&self, steps: Vec<ToUndo>) -> Undone {
        let mut by_wave: BTreeMap<usize, BTreeMap<String, Vec<ToUndo>>> = BTreeMap::new();
        for step in steps.into_iter().filter(|s| !s.actions.is_empty()) {
            by_wave
                .entry(step.wave)
                .or_default()
                .entry(step.host.clone())
                .or_default()
                .push(step);
        }
        let limit = Arc::new(Semaphore::new(self.max_parallel.max(1)));
        let mut undone = Undone::default();
        for (_, hosts) in by_wave.into_iter().rev() {
            let mut tasks = JoinSet::new();
            for (_, mut chain) in hosts {
                chain.sort_by_key(|s| std::cmp::Reverse(s.step_id));
                let undoer = self.clone();
                let limit = limit.clone();
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("semaphore open");
                    let mut done = Undone::default();
                    for step in chain {
                        match undoer.undo_step(&step).await {
                            Ok(()) => done.steps += 1,
                            Err((kind, problem)) => {
                                let problem = format!("{}: {problem}", step.host);
                                if kind == ErrorKind::Fenced {
                                    done.fenced = Some(problem);
                                    break;
                                }
                                done.problems.push(problem);
                                // The host's later undos build on this one: stop there.
                                break;
                            }
                        }
                    }
                    done
                });
            }
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok(done) => {
                        undone.steps += done.steps;
                        undone.problems.extend(done.problems);
                        if undone.fenced.is_none() {
                            undone.fenced = done.fenced;
                        }
                    }
                    Err(e) => undone.problems.push(format!("an undo task died: {e}")),
                }
            }
            if undone.fenced.is_some() {
                break;
            }
        }
        undone
    }

    /// Runs one step's undo actions on its host, journaling each; marks the step undone.
    async fn undo_step(&self, step: &ToUndo) -> Result<(), (ErrorKind, String)> {
        for action in &step.actions {
            if let Err((kind, why)) = self
                .run_journaled(&step.host, step.seq, "undo", Some(step.step_id), action)
                .await
            {
                if kind != ErrorKind::Fenced {
                    let _ = self.journal.mark(step.step_id, StepState::UndoFailed).await;
                }
                return Err((kind, format!("{}: {why}", action.label())));
            }
        }
        self.journal
            .mark(step.step_id, StepState::Undone)
            .await
            .map_err(|e| (ErrorKind::Failed, e.to_string()))
    }

    /// Runs one action on `host` as a step of its own (journaled before and after, under the
    /// guard), never stopped half-way: undo and repair are what put the fleet back. It is
    /// journaled `Reverted` when it ends well, except in phase `finish` (a clean-up recovery
    /// completes for a deploy that was live), which is `Done`.
    pub async fn run_journaled(
        &self,
        host_name: &str,
        seq: usize,
        phase: &str,
        undo_of: Option<i64>,
        action: &Action,
    ) -> Result<String, (ErrorKind, String)> {
        let done = if phase == FINISH {
            StepState::Done
        } else {
            StepState::Reverted
        };
        let journal_error = |e: crate::journal::JournalError| (ErrorKind::Failed, e.to_string());
        let host = self
            .hosts
            .get(host_name)
            .ok_or_else(|| (ErrorKind::Failed, format!("cannot reach {host_name}")))?;
        let never = CancellationToken::new();
        let intent = StepIntent {
            seq: seq as i64,
            host: Some(host_name.to_string()),
            phase: phase.into(),
            label: action.label(),
            action: serde_json::to_string(action).expect("actions serialise"),
            undo: None,
            undo_of,
        };
        let id = self
            .journal
            .intent(self.deploy_id, intent)
            .await
            .map_err(journal_error)?;
        let acting = Acting {
            layout_timeout: self.layout_timeout,
            guard: self
                .roots
                .get(host_name)
                .map(|root| (&self.fence, root.as_str(), id)),
            stop: &never,
            lines: None,
        };
        let result = perform(host, action, &acting).await;
        let (state, output) = match &result {
            Ok(out) => (done, out.clone()),
            Err(e) => (StepState::UndoFailed, format!("{}\n{}", e.reason, e.output)),
        };
        if let Err(e) = &result
            && e.kind == ErrorKind::Fenced
        {
            return Err((ErrorKind::Fenced, e.reason.clone()));
        }
        self.journal
            .outcome(id, state, output)
            .await
            .map_err(journal_error)?;
        result.map_err(|e| (e.kind, e.reason))
    }
}

/// The journal phase of a clean-up that recovery completes.
pub(crate) const FINISH: &str = "finish";

/// The undo of a step that ended in `state`: its own undo, except for a migration that was
/// stopped before it finished, which is taken to have done nothing (a migration must undo
/// itself when stopped, as one in a transaction does): its marker is forgotten instead, and a
/// stopped down is left as it is.
pub(crate) fn undo_for(action: &Action, undo: &[Action], state: StepState) -> Vec<Action> {
    match (action, state) {
        (
            Action::Migrate {
                up: true, marker, ..
            },
            StepState::Interrupted,
        ) => {
            vec![Action::ForgetMigration {
                marker: marker.clone(),
            }]
        }
        (Action::Migrate { up: false, .. }, StepState::Interrupted) => Vec::new(),
        _ => undo.to_vec(),
    }
}

/// The wave of each step of a plan, by sequence number: consecutive steps of one phase form
/// a wave.
pub(crate) fn wave_of(steps: &[Step]) -> BTreeMap<usize, usize> {
    let mut waves = BTreeMap::new();
    let mut wave = 0;
    for (i, step) in steps.iter().enumerate() {
        if i > 0 && steps[i - 1].phase != step.phase {
            wave += 1;
        }
        waves.insert(step.seq, wave);
    }
    waves
}
