//! The live log: output lines of the deploys running now, as the hosts print them, for the
//! page's server-sent events. Bounded everywhere: a backlog of the last lines per deploy (so a
//! page opened mid-step sees what came before) and a broadcast channel that drops lines for a
//! reader too slow to keep up rather than wait for it. Lines are redacted before they get here.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

use crate::redact::Redactor;
use crate::transport::{OutputLine, Stream};

/// Lines kept per running deploy for readers who arrive late.
pub const BACKLOG: usize = 2000;
/// Lines in flight to each reader before the slowest starts missing some.
const CHANNEL: usize = 512;
/// Lines between a running command and the live log.
pub const FEED: usize = 256;

/// One event of a deploy's live log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveEvent {
    Line {
        /// Its place in this deploy's log, from 1.
        seq: u64,
        host: String,
        stderr: bool,
        text: String,
    },
    /// The deploy's run ended; the page reads the rest from the journal.
    End,
}

struct DeployLog {
    next: u64,
    backlog: VecDeque<LiveEvent>,
    tx: broadcast::Sender<LiveEvent>,
}

/// The live logs of the deploys running in this bot. Cheap to clone.
#[derive(Clone, Default)]
pub struct LiveLogs {
    inner: Arc<Mutex<HashMap<i64, DeployLog>>>,
}

impl LiveLogs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, DeployLog>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the log of deploy `id`.
    pub fn open(&self, id: i64) {
        let (tx, _) = broadcast::channel(CHANNEL);
        self.lock().insert(
            id,
            DeployLog {
                next: 1,
                backlog: VecDeque::new(),
                tx,
            },
        );
    }

    /// Adds a line (already redacted) to deploy `id`'s log.
    pub fn push(&self, id: i64, host: String, stderr: bool, text: String) {
        let mut logs = self.lock();
        let Some(log) = logs.get_mut(&id) else { return };
        let event = LiveEvent::Line {
            seq: log.next,
            host,
            stderr,
            text,
        };
        log.next += 1;
        if log.backlog.len() == BACKLOG {
            log.backlog.pop_front();
        }
        log.backlog.push_back(event.clone());
        let _ = log.tx.send(event);
    }

    /// Ends deploy `id`'s log: readers get `End`, and the log is dropped.
    pub fn close(&self, id: i64) {
        if let Some(log) = self.lock().remove(&id) {
            let _ = log.tx.send(LiveEvent::End);
        }
    }

    /// What deploy `id` printed so far and the lines to come; `None` when it is not running here.
    pub fn subscribe(&self, id: i64) -> Option<(Vec<LiveEvent>, broadcast::Receiver<LiveEvent>)> {
        let logs = self.lock();
        let log = logs.get(&id)?;
        Some((log.backlog.iter().cloned().collect(), log.tx.subscribe()))
    }

    /// Whether deploy `id` is running in this bot.
    pub fn is_open(&self, id: i64) -> bool {
        self.lock().contains_key(&id)
    }

    /// Moves the lines a deploy's commands print into its log, secrets hidden, until every
    /// sender is gone (the run ended); then closes the log.
    pub async fn pump(&self, id: i64, mut lines: mpsc::Receiver<OutputLine>, redactor: Redactor) {
        while let Some(line) = lines.recv().await {
            let text = redactor.redact_owned(line.line);
            self.push(id, line.host, line.stream == Stream::Stderr, text);
        }
        self.close(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn late_readers_get_the_backlog_then_the_rest_and_the_end() {
        let logs = LiveLogs::default();
        assert!(logs.subscribe(7).is_none());
        logs.open(7);
        let (tx, rx) = mpsc::channel(FEED);
        let pump = tokio::spawn({
            let logs = logs.clone();
            async move {
                logs.pump(7, rx, Redactor::new(["s3cret".to_string()]))
                    .await
            }
        });
        let line = |text: &str| OutputLine {
            host: "h1".into(),
            stream: Stream::Stdout,
            line: text.into(),
        };
        tx.send(line("one")).await.unwrap();
        tx.send(line("token s3cret")).await.unwrap();
        // Wait for the pump to have taken both lines (the backlog shows them).
        let (backlog, mut rx2) = loop {
            let (backlog, rx2) = logs.subscribe(7).unwrap();
            if backlog.len() == 2 {
                break (backlog, rx2);
            }
            tokio::task::yield_now().await;
        };
        assert!(
            matches!(&backlog[1], LiveEvent::Line { seq: 2, text, .. } if text == "token [redacted]")
        );
        tx.send(line("three")).await.unwrap();
        drop(tx);
        assert!(matches!(
            rx2.recv().await.unwrap(),
            LiveEvent::Line { seq: 3, .. }
        ));
        assert_eq!(rx2.recv().await.unwrap(), LiveEvent::End);
        pump.await.unwrap();
        assert!(!logs.is_open(7));
    }
}
