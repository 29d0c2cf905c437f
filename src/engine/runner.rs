//! Runs a `Plan`: wave by wave, hosts in parallel within a wave, every step journaled before and after, and every done step undone newest first when one fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::event::{Control, EngineEvent, Failure, RunOutcome, Stop};
use super::guard::Fence;
use super::perform::{Acting, ErrorKind, perform};
use super::plan::{Phase, Plan, Step};
use super::tenure::Tenure;
use super::undo::{ToUndo, Undoer, undo_for};
use crate::journal::{Journal, StepIntent, StepState};
use crate::transport::{Host, OutputLine};

/// Everything the runner needs besides the plan.
#[derive(Clone)]
pub struct Runner {
    pub journal: Journal,
    pub hosts: Arc<BTreeMap<String, Host>>,
    pub events: mpsc::Sender<EngineEvent>,
    /// Stops the deploy (its running command through the guard), which is then undone.
    pub stop: Stop,
    pub max_parallel: usize,
    /// For the layout commands (stage, switch, remove).
    pub layout_timeout: Duration,
    /// How many times a step that failed for a passing reason is tried again.
    pub retries: u32,
    /// The journal, the deploy, and the fencing generation it runs under.
    pub fence: Fence,
    /// Where the hosts' output lines go as they are printed (the live log), if anywhere.
    pub lines: Option<mpsc::Sender<OutputLine>>,
    /// Whether this bot's leases are still renewed: once they may have run out, it takes no
    /// further step and undoes nothing.
    pub tenure: Tenure,
}

/// A step that was started, with its journal id, its wave, and how it ended.
#[derive(Clone)]
struct Started {
    journal_id: i64,
    step: Arc<Step>,
    wave: usize,
    state: StepState,
    /// A stage step that staged its host by delta.
    by_delta: bool,
}

/// Why a step (and so the run) stopped.
enum Halt {
    /// It failed, or the deploy was stopped: what was done is undone.
    Failed(Failure),
    /// Another bot acts on this deploy now: nothing more is done, nothing undone.
    Fenced(String),
}

