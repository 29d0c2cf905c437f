//! The sender: each job of the shared outbox as a Web API call — `chat.postMessage` for new messages (in a thread when the room names one, or under their deploy's first message with thread replies on), `chat.update` for progress — and what Slack's answer means for the outbox.

use bosun_chat::Room;
use bosun_chat::drive::{Perform, backoff};
use bosun_chat::outbox::{Job, Outcome};

use crate::SlackTiming;
use crate::api::{ApiError, WebApi};
use crate::text;

/// Where and how messages go.
pub(crate) struct Sending {
    pub api: WebApi,
    /// Put a deploy's progress and later milestones in a thread under its first message.
    pub thread_replies: bool,
    pub timing: SlackTiming,
    /// Failures in a row, for the back-off.
    pub failures: u32,
}

impl Perform<String> for Sending {
    async fn perform(&mut self, room: &Room, job: &Job<String>) -> Outcome<String> {
        let channel = room.as_str();
        let result = match job {
            Job::Post {
                text, topic_anchor, ..
            } => {
                // A room in a thread (a question asked there) keeps its answers there; with
                // thread replies on, a deploy's messages after its first go under that one.
                let thread = room
                    .thread()
                    .or(topic_anchor.as_deref().filter(|_| self.thread_replies));
                self.api
                    .post(channel, &text::escape(text), thread)
                    .await
                    .map(Some)
            }
            Job::Edit { id, text } => self
                .api
                .update(channel, id, &text::escape(text))
                .await
                .map(|()| None),
        };
        match result {
            Ok(id) => {
                self.failures = 0;
                Outcome::Sent {
                    id,
                    pace: self.timing.pace,
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
                if matches!(code.as_str(), "message_not_found" | "cant_update_message")
                    && matches!(job, Job::Edit { .. }) =>
            {
                tracing::info!(
                    "Slack: a progress message in {channel} cannot be edited ({code}); posting it anew"
                );
                Outcome::Gone
            }
            Err(e) if e.is_transient() => {
                self.failures = self.failures.saturating_add(1);
                let after = backoff(
                    self.timing.reconnect_min,
                    self.timing.reconnect_max,
                    self.failures,
                );
                tracing::warn!("Slack: cannot send to {channel}: {e}; trying again in {after:?}");
                Outcome::Retry { after }
            }
            Err(e) => {
                tracing::error!("Slack: a message to {channel} was not delivered: {e}");
                Outcome::Dropped
            }
        }
    }
}
