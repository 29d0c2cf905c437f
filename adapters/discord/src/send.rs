//! The sender: takes what the core says, queues it in the outbox, and sends it over REST within Discord's rate limits, whether or not the gateway is connected.

use std::time::Duration;

use bosun_chat::{Outbound, Room};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::DiscordTiming;
use crate::rest::{Rest, RestError};
use crate::text;
use bosun_chat::outbox::{Job, Outbox, Outcome};

/// Milestones held while Discord is slow or away; beyond this the core waits (the channel
/// from it is bounded too).
const MAX_QUEUED: usize = 1024;

/// Sends until the core closes `outbound` and everything queued is out, or until `shutdown`
/// plus the drain time.
pub(crate) async fn run(
    rest: Rest,
    timing: DiscordTiming,
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
                    "Discord: stopping with {} milestones unsent",
                    outbox.milestones()
                );
            }
            return;
        }
        if let Some((room, job)) = outbox.next(Instant::now()) {
            let outcome = perform(&rest, &timing, &room, &job, &mut failures).await;
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
                deadline = Some(Instant::now() + timing.drain);
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
    rest: &Rest,
    timing: &DiscordTiming,
    room: &Room,
    job: &Job<String>,
    failures: &mut u32,
) -> Outcome<String> {
    let channel = room.as_str();
    let result = match job {
        Job::Post { text, .. } => rest
            .post(channel, &text::escape(text))
            .await
            .map(|(id, pace)| (Some(id), pace)),
        Job::Edit { id, text } => rest
            .edit(channel, id, &text::escape(text))
            .await
            .map(|pace| (None, pace)),
    };
    match result {
        Ok((id, pace)) => {
            *failures = 0;
            Outcome::Sent {
                id,
                pace: pace.max(timing.pace),
            }
        }
        Err(RestError::RateLimited { after, global }) => {
            tracing::warn!(
                "Discord: rate limited{} in {channel}; waiting {after:?}",
                if global { " globally" } else { "" }
            );
            Outcome::RateLimited { after, global }
        }
        Err(e) if e.is_unknown_message() && matches!(job, Job::Edit { .. }) => {
            tracing::info!("Discord: a progress message in {channel} was deleted; posting it anew");
            Outcome::Gone
        }
        Err(e) if e.is_transient() => {
            *failures = failures.saturating_add(1);
            let after = backoff(timing, *failures);
            tracing::warn!("Discord: cannot send to {channel}: {e}; trying again in {after:?}");
            Outcome::Retry { after }
        }
        Err(e) => {
            tracing::error!("Discord: a message to {channel} was not delivered: {e}");
            Outcome::Dropped
        }
    }
}

fn backoff(timing: &DiscordTiming, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    (timing.retry_min * factor).min(timing.retry_max)
}