impl Runner {
    /// Runs the plan to the end, or undoes what it did. A canary plan stops after its canary
    /// wave and waits on `control` for `Continue` (the rest of the fleet) or `Abort` (undo
    /// everything).
    pub async fn run(
        &self,
        plan: &Plan,
        mut control: Option<&mut mpsc::Receiver<Control>>,
    ) -> RunOutcome {
        let started_at = Instant::now();
        let started: Arc<Mutex<Vec<Started>>> = Arc::default();
        let roots: Arc<BTreeMap<String, String>> = Arc::new(
            plan.hosts
                .iter()
                .map(|h| (h.name.clone(), h.deploy_to.clone()))
                .collect(),
        );
        let mut failure: Option<Failure> = None;
        let mut live_said = false;
        // One copy of the steps for the whole run, shared by the waves, the hosts' tasks and
        // the record of what started: memory grows with the plan once, not once per use.
        let steps: Vec<Arc<Step>> = plan.steps.iter().cloned().map(Arc::new).collect();

        for (index, wave) in waves(&steps).into_iter().enumerate() {
            if self.stop.is_stopped() {
                failure = Some(Failure {
                    retries_spent: false,
                    host: None,
                    step: crate::announce::STOPPED.into(),
                    reason: self.stop.reason(),
                    output: String::new(),
                });
                break;
            }
            let phase = wave[0].phase.clone();
            if phase == Phase::Finish && !live_said {
                // The clean-up changes nothing people see: the deploy is live before it.
                live_said = true;
                self.emit(EngineEvent::Live {
                    elapsed: started_at.elapsed(),
                })
                .await;
            }
            let wave_started = Instant::now();
            let hosts_in_wave = hosts_of(wave);
            if let Phase::Switch {
                group,
                batch,
                batches,
            } = &phase
            {
                self.emit(EngineEvent::BatchStarted {
                    group: group.clone(),
                    batch: *batch,
                    batches: *batches,
                    hosts: hosts_in_wave.clone(),
                })
                .await;
            }
            let result = self.run_wave(wave, index, &roots, started.clone()).await;
            match (result, &phase) {
                (Err(Halt::Fenced(reason)), _) => {
                    return RunOutcome::Fenced {
                        reason,
                        elapsed: started_at.elapsed(),
                    };
                }
                (Ok(()), Phase::Stage) => {
                    let delta = started
                        .lock()
                        .expect("not poisoned")
                        .iter()
                        .filter(|s| s.wave == index && s.by_delta)
                        .count();
                    self.emit(EngineEvent::Staged {
                        hosts: hosts_in_wave.len(),
                        delta,
                        elapsed: wave_started.elapsed(),
                    })
                    .await
                }
                (Ok(()), Phase::Migrate) => {
                    self.emit(EngineEvent::Migrated {
                        hosts: hosts_in_wave,
                        elapsed: wave_started.elapsed(),
                    })
                    .await
                }
                (
                    Ok(()),
                    Phase::Switch {
                        group,
                        batch,
                        batches,
                    },
                ) => {
                    self.emit(EngineEvent::BatchHealthy {
                        group: group.clone(),
                        batch: *batch,
                        batches: *batches,
                        hosts: hosts_in_wave,
                        elapsed: wave_started.elapsed(),
                    })
                    .await;
                    if group == "canary"
                        && let Some(host) = &plan.canary
                        && let Err(f) = self.await_canary(host, control.as_deref_mut()).await
                    {
                        failure = Some(f);
                        break;
                    }
                }
                (Ok(()), Phase::Finish | Phase::Check | Phase::Verify) => {}
                (Ok(()), Phase::MaintenanceUp) => {
                    self.emit(EngineEvent::Note("the maintenance page is up".into()))
                        .await
                }
                (Ok(()), Phase::MaintenanceDown) => {
                    self.emit(EngineEvent::Note("the maintenance page is down".into()))
                        .await
                }
                (Err(Halt::Failed(f)), Phase::Finish) => {
                    self.emit(EngineEvent::Warning(format!("cleanup: {}", f.describe())))
                        .await
                }
                (Err(Halt::Failed(f)), _) => {
                    failure = Some(f);
                    break;
                }
            }
        }

        let Some(failure) = failure else {
            return RunOutcome::Succeeded {
                elapsed: started_at.elapsed(),
            };
        };
        self.emit(EngineEvent::Failed(failure.clone())).await;
        let done = started.lock().expect("not poisoned").clone();
        let to_undo: Vec<ToUndo> = done
            .iter()
            .map(|s| ToUndo {
                step_id: s.journal_id,
                seq: s.step.seq,
                host: s.step.host.clone(),
                wave: s.wave,
                actions: undo_for(&s.step.action, &s.step.undo, s.state),
            })
            .filter(|u| !u.actions.is_empty())
            .collect();
        for s in &done {
            if s.state == StepState::Interrupted
                && let super::action::Action::Migrate { up, .. } = &s.step.action
            {
                self.emit(EngineEvent::Warning(format!(
                    "migrate {} on {} was stopped before it finished; its {} does not run (a migration must undo itself when stopped)",
                    if *up { "up" } else { "down" },
                    s.step.host,
                    if *up { "down" } else { "up" },
                )))
                .await;
            }
        }
        // A bot that lost the journal undoes nothing: the bot that recovers its deploy does.
        if self.tenure.lost() {
            return RunOutcome::Fenced {
                reason: self.tenure.why_lost(),
                elapsed: started_at.elapsed(),
            };
        }
        self.emit(EngineEvent::Undoing {
            steps: to_undo.len(),
        })
        .await;
        let undoer = Undoer {
            journal: self.journal.clone(),
            hosts: self.hosts.clone(),
            roots,
            fence: self.fence.clone(),
            deploy_id: self.fence.deploy,
            layout_timeout: self.layout_timeout,
            max_parallel: self.max_parallel,
        };
        let undone = undoer.undo(to_undo).await;
        if let Some(reason) = undone.fenced {
            return RunOutcome::Fenced {
                reason,
                elapsed: started_at.elapsed(),
            };
        }
        for problem in &undone.problems {
            self.emit(EngineEvent::Warning(format!("undo failed on {problem}")))
                .await;
        }
        if undone.problems.is_empty() {
            RunOutcome::Undone {
                failure,
                undone: undone.steps,
                elapsed: started_at.elapsed(),
            }
        } else {
            RunOutcome::UndoFailed {
                failure,
                problems: undone.problems,
                elapsed: started_at.elapsed(),
            }
        }
    }

