//! The Discord adapter: the gateway through serenity in, REST out; people identified by their Discord user id, progress edited in place.
//!
//! On start it fetches the gateway URL itself (`GET {api_url}/api/v10/gateway`), trying again
//! with back-off while Discord cannot be reached and failing loudly when it refuses (a wrong
//! token): serenity would quietly fall back to Discord's own gateway, which is wrong when a
//! stand-in was configured, so only a URL bosun fetched is used. Then two tasks run: the
//! gateway (`gateway.rs`, serenity with the GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT
//! intents; it resumes after RECONNECT, INVALID_SESSION and a dropped socket; close codes
//! 4004, 4013 and 4014 end the adapter with what to fix; messages in threads under the
//! configured channels are heard in their thread; an edit is marked as one) and the sender
//! (`send.rs`, under the shared outbox driver: milestones as new messages with an enforced
//! nonce, each progress thread as one message edited in place, within the rate limits Discord
//! reports, `allowed_mentions: {parse: []}` and SUPPRESS_EMBEDS on everything). The sender does
//! not depend on the gateway: what the core says while the gateway is down still goes out.

mod gateway;
mod rest;
mod section;
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
pub use section::{DiscordSection, KEYS, NEEDS};

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
    /// How long one REST call may take before it is given up (and tried again).
    pub call_timeout: Duration,
    /// How long queued messages may still be sent after shutdown.
    pub drain: Duration,
}

impl Default for DiscordTiming {
    fn default() -> Self {
        DiscordTiming {
            pace: Duration::ZERO,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            call_timeout: Duration::from_secs(15),
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
        let rest = rest::Rest::new(&api_url, token.clone(), timing.call_timeout)?;
        let Some(url) = gateway_url(&rest, &api_url, &timing, &shutdown).await? else {
            return Ok(());
        };
        tracing::info!("Discord: gateway at {url}");
        let listening = Arc::new(gateway::Listening {
            channels: listen_to.into_iter().collect::<HashSet<_>>(),
            bot_name,
            me: AtomicU64::new(0),
            threads: Default::default(),
            rest: rest.clone(),
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
        let sending = send::Sending {
            rest,
            timing,
            nonce_prefix: format!("b{:08x}-", rand_u32()),
            failures: 0,
        };
        // A gateway refused for good (a wrong token, intents not allowed) ends the adapter:
        // nothing would ever be heard. What is queued still goes out within the drain time.
        let stop_sending = shutdown.child_token();
        let mut sender = tasks.spawn(bosun_chat::drive::drive(
            "Discord",
            sending,
            channels.outbound,
            stop_sending.clone(),
            timing.drain,
        ));
        let mut connection = connection;
        tasks.close();
        let (sent, heard) = tokio::select! {
            sent = &mut sender => {
                stop_gateway.cancel();
                (sent, connection.await)
            }
            heard = &mut connection => {
                if let Ok(Err(error)) = &heard {
                    tracing::error!("Discord: {error:#}");
                    stop_sending.cancel();
                }
                (sender.await, heard)
            }
        };
        tasks.wait().await;
        sent?;
        heard?
    }
}

/// `GET /gateway`, tried again with back-off while Discord cannot be reached or has trouble;
/// a refusal (a wrong token, an address that is not Discord's API) is an error at once.
/// `None` on shutdown.
async fn gateway_url(
    rest: &rest::Rest,
    api_url: &str,
    timing: &DiscordTiming,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<String>> {
    let mut failures = 0u32;
    loop {
        let answer = tokio::select! {
            answer = rest.gateway_url() => answer,
            _ = shutdown.cancelled() => return Ok(None),
        };
        match answer {
            Ok(url) => return Ok(Some(url)),
            Err(e) if e.is_transient() => {
                failures = failures.saturating_add(1);
                let delay =
                    bosun_chat::drive::backoff(timing.retry_min, timing.retry_max, failures);
                tracing::error!(
                    "Discord: cannot get the gateway's URL from {api_url}/api/v10/gateway: {e}; trying again in {delay:?}"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => return Ok(None),
                }
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot get the Discord gateway's URL from {api_url}/api/v10/gateway")
                });
            }
        }
    }
}

/// A random number for this run's nonces (no cryptographic need).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}
