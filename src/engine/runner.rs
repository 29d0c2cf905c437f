//! Runs a `Plan`: wave by wave, hosts in parallel within a wave, every step journaled before and after, and every done step undone newest first when one fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::action::{Action, cleanup};
use super::event::{Control, EngineEvent, Failure, RunOutcome};
use super::plan::{Phase, Plan, Step};
use crate::journal::{Journal, StepIntent, StepState};
use crate::transport::{CommandOutput, Host, OutputLine, RemoteCommand};

/// Everything the runner needs besides the plan.
#[derive(Clone)]
pub struct Runner {
    pub journal: Journal,
    pub hosts: Arc<BTreeMap<String, Host>>,
    pub events: mpsc::Sender<EngineEvent>,
    pub cancel: CancellationToken,
    pub max_parallel: usize,
    /// For the layout commands (stage, switch, remove).
    pub layout_timeout: Duration,
    /// How many times a step that failed for a passing reason is tried again.
    pub retries: u32,
    /// Where the hosts' output lines go as they are printed (the live log), if anywhere.
    pub lines: Option<mpsc::Sender<OutputLine>>,
}

/// Why one action failed, and whether trying again might help.
#[derive(Debug)]
pub(crate) struct StepError {
    pub reason: String,
    pub output: String,
    /// A timeout or a dropped connection, not a command that said no.
    pub transient: bool,
}

impl StepError {
    fn fatal(reason: String, output: String) -> StepError {
        StepError {
            reason,
            output,
            transient: false,
        }
    }
}

/// A step that was started, with its journal id.
#[derive(Clone)]
struct Started {
    journal_id: i64,
    step: Step,
}