    /// Waits, after the canary switched, for someone to say `continue` or to roll back.
    async fn await_canary(
        &self,
        host: &str,
        control: Option<&mut mpsc::Receiver<Control>>,
    ) -> Result<(), Failure> {
        let stopped = |reason: String| Failure {
            retries_spent: false,
            host: Some(host.to_string()),
            step: "canary".into(),
            reason,
            output: String::new(),
        };
        self.emit(EngineEvent::CanaryWaiting {
            host: host.to_string(),
        })
        .await;
        let Some(control) = control else {
            return Ok(());
        };
        tokio::select! {
            said = control.recv() => match said {
                Some(Control::Continue { who }) => {
                    self.emit(EngineEvent::CanaryContinued { who }).await;
                    Ok(())
                }
                Some(Control::Abort { who }) => Err(stopped(format!("rolled back by {who}"))),
                None => Err(stopped("nobody can say continue any more".into())),
            },
            () = self.stop.stopped() => Err(stopped(self.stop.reason())),
        }
    }

    async fn emit(&self, event: EngineEvent) {
        let _ = self.events.send(event).await;
    }

    /// Runs one wave: each host's steps in order, hosts in parallel (bounded).
    async fn run_wave(
        &self,
        wave: &[Arc<Step>],
        index: usize,
        roots: &Arc<BTreeMap<String, String>>,
        started: Arc<Mutex<Vec<Started>>>,
    ) -> Result<(), Halt> {
        let limit = Arc::new(Semaphore::new(self.max_parallel.max(1)));
        let mut chains: BTreeMap<&str, Vec<Arc<Step>>> = BTreeMap::new();
        let mut order = Vec::new();
        for step in wave {
            if !chains.contains_key(step.host.as_str()) {
                order.push(step.host.as_str());
            }
            chains.entry(&step.host).or_default().push(step.clone());
        }
        let mut tasks = JoinSet::new();
        for host in order {
            let chain = chains.remove(host).unwrap_or_default();
            let runner = self.clone();
            let limit = limit.clone();
            let started = started.clone();
            let roots = roots.clone();
            // A step's future is large (a remote command's whole state): boxed, it is made only
            // once the host's turn comes, so the hosts waiting for a turn cost next to nothing
            // and memory stays flat in the number of hosts.
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore open");
                for step in chain {
                    Box::pin(runner.run_step(step, index, &roots, &started)).await?;
                }
                Ok::<(), Halt>(())
            });
        }
        let mut first: Option<Halt> = None;
        while let Some(joined) = tasks.join_next().await {
            let result = joined.unwrap_or_else(|e| {
                Err(Halt::Failed(Failure {
                    retries_spent: false,
                    host: None,
                    step: "internal".into(),
                    reason: format!("a step task died: {e}"),
                    output: String::new(),
                }))
            });
            match (result, &first) {
                (Ok(()), _) => {}
                // Fencing wins over any failure: nothing may be undone then.
                (Err(halt @ Halt::Fenced(_)), _) => first = Some(halt),
                (Err(halt), None) => first = Some(halt),
                (Err(_), Some(_)) => {}
            }
        }
        first.map_or(Ok(()), Err)
    }

    async fn run_step(
        &self,
        step: Arc<Step>,
        wave: usize,
        roots: &BTreeMap<String, String>,
        started: &Mutex<Vec<Started>>,
    ) -> Result<(), Halt> {
        let label = step.action.label();
        let fail = |reason: String, output: String| {
            Halt::Failed(Failure {
                retries_spent: false,
                host: Some(step.host.clone()),
                step: label.clone(),
                reason,
                output,
            })
        };
        // The fencing token, checked before every step: a bot whose deploy was taken over
        // stops here.
        // A bot that cannot reach the journal waits for it while its lease lasts, and stops
        // (undoing nothing) once the lease may have run out.
        let deploy = self.fence.deploy;
        // Every wait on the journal here is bounded by what is left of the lease.
        loop {
            if self.tenure.lost() {
                return Err(Halt::Fenced(self.tenure.why_lost()));
            }
            let held = self
                .tenure
                .within(self.journal.still_holds(deploy, self.fence.generation))
                .await;
            match held {
                None => continue,
                Some(Ok(true)) => break,
                Some(Ok(false)) => {
                    return Err(Halt::Fenced(format!(
                        "deploy #{deploy} is no longer this bot's: its lease was taken over"
                    )));
                }
                Some(Err(e)) => {
                    tracing::warn!("deploy #{deploy}: cannot read its lock before a step: {e}");
                    // A pause before asking again, never past the lease.
                    let pause = tokio::time::sleep(Duration::from_millis(200));
                    self.tenure.within(pause).await;
                }
            }
        }
        let intent = StepIntent {
            seq: step.seq as i64,
            host: Some(step.host.clone()),
            phase: step.phase.name().to_string(),
            label: label.clone(),
            action: serde_json::to_string(&step.action).expect("actions serialise"),
            undo: (!step.undo.is_empty())
                .then(|| serde_json::to_string(&step.undo).expect("actions serialise")),
            undo_of: None,
        };
        crash_point(step.seq, CrashAt::Before);
        let journal_id = self
            .tenure
            .within(self.journal.intent(deploy, intent))
            .await
            .ok_or_else(|| Halt::Fenced(self.tenure.why_lost()))?
            .map_err(|e| fail(e.to_string(), String::new()))?;
        crash_point(step.seq, CrashAt::Intent);
        // Writing the intent may have taken the rest of the lease: then the step is not run
        // (the bot that recovers the deploy finds the intent and looks at the host).
        if self.tenure.lost() {
            return Err(Halt::Fenced(self.tenure.why_lost()));
        }
        let record_state = |state: StepState| {
            let mut all = started.lock().expect("not poisoned");
            if let Some(s) = all.iter_mut().find(|s| s.journal_id == journal_id) {
                s.state = state;
            }
        };
        started.lock().expect("not poisoned").push(Started {
            journal_id,
            step: step.clone(),
            wave,
            state: StepState::Intent,
            by_delta: false,
        });

        let Some(host) = self.hosts.get(&step.host) else {
            let reason = format!("no such host {}", step.host);
            let _ = self
                .journal
                .outcome(journal_id, StepState::Failed, reason.clone())
                .await;
            record_state(StepState::Failed);
            return Err(fail(reason, String::new()));
        };
        let acting = Acting {
            layout_timeout: self.layout_timeout,
            guard: roots
                .get(&step.host)
                .map(|root| (&self.fence, root.as_str(), journal_id)),
            stop: self.stop.token(),
            lines: self.lines.as_ref(),
        };
        if crash_at(step.seq, CrashAt::During) {
            // The action starts, and the bot dies while it runs.
            let (host, action) = (host.clone(), step.action.clone());
            let (timeout, fence) = (self.layout_timeout, self.fence.clone());
            let root = roots.get(&step.host).cloned();
            let _running = tokio::spawn(async move {
                let never = tokio_util::sync::CancellationToken::new();
                let acting = Acting {
                    layout_timeout: timeout,
                    guard: root.as_deref().map(|r| (&fence, r, journal_id)),
                    stop: &never,
                    lines: None,
                };
                perform(&host, &action, &acting).await
            });
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
            crash_now();
        }
        // A step that failed for a passing reason is tried again, with back-off.
        let mut tries = 0;
        let result = loop {
            tries += 1;
            match perform(host, &step.action, &acting).await {
                Err(e)
                    if matches!(e.kind, ErrorKind::Transient | ErrorKind::TimedOut)
                        && tries <= self.retries
                        && !self.stop.is_stopped() =>
                {
                    self.emit(EngineEvent::Warning(format!(
                        "{label} on {}: {} — trying again ({tries}/{})",
                        step.host, e.reason, self.retries
                    )))
                    .await;
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(250 << tries.min(6))) => {}
                        () = self.stop.stopped() => {}
                    }
                }
                other => break other,
            }
        };
        if let Err(e) = &result
            && e.kind == ErrorKind::Fenced
        {
            // The host has seen a newer generation: not a word more to the journal.
            return Err(Halt::Fenced(format!("{}: {}", step.host, e.reason)));
        }
        let (state, output) = match &result {
            Ok(output) => {
                if matches!(step.action, super::action::Action::Stage { .. })
                    && super::staging::by_delta(output)
                {
                    let mut all = started.lock().expect("not poisoned");
                    if let Some(s) = all.iter_mut().find(|s| s.journal_id == journal_id) {
                        s.by_delta = true;
                    }
                }
                (StepState::Done, output.clone())
            }
            Err(e) if e.kind == ErrorKind::Interrupted => (
                StepState::Interrupted,
                format!("{}\n{}", e.reason, e.output),
            ),
            Err(e) => (StepState::Failed, format!("{}\n{}", e.reason, e.output)),
        };
        crash_point(step.seq, CrashAt::After);
        // A bot whose lease may have run out writes nothing more: the bot recovering the deploy
        // reads the step's end from the host.
        if self.tenure.lost() {
            return Err(Halt::Fenced(self.tenure.why_lost()));
        }
        if let Err(e) = self.journal.outcome(journal_id, state, output).await {
            return Err(fail(e.to_string(), String::new()));
        }
        record_state(state);
        result.map(|_| ()).map_err(|e| {
            if e.kind == ErrorKind::Interrupted && self.stop.is_stopped() {
                return Halt::Failed(Failure {
                    retries_spent: false,
                    host: None,
                    step: crate::announce::STOPPED.into(),
                    reason: format!("{} (during {label} on {})", self.stop.reason(), step.host),
                    output: e.output,
                });
            }
            let mut failure = Failure {
                retries_spent: false,
                host: Some(step.host.clone()),
                step: label.clone(),
                reason: e.reason,
                output: e.output,
            };
            if matches!(e.kind, ErrorKind::Transient | ErrorKind::TimedOut) {
                failure.reason = format!("{} (tried {tries} times)", failure.reason);
                failure.retries_spent = true;
            }
            Halt::Failed(failure)
        })
    }
}

