//! The sender: takes what the core says, queues it in the outbox, and sends it with `chat.postMessage` and `chat.update` at the pace Slack allows.

use std::time::Duration;

use bosun_chat::{Outbound, Room};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::SlackTiming;
use crate::api::{ApiError, WebApi};
use crate::text;
use bosun_chat::outbox::{Job, Outbox, Outcome};

/// Milestones held while Slack is slow or away; beyond this the core waits (the channel from
/// it is bounded too).
const MAX_QUEUED: usize = 1024;

/// Where and how messages go.
pub(crate) struct Sending {
    pub api: WebApi,
    /// Post each progress thread's message as a reply under the room's last milestone.
    pub thread_replies: bool,
    pub timing: SlackTiming,
}

/// Sends until the core closes `outbound` and everything queued is out, or until `shutdown`
/// plus the drain time.
pub(crate) async fn run(
    sending: Sending,
    mut outbound: mpsc::Receiver<Outbound>,
    shutdown: CancellationToken,
) {
    let mut outbox: Outbox<String> = Outbox::default();
    let mut open = true;
    let mut deadline: Option<Instant> = None;
    let mut failures = 0u32;
    loop {
        // Take in all that waits, so progress lines coalesce before anything is sent.
        while open && outbox.milestones() < MAX_QUEUED {
            match outbound.try_recv() {
                Ok(message) => outbox.push(message),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        if !open && outbox.is_empty() {
            return;
        }
        if let Some(deadline) = deadline
            && Instant::now() >= deadline
        {
            if !outbox.is_empty() {
                tracing::warn!(
                    "Slack: stopping with {} milestones unsent",
                    outbox.milestones()
                );
            }
            return;
        }
        if let Some((room, job)) = outbox.next(Instant::now()) {
            let outcome = perform(&sending, &room, &job, &mut failures).await;
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
                deadline = Some(Instant::now() + sending.timing.drain);
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

/// Does one job and says what became of it.
async fn perform(
    sending: &Sending,
    room: &Room,
    job: &Job<String>,
    failures: &mut u32,
) -> Outcome<String> {
    let channel = room.as_str();
    let result = match job {
        Job::Post {
            text,
            progress,
            anchor,
            topic_anchor,
        } => {
            // Threads on: a deploy's progress goes under the announcement before it, and its
            // later milestones under its first one.
            let thread = match (sending.thread_replies, progress) {
                (true, Some(_)) => anchor.as_deref(),
                (true, None) => topic_anchor.as_deref(),
                _ => None,
            };
            sending
                .api
                .post(channel, &text::escape(text), thread)
                .await
                .map(Some)
        }
        Job::Edit { id, text } => sending
            .api
            .update(channel, id, &text::escape(text))
            .await
            .map(|()| None),
    };
    let timing = &sending.timing;
    match result {
        Ok(id) => {
            *failures = 0;
            Outcome::Sent {
                id,
                pace: timing.pace,
            }
        }
        Err(ApiError::RateLimited(after)) => {
            tracing::warn!(
                "Slack: rate limited in {channel}; waiting {after:?} before any request"
            );
            Outcome::RateLimited {
                after,
                global: true,
            }
        }
        Err(ApiError::Slack { code })
            if code == "message_not_found" && matches!(job, Job::Edit { .. }) =>
        {
            tracing::info!("Slack: a progress message in {channel} was deleted; posting it anew");
            Outcome::Gone
        }
        Err(e) if e.is_transient() => {
            *failures = failures.saturating_add(1);
            let after = backoff(timing, *failures);
            tracing::warn!("Slack: cannot send to {channel}: {e}; trying again in {after:?}");
            Outcome::Retry { after }
        }
        Err(e) => {
            tracing::error!("Slack: a message to {channel} was not delivered: {e}");
            Outcome::Dropped
        }
    }
}

fn backoff(timing: &SlackTiming, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    (timing.reconnect_min * factor).min(timing.reconnect_max)
}
