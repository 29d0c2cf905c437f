//! What the engine reports while it works (`EngineEvent`), how a run ends (`RunOutcome`), and how it is told to stop (`Stop`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Progress from a running deploy, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    Staged {
        hosts: usize,
        /// Of them, staged by delta from their live release (the others in full).
        delta: usize,
        elapsed: Duration,
    },
    Migrated {
        hosts: Vec<String>,
        elapsed: Duration,
    },
    BatchStarted {
        group: String,
        batch: usize,
        batches: usize,
        hosts: Vec<String>,
    },
    BatchHealthy {
        group: String,
        batch: usize,
        batches: usize,
        hosts: Vec<String>,
        elapsed: Duration,
    },
    Failed(Failure),
    Undoing {
        steps: usize,
    },
    /// A canary deploy switched its one host and waits for `continue` or a rollback.
    CanaryWaiting {
        host: String,
    },
    CanaryContinued {
        who: String,
    },
    Warning(String),
    /// Something worth a progress line (the maintenance page went up, …).
    Note(String),
    /// Every host runs the new release and only the clean-up of old releases is left (it
    /// changes nothing people see): the deploy has reached its goal.
    Live {
        elapsed: Duration,
    },
}

/// The step that failed, where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub host: Option<String>,
    pub step: String,
    pub reason: String,
    /// The last lines the failing command printed.
    pub output: String,
    /// It failed for a passing reason every time it was tried: people should look.
    pub retries_spent: bool,
}

impl Failure {
    pub fn describe(&self) -> String {
        match &self.host {
            Some(host) => format!("{} failed on {host}: {}", self.step, self.reason),
            None => format!("{}: {}", self.step, self.reason),
        }
    }

    /// The last few lines of output, for the room.
    pub fn output_tail(&self, lines: usize) -> Vec<String> {
        let all: Vec<&str> = self
            .output
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        all[all.len().saturating_sub(lines)..]
            .iter()
            .map(|l| l.to_string())
            .collect()
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded {
        elapsed: Duration,
    },
    /// A step failed and everything done was undone: the fleet is back where it was.
    Undone {
        failure: Failure,
        undone: usize,
        elapsed: Duration,
    },
    /// A step failed and an undo failed too: people must look.
    UndoFailed {
        failure: Failure,
        problems: Vec<String>,
        elapsed: Duration,
    },
    /// Another bot took this deploy over (this bot's lease ran out, or a host has seen a newer
    /// generation): this bot stopped at once and undid nothing; the other one recovers it.
    Fenced {
        reason: String,
        elapsed: Duration,
    },
}

/// Tells a running deploy to stop, and why (`cancel` in chat, bosun shutting down). A stopped
/// deploy stops its running command through the host's guard, then undoes what it did.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stops the deploy; the first reason given is the one kept.
    pub fn stop(&self, reason: impl Into<String>) {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| reason.into());
        self.token.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Why it was stopped.
    pub fn reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "the deploy was cancelled".into())
    }

    /// The token that running commands watch.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub async fn stopped(&self) {
        self.token.cancelled().await
    }
}

/// What people can tell a deploy that is waiting on its canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Carry on to the rest of the fleet.
    Continue { who: String },
    /// Undo everything, canary included.
    Abort { who: String },
}