impl Runner {
    /// Runs the plan to the end, or undoes what it did.
    /// Runs the plan. A canary plan stops after its canary wave and waits on `control` for
    /// `Continue` (the rest of the fleet) or `Abort` (undo everything).
    pub async fn run(
        &self,
        deploy_id: i64,
        plan: &Plan,
        mut control: Option<&mut mpsc::Receiver<Control>>,
    ) -> RunOutcome {
        let started_at = Instant::now();
        let started: Arc<Mutex<Vec<Started>>> = Arc::default();
        let mut failure: Option<Failure> = None;

        for wave in waves(&plan.steps) {
            if self.cancel.is_cancelled() {
                failure = Some(Failure {
                    retries_spent: false,
                    host: None,
                    step: "cancelled".into(),
                    reason: "the deploy was cancelled".into(),
                    output: String::new(),
                });
                break;
            }
            let phase = wave[0].phase.clone();
            let wave_started = Instant::now();
            let hosts_in_wave = hosts_of(&wave);
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
            let result = self.run_wave(deploy_id, &wave, started.clone()).await;
            match (result, &phase) {
                (Ok(()), Phase::Stage) => {
                    self.emit(EngineEvent::Staged {
                        hosts: hosts_in_wave.len(),
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
                (Err(f), Phase::Finish) => {
                    self.emit(EngineEvent::Warning(format!("cleanup: {}", f.describe())))
                        .await
                }
                (Err(f), _) => {
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
        let mut done = started.lock().expect("not poisoned").clone();
        done.sort_by_key(|s| s.journal_id);
        let problems = self.undo_all(deploy_id, &done).await;
        let undone = done.iter().filter(|s| !s.step.undo.is_empty()).count();
        if problems.is_empty() {
            RunOutcome::Undone {
                failure,
                undone,
                elapsed: started_at.elapsed(),
            }
        } else {
            RunOutcome::UndoFailed {
                failure,
                problems,
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
            _ = self.cancel.cancelled() => Err(stopped("the deploy was cancelled".into())),
        }
    }

    async fn emit(&self, event: EngineEvent) {
        let _ = self.events.send(event).await;
    }

    /// Runs one wave: each host's steps in order, hosts in parallel (bounded).
    async fn run_wave(
        &self,
        deploy_id: i64,
        wave: &[Step],
        started: Arc<Mutex<Vec<Started>>>,
    ) -> Result<(), Failure> {
        let limit = Arc::new(Semaphore::new(self.max_parallel.max(1)));
        let mut chains: BTreeMap<String, Vec<Step>> = BTreeMap::new();
        let mut order = Vec::new();
        for step in wave {
            if !chains.contains_key(&step.host) {
                order.push(step.host.clone());
            }
            chains
                .entry(step.host.clone())
                .or_default()
                .push(step.clone());
        }
        let mut tasks = JoinSet::new();
        for host in order {
            let chain = chains.remove(&host).unwrap_or_default();
            let runner = self.clone();
            let limit = limit.clone();
            let started = started.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore open");
                for step in chain {
                    runner.run_step(deploy_id, step, &started).await?;
                }
                Ok::<(), Failure>(())
            });
        }
        let mut first_failure = None;
        while let Some(joined) = tasks.join_next().await {
            let result = joined.unwrap_or_else(|e| {
                Err(Failure {
                    retries_spent: false,
                    host: None,
                    step: "internal".into(),
                    reason: format!("a step task died: {e}"),
                    output: String::new(),
                })
            });
            if let Err(f) = result {
                first_failure.get_or_insert(f);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    async fn run_step(
        &self,
        deploy_id: i64,
        step: Step,
        started: &Mutex<Vec<Started>>,
    ) -> Result<(), Failure> {
        let label = step.action.label();
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
        let fail = |reason: String, output: String| Failure {
            retries_spent: false,
            host: Some(step.host.clone()),
            step: label.clone(),
            reason,
            output,
        };
        crash_point(step.seq, CrashAt::Before);
        let journal_id = self
            .journal
            .intent(deploy_id, intent)
            .await
            .map_err(|e| fail(e.to_string(), String::new()))?;
        crash_point(step.seq, CrashAt::Intent);
        started.lock().expect("not poisoned").push(Started {
            journal_id,
            step: step.clone(),
        });

        let Some(host) = self.hosts.get(&step.host) else {
            let reason = format!("no such host {}", step.host);
            let _ = self
                .journal
                .outcome(journal_id, StepState::Failed, reason.clone())
                .await;
            return Err(fail(reason, String::new()));
        };
        // A step that failed for a passing reason is tried again, with back-off.
        let mut tries = 0;
        if crash_at(step.seq, CrashAt::During) {
            // The action starts, and the bot dies while it runs.
            let (host, action, timeout) = (host.clone(), step.action.clone(), self.layout_timeout);
            let _running =
                tokio::spawn(async move { perform(&host, &action, timeout, None).await });
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
            crash_now();
        }
        let result = loop {
            tries += 1;
            match perform(host, &step.action, self.layout_timeout, self.lines.as_ref()).await {
                Err(e) if e.transient && tries <= self.retries && !self.cancel.is_cancelled() => {
                    self.emit(EngineEvent::Warning(format!(
                        "{label} on {}: {} — trying again ({tries}/{})",
                        step.host, e.reason, self.retries
                    )))
                    .await;
                    tokio::time::sleep(Duration::from_millis(250 << tries.min(6))).await;
                }
                other => break other,
            }
        };
        let (state, output) = match &result {
            Ok(output) => (StepState::Done, output.clone()),
            Err(e) => (StepState::Failed, format!("{}\n{}", e.reason, e.output)),
        };
        crash_point(step.seq, CrashAt::After);
        if let Err(e) = self.journal.outcome(journal_id, state, output).await {
            return Err(fail(e.to_string(), String::new()));
        }
        result.map(|_| ()).map_err(|e| {
            let mut failure = fail(e.reason, e.output);
            if e.transient {
                failure.reason = format!("{} (tried {tries} times)", failure.reason);
                failure.retries_spent = true;
            }
            failure
        })
    }

    /// Undoes the started steps newest first. Returns the problems met (empty when all went back).
    async fn undo_all(&self, deploy_id: i64, done: &[Started]) -> Vec<String> {
        let undoable: Vec<&Started> = done.iter().filter(|s| !s.step.undo.is_empty()).collect();
        self.emit(EngineEvent::Undoing {
            steps: undoable.len(),
        })
        .await;
        let mut problems = Vec::new();
        for s in undoable.into_iter().rev() {
            if let Err(problem) = undo_step(
                &self.journal,
                &self.hosts,
                deploy_id,
                s.journal_id,
                &s.step.host,
                &s.step.undo,
                s.step.seq,
                self.layout_timeout,
            )
            .await
            {
                self.emit(EngineEvent::Warning(format!(
                    "undo failed on {}: {problem}",
                    s.step.host
                )))
                .await;
                problems.push(format!("{}: {problem}", s.step.host));
            }
        }
        problems
    }
}

/// Runs one step's undo actions on its host, journaling each; marks the step undone.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn undo_step(
    journal: &Journal,
    hosts: &BTreeMap<String, Host>,
    deploy_id: i64,
    step_journal_id: i64,
    host_name: &str,
    undo: &[Action],
    seq: usize,
    layout_timeout: Duration,
) -> Result<(), String> {
    let host = hosts
        .get(host_name)
        .ok_or_else(|| format!("no such host {host_name}"))?;
    for action in undo {
        let intent = StepIntent {
            seq: seq as i64,
            host: Some(host_name.to_string()),
            phase: "undo".into(),
            label: action.label(),
            action: serde_json::to_string(action).expect("actions serialise"),
            undo: None,
            undo_of: Some(step_journal_id),
        };
        let id = journal
            .intent(deploy_id, intent)
            .await
            .map_err(|e| e.to_string())?;
        let result = perform(host, action, layout_timeout, None).await;
        let (state, output) = match &result {
            Ok(out) => (StepState::Reverted, out.clone()),
            Err(e) => (StepState::UndoFailed, format!("{}\n{}", e.reason, e.output)),
        };
        journal
            .outcome(id, state, output)
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = result {
            let _ = journal.mark(step_journal_id, StepState::UndoFailed).await;
            return Err(format!("{}: {}", action.label(), e.reason));
        }
    }
    journal
        .mark(step_journal_id, StepState::Undone)
        .await
        .map_err(|e| e.to_string())
}

/// Performs one action on one host. Ok: its output; Err: why, and its output.
pub(crate) async fn perform(
    host: &Host,
    action: &Action,
    layout_timeout: Duration,
    lines: Option<&mpsc::Sender<OutputLine>>,
) -> Result<String, StepError> {
    match action {
        Action::Health {
            argv,
            cwd,
            retries,
            interval_ms,
            timeout_ms,
        } => {
            let cmd = RemoteCommand::new(argv.clone())
                .in_dir(cwd.clone())
                .with_timeout(Duration::from_millis(*timeout_ms));
            let mut last = String::new();
            for attempt in 0..=*retries {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(*interval_ms)).await;
                }
                match host.run(&cmd, lines).await {
                    Ok(out) if out.success() => return Ok(out.output),
                    Ok(out) => last = failure_text(&out),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(StepError::fatal(
                format!("health check failed {} times", retries + 1),
                last,
            ))
        }
        Action::HealthHttp {
            url,
            retries,
            interval_ms,
            timeout_ms,
        } => {
            let mut last = String::new();
            for attempt in 0..=*retries {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(*interval_ms)).await;
                }
                let request = health_client()
                    .get(url)
                    .timeout(Duration::from_millis(*timeout_ms))
                    .send();
                match request.await {
                    Ok(answer) if answer.status().is_success() => {
                        return Ok(format!("GET {url}: {}", answer.status()));
                    }
                    Ok(answer) => last = format!("GET {url}: {}", answer.status()),
                    Err(e) => last = format!("GET {url}: {}", without_url(&e)),
                }
            }
            Err(StepError::fatal(
                format!("health check failed {} times", retries + 1),
                last,
            ))
        }
        Action::Cleanup {
            deploy_to,
            keep,
            protect,
        } => {
            // One round trip: the host lists, chooses (oldest first, never current or a
            // protected release) and removes.
            checked(host.run(&cleanup(deploy_to, *keep, protect), lines).await)
        }
        other => {
            let cmd = other.command(layout_timeout).expect("one-command action");
            checked(host.run(&cmd, lines).await)
        }
    }
}

fn checked(
    result: Result<CommandOutput, crate::transport::TransportError>,
) -> Result<String, StepError> {
    match result {
        Ok(out) if out.success() => Ok(out.output),
        Ok(out) => Err(StepError::fatal(failure_text(&out), out.output)),
        Err(e) => Err(StepError {
            transient: e.is_transient(),
            reason: e.to_string(),
            output: String::new(),
        }),
    }
}

fn failure_text(out: &CommandOutput) -> String {
    let status = match out.code {
        Some(code) => format!("exited with {code}"),
        None => "was killed".to_string(),
    };
    match out.last_line() {
        "" => status,
        line => format!("{status}: {line}"),
    }
}

/// Consecutive steps of the same phase form a wave.
fn waves(steps: &[Step]) -> Vec<Vec<Step>> {
    let mut waves: Vec<Vec<Step>> = Vec::new();
    for step in steps {
        match waves.last_mut() {
            Some(wave) if wave[0].phase == step.phase => wave.push(step.clone()),
            _ => waves.push(vec![step.clone()]),
        }
    }
    waves
}

fn hosts_of(wave: &[Step]) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for s in wave {
        if !hosts.contains(&s.host) {
            hosts.push(s.host.clone());
        }
    }
    hosts
}

/// The HTTP client health checks share (rustls, one connection pool for the bot).
fn health_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client with rustls")
    })
}

/// A reqwest error's text without the URL (already shown beside it).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        text
    }
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