/// Consecutive steps of the same phase form a wave.
fn waves(steps: &[Arc<Step>]) -> Vec<&[Arc<Step>]> {
    steps.chunk_by(|a, b| a.phase == b.phase).collect()
}

/// The wave's hosts, each once, in the order of their first step.
fn hosts_of(wave: &[Arc<Step>]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    wave.iter()
        .filter(|s| seen.insert(s.host.as_str()))
        .map(|s| s.host.clone())
        .collect()
}

/// Where in a step the kill test may stop the bot (`BOSUN_CRASH_AT=SEQ:WHERE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashAt {
    /// Before its intent is journaled.
    Before,
    /// After its intent, before it runs.
    Intent,
    /// While it runs on the host.
    During,
    /// After it ran, before its outcome is journaled.
    After,
}

/// The kill test's hook: `BOSUN_CRASH_AT=SEQ:before|intent|during|after` makes this process
/// SIGKILL itself at that point of step SEQ, so that recovery can be proven at every step
/// boundary and in the middle of every kind of step. Unset, it costs one lookup.
fn crash_at(seq: usize, at: CrashAt) -> bool {
    static TARGET: std::sync::OnceLock<Option<(usize, String)>> = std::sync::OnceLock::new();
    let target = TARGET.get_or_init(|| {
        let value = std::env::var("BOSUN_CRASH_AT").ok()?;
        let (seq, at) = value.split_once(':')?;
        Some((seq.parse().ok()?, at.to_ascii_lowercase()))
    });
    matches!(target, Some((s, a)) if *s == seq && *a == format!("{at:?}").to_ascii_lowercase())
}

fn crash_point(seq: usize, at: CrashAt) {
    if crash_at(seq, at) {
        crash_now();
    }
}

/// Dies the way a killed bot dies: SIGKILL, no unwinding, nothing flushed.
fn crash_now() -> ! {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status();
    std::process::abort()
}
