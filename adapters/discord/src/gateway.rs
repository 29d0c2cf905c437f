//! The Discord gateway through serenity: connect to the URL bosun fetched itself, hear messages in the configured channels and DMs, ignore bots; serenity resumes and reconnects.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bosun_chat::{Identity, Inbound, Room, Sender};
use serenity::all::{
    ClientBuilder, Context, EventHandler, GatewayIntents, HttpBuilder, Message, MessageType, Ready,
    ResumedEvent,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::NETWORK;
use crate::rest::Token;
use crate::text;

/// Where bosun listens and how it is addressed.
#[derive(Debug)]
pub(crate) struct Listening {
    pub channels: HashSet<u64>,
    pub bot_name: String,
    /// The bot's own user id, from READY (0 until then).
    pub me: AtomicU64,
}

/// A message someone typed where bosun listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Typed {
    pub channel: u64,
    pub user: u64,
    pub display: String,
    pub text: String,
    pub direct: bool,
}

/// A new message by a person (not a bot, not a webhook, not a system message), in a
/// configured channel or a direct message. Edits arrive as MESSAGE_UPDATE, which is never read.
pub(crate) fn typed(message: &Message, listening: &Listening) -> Option<Typed> {
    let me = listening.me.load(Ordering::Relaxed);
    if message.author.bot
        || message.author.id.get() == me
        || message.webhook_id.is_some()
        || !matches!(
            message.kind,
            MessageType::Regular | MessageType::InlineReply
        )
    {
        return None;
    }
    let direct = message.guild_id.is_none();
    if !direct && !listening.channels.contains(&message.channel_id.get()) {
        return None;
    }
    Some(Typed {
        channel: message.channel_id.get(),
        user: message.author.id.get(),
        display: message
            .author
            .global_name
            .clone()
            .unwrap_or_else(|| message.author.name.clone()),
        text: text::address_mention(&message.content, me, &listening.bot_name),
        direct,
    })
}

struct Handler {
    listening: Arc<Listening>,
    inbound: mpsc::Sender<Inbound>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        self.listening
            .me
            .store(ready.user.id.get(), Ordering::Relaxed);
        tracing::info!(
            "Discord: connected as {} ({})",
            ready.user.name,
            ready.user.id
        );
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        tracing::info!("Discord: gateway session resumed");
    }

    async fn message(&self, _: Context, message: Message) {
        let Some(typed) = typed(&message, &self.listening) else {
            return;
        };
        let inbound = Inbound {
            room: Room::new(typed.channel.to_string()),
            sender: Sender {
                identity: Some(Identity::new(NETWORK, typed.user.to_string())),
                display: typed.display,
            },
            text: typed.text,
            direct: typed.direct,
        };
        // Fails only when the core has stopped listening.
        let _ = self.inbound.send(inbound).await;
    }
}

/// Runs the gateway connection on `url` until `shutdown`. serenity's HTTP client is pointed
/// at `base` too, with its limiter off; bosun makes its REST calls itself.
pub(crate) async fn run(
    base: &str,
    url: String,
    token: &Token,
    listening: Arc<Listening>,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let http = HttpBuilder::new(token.expose())
        .proxy(base.trim_end_matches('/'))
        .ratelimiter_disabled(true)
        .build();
    let intents = GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT;
    let mut client = ClientBuilder::new_with_http(http, intents)
        .event_handler(Handler { listening, inbound })
        .await?;
    // serenity asked for the URL too and, had that failed, would have chosen Discord's own
    // gateway: the URL bosun fetched and checked is the one used.
    *client.ws_url.lock().await = url;
    let shards = client.shard_manager.clone();
    tokio::select! {
        ended = client.start() => {
            ended?;
            anyhow::bail!("the Discord gateway connection ended")
        }
        _ = shutdown.cancelled() => {
            shards.shutdown_all().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn listening() -> Listening {
        Listening {
            channels: HashSet::from([100]),
            bot_name: "bosun".into(),
            me: AtomicU64::new(42),
        }
    }

    /// A MESSAGE_CREATE payload as Discord documents it.
    fn message(extra: Value) -> Message {
        let mut payload = json!({
            "id": "900", "channel_id": "100", "guild_id": "7",
            "author": {"id": "5", "username": "alice", "discriminator": "0", "global_name": "Alice", "avatar": null},
            "content": "deploy demo to staging", "timestamp": "2026-11-23T10:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                payload.as_object_mut().unwrap().remove(k);
            } else {
                payload[k] = v.clone();
            }
        }
        serde_json::from_value(payload).expect("a documented message")
    }

    #[test]
    fn people_in_configured_channels_and_dms_are_heard() {
        let heard = typed(&message(json!({})), &listening()).unwrap();
        assert_eq!(
            heard,
            Typed {
                channel: 100,
                user: 5,
                display: "Alice".into(),
                text: "deploy demo to staging".into(),
                direct: false
            }
        );
        let dm = typed(
            &message(json!({"guild_id": null, "channel_id": "555", "content": "status"})),
            &listening(),
        )
        .unwrap();
        assert!(dm.direct);
        let mention = typed(&message(json!({"content": "<@42> status"})), &listening()).unwrap();
        assert_eq!(mention.text, "bosun status");
    }

    #[test]
    fn bots_webhooks_system_messages_and_other_channels_are_not() {
        for extra in [
            json!({"author": {"id": "42", "username": "bosun", "discriminator": "0", "avatar": null}}),
            json!({"author": {"id": "6", "username": "ci", "discriminator": "0", "avatar": null, "bot": true}}),
            json!({"webhook_id": "77"}),
            json!({"type": 7}),
            json!({"channel_id": "101"}),
        ] {
            assert_eq!(
                typed(&message(extra.clone()), &listening()),
                None,
                "{extra}"
            );
        }
    }
}
