//! What only the loop knows, published for the page: the `when free` queue and the deploys this
//! bot is running. The loop sends a new snapshot when it changes; readers never block it.

use tokio::sync::watch;

use super::State;
use super::dispatch::Job;

/// A request waiting for its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEntry {
    pub app: String,
    pub env: String,
    /// `deploy` or `rollback`.
    pub kind: &'static str,
    pub who: String,
    pub room: String,
}

/// A deploy or rollback this bot is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningEntry {
    pub app: String,
    pub env: String,
    pub kind: &'static str,
    pub who: String,
    pub since: i64,
    pub canary_waiting: bool,
}

/// The loop's state as the page shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Board {
    /// Oldest first.
    pub queue: Vec<QueuedEntry>,
    pub running: Vec<RunningEntry>,
}

fn snapshot(state: &State) -> Board {
    let queue = state
        .queue
        .iter()
        .map(|q| QueuedEntry {
            app: q.key.0.clone(),
            env: q.key.1.clone(),
            kind: match q.job {
                Job::Deploy(_) => "deploy",
                Job::Rollback { .. } => "rollback",
            },
            who: q.ask.sender.display.clone(),
            room: q.ask.room.to_string(),
        })
        .collect();
    let mut running: Vec<RunningEntry> = state
        .running
        .iter()
        .map(|((app, env), r)| RunningEntry {
            app: app.clone(),
            env: env.clone(),
            kind: r.kind,
            who: r.who.clone(),
            since: r.since,
            canary_waiting: r.canary_waiting,
        })
        .collect();
    running.sort_by(|a, b| (&a.app, &a.env).cmp(&(&b.app, &b.env)));
    Board { queue, running }
}

/// Sends the loop's state to the page if it changed.
pub(crate) fn publish(board: &watch::Sender<Board>, state: &State) {
    let now = snapshot(state);
    board.send_if_modified(|old| {
        if *old == now {
            false
        } else {
            *old = now;
            true
        }
    });
}
