//! The sender: each job of the shared outbox as a REST call — a new message (with an enforced nonce, so a retried post never shows twice) or an edit — within the rate limits Discord reports, whether or not the gateway is connected.

use bosun_chat::Room;
use bosun_chat::drive::{Perform, backoff};
use bosun_chat::outbox::{Job, Outcome};

use crate::DiscordTiming;
use crate::rest::{Rest, RestError};
use crate::text;

pub(crate) struct Sending {
    pub rest: Rest,
    pub timing: DiscordTiming,
    /// Unique to this run of the adapter, so that nonces of different runs never meet.
    pub nonce_prefix: String,
    /// Failures in a row, for the back-off.
    pub failures: u32,
}

/// Where a message for `room` goes: the room's channel, or the thread it names; and the
/// message it answers, if the thread names one (`CHANNEL/MESSAGE`).
pub(crate) fn target(room: &Room) -> (&str, Option<&str>) {
    match room.thread() {
        Some(thread) => match thread.split_once('/') {
            Some((channel, message)) => (channel, Some(message)),
            None => (thread, None),
        },
        None => (room.as_str(), None),
    }
}

impl Perform<String> for Sending {
    async fn perform(&mut self, room: &Room, job: &Job<String>) -> Outcome<String> {
        let (channel, reply_to) = target(room);
        let result = match job {
            Job::Post { seq, text, .. } => {
                let nonce = format!("{}{seq}", self.nonce_prefix);
                self.rest
                    .post(channel, &text::escape(text), &nonce, reply_to)
                    .await
                    .map(|(id, pace)| (Some(id), pace))
            }
            Job::Edit { id, text } => self
                .rest
                .edit(channel, id, &text::escape(text))
                .await
                .map(|pace| (None, pace)),
        };
        match result {
            Ok((id, pace)) => {
                self.failures = 0;
                Outcome::Sent {
                    id,
                    pace: pace.max(self.timing.pace),
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
                tracing::info!(
                    "Discord: a progress message in {channel} was deleted; posting it anew"
                );
                Outcome::Gone
            }
            Err(e) if e.is_transient() => {
                self.failures = self.failures.saturating_add(1);
                let after = backoff(self.timing.retry_min, self.timing.retry_max, self.failures);
                tracing::warn!("Discord: cannot send to {channel}: {e}; trying again in {after:?}");
                Outcome::Retry { after }
            }
            Err(e) => {
                tracing::error!("Discord: a message to {channel} was not delivered: {e}");
                Outcome::Dropped
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_names_its_channel_thread_or_the_message_it_answers() {
        assert_eq!(target(&Room::new("100")), ("100", None));
        assert_eq!(target(&Room::new("100").in_thread("555")), ("555", None));
        assert_eq!(
            target(&Room::new("100").in_thread("555/900")),
            ("555", Some("900"))
        );
    }
}
