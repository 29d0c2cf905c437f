//! The Discord adapter: the gateway through serenity in, REST out; people identified by their Discord user id, progress edited in place.
//!
//! On start it fetches the gateway URL itself (`GET {api_url}/api/v10/gateway`) and fails
//! loudly when it cannot: serenity would quietly fall back to Discord's own gateway, which is
//! wrong when a stand-in was configured. Then two tasks run: the gateway (`gateway.rs`,
//! serenity with the GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT intents; it resumes
//! after RECONNECT, INVALID_SESSION and a dropped socket) and the sender (`send.rs`: milestones
//! as new messages, each progress thread as one message edited in place, within the rate limits
//! Discord reports, `allowed_mentions: {parse: []}` on everything). The sender does not depend
//! on the gateway: what the core says while the gateway is down still goes out.

mod gateway;
mod rest;
mod send;
mod text;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context as _;
use bosun_chat::{Adapter, Channels};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use rest::Token;

/// The network name Discord identities carry (`discord = "…"` in `[[people]]`).
pub const NETWORK: &str = "discord";
/// Discord's own base URL; the API is under `/api/v10`.
pub const DEFAULT_API_URL: &str = "https://discord.com";

/// How long things take; the defaults suit Discord, tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct DiscordTiming {
    /// The least time between two requests to one channel, on top of what Discord's headers
    /// ask for.
    pub pace: Duration,
    /// The first wait before retrying a failed request; it doubles up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How long queued messages may still be sent after shutdown.
    pub drain: Duration,
}

impl Default for DiscordTiming {
    fn default() -> Self {
        DiscordTiming {
            pace: Duration::ZERO,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// Everything the adapter needs, from `[chat.discord]` and `[bot]`.
#[derive(Clone, Debug)]
pub struct DiscordOptions {
    pub token: Token,
    /// Channel ids whose messages are heard; direct messages always are.
    pub channels: Vec<u64>,
    /// [`DEFAULT_API_URL`] unless a stand-in takes Discord's place.
    pub api_url: String,
    /// The bot's name in chat: a leading `@mention` of the bot becomes this name.
    pub bot_name: String,
    pub timing: DiscordTiming,
}

/// bosun on a Discord server.
pub struct DiscordAdapter {
    options: DiscordOptions,
}

impl DiscordAdapter {
    pub fn new(options: DiscordOptions) -> Self {
        DiscordAdapter { options }
    }
}

impl Adapter for DiscordAdapter {
    fn network(&self) -> &'static str {
        NETWORK
    }

    async fn run(self, channels: Channels, shutdown: CancellationToken) -> anyhow::Result<()> {
        let DiscordOptions {
            token,
            channels: listen_to,
            api_url,
            bot_name,
            timing,
        } = self.options;
        let rest = rest::Rest::new(&api_url, token.clone())?;
        let url = rest.gateway_url().await.with_context(|| {
            format!("cannot get the Discord gateway's URL from {api_url}/api/v10/gateway")
        })?;
        tracing::info!("Discord: gateway at {url}");
        let listening = Arc::new(gateway::Listening {
            channels: listen_to.into_iter().collect::<HashSet<_>>(),
            bot_name,
            me: AtomicU64::new(0),
        });

        let tasks = TaskTracker::new();
        let stop_gateway = shutdown.child_token();
        let connection = {
            let stop = stop_gateway.clone();
            let inbound = channels.inbound;
            tasks.spawn(async move {
                gateway::run(&api_url, url, &token, listening, inbound, stop).await
            })
        };
        let sender = tasks.spawn(send::run(rest, timing, channels.outbound, shutdown));
        tasks.close();
        let sent = sender.await;
        stop_gateway.cancel();
        let heard = connection.await;
        tasks.wait().await;
        sent?;
        heard?
    }
}
