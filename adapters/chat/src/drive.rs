//! The one send loop of the adapters that edit in place: takes what the core says into an [`Outbox`], hands each due job to the adapter's [`Perform`], and stops when everything is out or the drain time after shutdown has passed.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::outbox::{Job, Outbox, Outcome};
use crate::{Outbound, Room};

/// Milestones held while the chat system is slow or away; beyond this the core waits (the
/// channel from it is bounded too).
pub const MAX_QUEUED: usize = 1024;

/// Sends one job to a chat system and says what became of it.
pub trait Perform<Id>: Send {
    fn perform(&mut self, room: &Room, job: &Job<Id>) -> impl Future<Output = Outcome<Id>> + Send;
}

/// Sends until the core closes `outbound` and everything queued is out, or, after `shutdown`,
/// until what was queued is out or `drain` has passed. `name` is the chat system's, for the log.
pub async fn drive<Id, P>(
    name: &str,
    mut performer: P,
    mut outbound: mpsc::Receiver<Outbound>,
    shutdown: CancellationToken,
    drain: Duration,
) where
    Id: Clone + PartialEq + Send,
    P: Perform<Id>,
{
    let mut outbox: Outbox<Id> = Outbox::default();
    let mut open = true;
    let mut deadline: Option<Instant> = None;
    loop {
        // Take in all that waits, so progress lines coalesce before anything is sent.
        while open && outbox.milestones() < MAX_QUEUED {
            match outbound.try_recv() {
                Ok(message) => outbox.push(message),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        // Done: the core has nothing more to say, or is stopping and nothing waits.
        if outbox.is_empty() && (!open || deadline.is_some()) {
            return;
        }
        if let Some(deadline) = deadline
            && Instant::now() >= deadline
        {
            if !outbox.is_empty() {
                tracing::warn!(
                    "{name}: stopping with {} milestones unsent",
                    outbox.milestones()
                );
            }
            return;
        }
        if let Some((room, job)) = outbox.next(Instant::now()) {
            let outcome = performer.perform(&room, &job).await;
            outbox.finish(&room, &job, outcome, Instant::now());
            continue;
        }
        let wake = outbox.wake_at();
        tokio::select! {
            message = outbound.recv(), if open && outbox.milestones() < MAX_QUEUED => match message {
                Some(message) => outbox.push(message),
                None => open = false,
            },
            _ = sleep_until(wake), if wake.is_some() => {}
            _ = shutdown.cancelled(), if deadline.is_none() => {
                deadline = Some(Instant::now() + drain);
            }
            _ = sleep_until(deadline), if deadline.is_some() => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Exponential back-off for retries: `min · 2^(failures-1)`, at most `max`.
pub fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    (min * factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A chat system that refuses the first post once, then takes everything.
    struct Flaky {
        seen: Arc<Mutex<Vec<(u64, String)>>>,
        refused: bool,
    }

    impl Perform<u64> for Flaky {
        async fn perform(&mut self, _: &Room, job: &Job<u64>) -> Outcome<u64> {
            let Job::Post { seq, text, .. } = job else {
                return Outcome::Sent {
                    id: None,
                    pace: Duration::ZERO,
                };
            };
            self.seen.lock().unwrap().push((*seq, text.clone()));
            if !self.refused {
                self.refused = true;
                return Outcome::Retry {
                    after: Duration::from_millis(10),
                };
            }
            Outcome::Sent {
                id: Some(*seq),
                pace: Duration::ZERO,
            }
        }
    }

    #[tokio::test]
    async fn everything_is_sent_in_order_before_the_driver_returns() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel(8);
        let room = Room::new("C1");
        for text in ["a", "b"] {
            tx.send(Outbound::milestone(room.clone(), text))
                .await
                .unwrap();
        }
        drop(tx);
        let flaky = Flaky {
            seen: seen.clone(),
            refused: false,
        };
        tokio::time::timeout(
            Duration::from_secs(5),
            drive(
                "test",
                flaky,
                rx,
                CancellationToken::new(),
                Duration::from_secs(1),
            ),
        )
        .await
        .expect("the driver returns once all is out");
        let seen = seen.lock().unwrap();
        let texts: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["a", "a", "b"]);
        assert_eq!(seen[0].0, seen[1].0, "the retry carries the same number");
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff(min, max, 1), min);
        assert_eq!(backoff(min, max, 3), Duration::from_millis(400));
        assert_eq!(backoff(min, max, 30), max);
    }
}
