//! Performs one `Action` on one host: under the step guard when it changes the host, with health checks retried, and stoppable; says how it ended (`StepError`).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::action::{Action, DELTA_REFUSED, Staging, cleanup};
use super::guard::{self, Fence, Refusal};
use crate::transport::{CommandOutput, Host, OutputLine, RemoteCommand, TransportError};

/// How one action failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The command said no (a non-zero exit), or a check failed.
    Failed,
    /// A dropped connection: another try might help.
    Transient,
    /// It ran past its time limit and was stopped: another try might help.
    TimedOut,
    /// Stopped before it finished (cancelled, shutting down, killed by a signal): it may have
    /// done part of its work.
    Interrupted,
    /// The host refused it: another bot acts on this deploy now.
    Fenced,
}

/// Why one action failed, and its output.
#[derive(Debug)]
pub(crate) struct StepError {
    pub kind: ErrorKind,
    pub reason: String,
    pub output: String,
}

impl StepError {
    fn new(kind: ErrorKind, reason: String, output: String) -> StepError {
        StepError {
            kind,
            reason,
            output,
        }
    }
}

/// Where and under whom an action runs.
#[derive(Clone, Debug)]
pub(crate) struct Acting<'a> {
    /// For the layout commands (stage, switch, remove).
    pub layout_timeout: Duration,
    /// The guard's fence and the host's deploy root, with the step's journal id: every action
    /// that changes a host runs under the guard.
    pub guard: Option<(&'a Fence, &'a str, i64)>,
    /// Stops the running command (through the guard) when cancelled.
    pub stop: &'a CancellationToken,
    /// Where the output lines go as the host prints them (the live log), if anywhere.
    pub lines: Option<&'a mpsc::Sender<OutputLine>>,
}

/// Performs one action on one host. Ok: its output; Err: how and why it failed, and its output.
pub(crate) async fn perform(
    host: &Host,
    action: &Action,
    acting: &Acting<'_>,
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
                    pause(Duration::from_millis(*interval_ms), acting.stop).await?;
                }
                match host.run_until(&cmd, acting.lines, acting.stop).await {
                    Ok(out) if out.success() => return Ok(out.output),
                    Ok(out) if out.stopped => return Err(interrupted(out.output)),
                    Ok(out) => last = failure_text(&out),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(StepError::new(
                ErrorKind::Failed,
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
                    pause(Duration::from_millis(*interval_ms), acting.stop).await?;
                }
                let request = health_client()
                    .get(url)
                    .timeout(Duration::from_millis(*timeout_ms))
                    .send();
                let answer = tokio::select! {
                    answer = request => answer,
                    () = acting.stop.cancelled() => return Err(interrupted(last)),
                };
                match answer {
                    Ok(answer) if answer.status().is_success() => {
                        return Ok(format!("GET {url}: {}", answer.status()));
                    }
                    Ok(answer) => last = format!("GET {url}: {}", answer.status()),
                    Err(e) => last = format!("GET {url}: {}", without_url(&e)),
                }
            }
            Err(StepError::new(
                ErrorKind::Failed,
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
            let cmd = cleanup(deploy_to, *keep, protect);
            run_guarded(host, cmd, acting).await
        }
        Action::Stage {
            staging: Some(staging),
            ..
        } => stage(host, action, staging, acting).await,
        other => {
            let cmd = other
                .command(acting.layout_timeout)
                .expect("one-command action");
            run_guarded(host, cmd, acting).await
        }
    }
}

/// Stages by delta, or in full when the plan says so or the host refuses the delta; the
/// output's last line says which way, for the journal.
async fn stage(
    host: &Host,
    action: &Action,
    staging: &Staging,
    acting: &Acting<'_>,
) -> Result<String, StepError> {
    let reason = match staging {
        Staging::Full { reason } => reason.clone(),
        Staging::Delta {
            base,
            changed,
            added,
            removed,
            ..
        } => {
            let cmd = action
                .delta_command(acting.layout_timeout)
                .expect("a stage by delta");
            let out = run_raw(host, cmd, acting).await?;
            if out.code != Some(DELTA_REFUSED) {
                return settle(out).map(|output| {
                    format!(
                        "{output}\n{DELTA_LINE} {base}: {changed} changed, {added} added, {removed} removed"
                    )
                });
            }
            out.output
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("bosun-delta: "))
                .unwrap_or("the host refused the delta")
                .to_string()
        }
    };
    let cmd = action
        .command(acting.layout_timeout)
        .expect("one-command action");
    let output = run_guarded(host, cmd, acting).await?;
    Ok(format!("{output}\nstaged in full: {reason}"))
}

/// How the output of a stage by delta begins its last line.
pub(crate) const DELTA_LINE: &str = "staged by delta from";

/// Runs `cmd` under the guard (when there is one) and sorts out how it ended.
async fn run_guarded(
    host: &Host,
    cmd: RemoteCommand,
    acting: &Acting<'_>,
) -> Result<String, StepError> {
    settle(run_raw(host, cmd, acting).await?)
}

/// Runs `cmd` under the guard (when there is one).
async fn run_raw(
    host: &Host,
    cmd: RemoteCommand,
    acting: &Acting<'_>,
) -> Result<CommandOutput, StepError> {
    let cmd = match acting.guard {
        Some((fence, root, step)) => guard::guarded(fence, root, step, cmd),
        None => cmd,
    };
    Ok(host.run_until(&cmd, acting.lines, acting.stop).await?)
}

/// How a command ended, as a step's result.
fn settle(out: CommandOutput) -> Result<String, StepError> {
    if out.success() {
        return Ok(out.output);
    }
    match Refusal::of(&out) {
        Some(Refusal::Fenced(why)) => {
            return Err(StepError::new(ErrorKind::Fenced, why, out.output));
        }
        Some(Refusal::LockHeld(why)) => {
            return Err(StepError::new(ErrorKind::Transient, why, out.output));
        }
        Some(Refusal::Setup(why)) => {
            return Err(StepError::new(ErrorKind::Failed, why, out.output));
        }
        Some(Refusal::TimedOut(why)) => {
            return Err(StepError::new(ErrorKind::TimedOut, why, out.output));
        }
        None => {}
    }
    // Killed by a signal (the guard passes 128 + N on), or stopped by bosun.
    if out.stopped || out.code.is_none_or(|c| c > 128) {
        return Err(interrupted(out.output));
    }
    Err(StepError::new(
        ErrorKind::Failed,
        failure_text(&out),
        out.output,
    ))
}

fn interrupted(output: String) -> StepError {
    StepError::new(
        ErrorKind::Interrupted,
        "stopped before it finished".into(),
        output,
    )
}

/// Waits between attempts, unless the deploy is stopped meanwhile.
async fn pause(wait: Duration, stop: &CancellationToken) -> Result<(), StepError> {
    tokio::select! {
        () = tokio::time::sleep(wait) => Ok(()),
        () = stop.cancelled() => Err(interrupted(String::new())),
    }
}

pub(crate) fn failure_text(out: &CommandOutput) -> String {
    let status = match out.code {
        Some(code) => format!("exited with {code}"),
        None => "was killed".to_string(),
    };
    match out.last_line() {
        "" => status,
        line => format!("{status}: {line}"),
    }
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

impl From<TransportError> for StepError {
    fn from(e: TransportError) -> StepError {
        let kind = match e {
            TransportError::Timeout(_) => ErrorKind::TimedOut,
            _ if e.is_transient() => ErrorKind::Transient,
            _ => ErrorKind::Failed,
        };
        StepError::new(kind, e.to_string(), String::new())
    }
}
