//! The Slack adapter: Socket Mode in, Web API out; people identified by their Slack user id, progress edited in place.
//!
//! On start it asks `auth.test` who the bot is (so its own messages are never taken as
//! commands), then runs two tasks: the Socket Mode reader (`socket.rs`: acknowledges every
//! envelope, turns messages people type in the configured channels and in direct messages into
//! [`Inbound`](bosun_chat::Inbound), replaces the connection when Slack asks and reconnects
//! with back-off when it is lost or silent; thread replies stay in their thread, edits are
//! marked as edits) and the sender (`send.rs`, under the shared outbox driver: milestones with
//! `chat.postMessage`, each progress thread as one message edited with `chat.update`, paced per
//! channel, waiting out every `Retry-After`, posted anew when Slack refuses the edit). Text is escaped for mrkdwn (`text.rs`) so nothing
//! from a commit can mention a channel. The API base URL is configurable so that a local
//! stand-in can take Slack's place; nothing else differs.

mod api;
mod events;
mod section;
mod send;
mod socket;
mod text;

use std::collections::HashSet;
use std::time::Duration;

use bosun_chat::{Adapter, Channels};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use api::Token;
pub use section::{KEYS, NEEDS, SlackSection};

/// The network name Slack identities carry (`slack = "U…"` in `[[people]]`).
pub const NETWORK: &str = "slack";
/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// How long things take; the defaults suit Slack, tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct SlackTiming {
    /// The least time between two requests to one channel (Slack allows about one message a
    /// second per channel).
    pub pace: Duration,
    /// The first wait before reconnecting or retrying; it doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long a new connection may take to say hello.
    pub hello_timeout: Duration,
    /// How often the client pings Slack over Socket Mode.
    pub ping_interval: Duration,
    /// How long a connection may stay silent (no frame, ping or pong) before it is replaced.
    pub silence: Duration,
    /// How long queued messages may still be sent after shutdown.
    pub drain: Duration,
}

impl Default for SlackTiming {
    fn default() -> Self {
        SlackTiming {
            pace: Duration::from_secs(1),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(10),
            silence: Duration::from_secs(35),
            drain: Duration::from_secs(10),
        }
    }
}

/// Everything the adapter needs, from `[chat.slack]` and `[bot]`.
#[derive(Clone, Debug)]
pub struct SlackOptions {
    /// The bot token (`xoxb-…`), for the Web API.
    pub bot_token: Token,
    /// The app-level token (`xapp-…`) with `connections:write`, for Socket Mode.
    pub app_token: Token,
    /// Channel ids (`C…`) whose messages are heard; direct messages always are.
    pub channels: Vec<String>,
    /// The Web API's base URL; [`DEFAULT_API_URL`] unless a stand-in takes Slack's place.
    pub api_url: String,
    /// Put a deploy's progress and later milestones in a thread under its announcement.
    pub thread_replies: bool,
    /// The bot's name in chat: a leading `@mention` of the bot becomes this name.
    pub bot_name: String,
    pub timing: SlackTiming,
}

/// bosun in a Slack workspace.
pub struct SlackAdapter {
    options: SlackOptions,
}

impl SlackAdapter {
    pub fn new(options: SlackOptions) -> Self {
        SlackAdapter { options }
    }
}

impl Adapter for SlackAdapter {
    fn network(&self) -> &'static str {
        NETWORK
    }

    async fn run(self, channels: Channels, shutdown: CancellationToken) -> anyhow::Result<()> {
        let SlackOptions {
            bot_token,
            app_token,
            channels: listen_to,
            api_url,
            thread_replies,
            bot_name,
            timing,
        } = self.options;
        let api = api::WebApi::new(&api_url, bot_token, app_token)?;
        let Some(me) = who_am_i(&api, &timing, &shutdown).await? else {
            return Ok(());
        };
        tracing::info!("Slack: signed in as {}", me.user_id);
        let listening = events::Listening {
            channels: listen_to.into_iter().collect::<HashSet<_>>(),
            me,
            bot_name,
        };

        let tasks = TaskTracker::new();
        let stop_reading = shutdown.child_token();
        let reader = tasks.spawn(socket::run(
            api.clone(),
            listening,
            channels.inbound,
            timing,
            stop_reading.clone(),
        ));
        let sender = tasks.spawn(bosun_chat::drive::drive(
            "Slack",
            send::Sending {
                api,
                thread_replies,
                timing,
                failures: 0,
            },
            channels.outbound,
            shutdown,
            timing.drain,
        ));
        tasks.close();
        let sent = sender.await;
        stop_reading.cancel();
        let heard = reader.await;
        tasks.wait().await;
        sent?;
        heard?
    }
}

/// `auth.test`, retried while Slack cannot be reached; `None` on shutdown.
async fn who_am_i(
    api: &api::WebApi,
    timing: &SlackTiming,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<api::Me>> {
    let mut delay = timing.reconnect_min;
    loop {
        let answer = tokio::select! {
            answer = api.auth_test() => answer,
            _ = shutdown.cancelled() => return Ok(None),
        };
        match answer {
            Ok(me) => return Ok(Some(me)),
            Err(e) if e.is_transient() => {
                tracing::warn!("Slack auth.test: {e}; trying again in {delay:?}");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => return Ok(None),
                }
                delay = (delay * 2).min(timing.reconnect_max);
            }
            Err(e) => anyhow::bail!("Slack refused the bot token (auth.test): {e}"),
        }
    }
}
