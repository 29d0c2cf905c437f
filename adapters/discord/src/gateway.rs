//! The Discord gateway through serenity: connect to the URL bosun fetched itself, hear messages (and edits) in the configured channels, their threads and DMs, ignore bots; serenity resumes and reconnects; a refused token or refused intents end it with what to fix.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bosun_chat::{Identity, Inbound, Room, Sender};
use serenity::all::{
    ClientBuilder, Context, EventHandler, GatewayError, GatewayIntents, GuildChannel, HttpBuilder,
    Message, MessageType, MessageUpdateEvent, Ready, ResumedEvent,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::NETWORK;
use crate::rest::{Rest, Token};
use crate::text;

/// Threads whose parent is remembered (beyond this the memory starts over).
const REMEMBERED_THREADS: usize = 1024;

/// Where bosun listens and how it is addressed.
#[derive(Debug)]
pub(crate) struct Listening {
    pub channels: HashSet<u64>,
    pub bot_name: String,
    /// The bot's own user id, from READY (0 until then).
    pub me: AtomicU64,
    /// Channel → the channel it is a thread under (`None`: not a thread).
    pub threads: Mutex<HashMap<u64, Option<u64>>>,
    pub rest: Rest,
}

impl Listening {
    /// The room a message in `channel` belongs to: the channel itself when it is configured, its
    /// parent (in the thread) when it is a thread under a configured channel; `None` elsewhere.
    async fn room_of(&self, channel: u64) -> Option<Room> {
        if self.channels.contains(&channel) {
            return Some(Room::new(channel.to_string()));
        }
        let known = self
            .threads
            .lock()
            .expect("not poisoned")
            .get(&channel)
            .copied();
        let parent = match known {
            Some(parent) => parent,
            None => {
                let parent = match self.rest.thread_parent(channel).await {
                    Ok(parent) => parent,
                    Err(e) => {
                        tracing::debug!("Discord: GET /channels/{channel}: {e}");
                        return None;
                    }
                };
                self.remember(channel, parent);
                parent
            }
        };
        parent
            .filter(|p| self.channels.contains(p))
            .map(|p| Room::new(p.to_string()).in_thread(channel.to_string()))
    }

    fn remember(&self, channel: u64, parent: Option<u64>) {
        let mut threads = self.threads.lock().expect("not poisoned");
        if threads.len() >= REMEMBERED_THREADS {
            threads.clear();
        }
        threads.insert(channel, parent);
    }
}

/// A message someone typed, before it is placed in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Typed {
    pub channel: u64,
    pub user: u64,
    pub display: String,
    pub text: String,
    pub direct: bool,
}

/// A message by a person (not a bot, not a webhook, not a system message). Whether it was said
/// where bosun listens is [`Listening::room_of`]'s question.
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
    Some(Typed {
        channel: message.channel_id.get(),
        user: message.author.id.get(),
        display: message
            .author
            .global_name
            .clone()
            .unwrap_or_else(|| message.author.name.clone()),
        text: text::address_mention(&message.content, me, &listening.bot_name),
        direct: message.guild_id.is_none(),
    })
}

/// An edit of a person's message (MESSAGE_UPDATE with new content); embeds unfurling and other
/// updates without content are not edits.
pub(crate) fn edited(event: &MessageUpdateEvent, listening: &Listening) -> Option<Typed> {
    let author = event.author.as_ref()?;
    let content = event.content.as_ref()?;
    event.edited_timestamp?;
    let me = listening.me.load(Ordering::Relaxed);
    if author.bot || author.id.get() == me || matches!(event.webhook_id, Some(Some(_))) {
        return None;
    }
    Some(Typed {
        channel: event.channel_id.get(),
        user: author.id.get(),
        display: author
            .global_name
            .clone()
            .unwrap_or_else(|| author.name.clone()),
        text: text::address_mention(content, me, &listening.bot_name),
        direct: event.guild_id.is_none(),
    })
}

/// The core's end, shared with serenity's tasks; taken away when the gateway ends, since
/// serenity may keep its handler alive in tasks of its own.
type Inbox = Arc<Mutex<Option<mpsc::Sender<Inbound>>>>;

struct Handler {
    listening: Arc<Listening>,
    inbound: Inbox,
}

impl Handler {
    /// Places `typed` in its room and hands it to the core; `edit_of` marks an edit of that
    /// message, whose answer is a reply to it.
    async fn hear(&self, typed: Typed, edit_of: Option<u64>) {
        let room = if typed.direct {
            Room::new(typed.channel.to_string())
        } else {
            match self.listening.room_of(typed.channel).await {
                Some(room) => room,
                None => return,
            }
        };
        let room = match edit_of {
            Some(message) => {
                let name = room.as_str().to_string();
                Room::new(name).in_thread(format!("{}/{message}", typed.channel))
            }
            None => room,
        };
        let sender = Sender {
            identity: Some(Identity::new(NETWORK, typed.user.to_string())),
            display: typed.display,
        };
        let mut inbound = Inbound::new(room, sender, typed.text, typed.direct);
        inbound.edit_of = edit_of.map(|m| m.to_string());
        let core = self.inbound.lock().expect("not poisoned").clone();
        if let Some(core) = core {
            // Fails only when the core has stopped listening.
            let _ = core.send(inbound).await;
        }
    }
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

    async fn thread_create(&self, _: Context, thread: GuildChannel) {
        self.listening
            .remember(thread.id.get(), thread.parent_id.map(|p| p.get()));
    }

    async fn message(&self, _: Context, message: Message) {
        if let Some(typed) = typed(&message, &self.listening) {
            self.hear(typed, None).await;
        }
    }

    async fn message_update(
        &self,
        _: Context,
        _: Option<Message>,
        _: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        if let Some(typed) = edited(&event, &self.listening) {
            self.hear(typed, Some(event.id.get())).await;
        }
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
    let inbox: Inbox = Arc::new(Mutex::new(Some(inbound)));
    let handler = Handler {
        listening,
        inbound: Arc::clone(&inbox),
    };
    let mut client = ClientBuilder::new_with_http(http, intents)
        .event_handler(handler)
        .await?;
    // serenity asked for the URL too and, had that failed, would have chosen Discord's own
    // gateway: the URL bosun fetched and checked is the one used.
    *client.ws_url.lock().await = url;
    let shards = client.shard_manager.clone();
    let ended = tokio::select! {
        ended = client.start() => {
            shards.shutdown_all().await;
            match ended {
                Err(error) => Err(explain(error)),
                Ok(()) => Err(anyhow::anyhow!("the Discord gateway connection ended")),
            }
        }
        _ = shutdown.cancelled() => {
            shards.shutdown_all().await;
            Ok(())
        }
    };
    // Nothing more is heard: the core learns it when its inbound channel closes.
    inbox.lock().expect("not poisoned").take();
    ended
}

/// What a gateway refusal means for whoever runs bosun.
fn explain(error: serenity::Error) -> anyhow::Error {
    let hint = match &error {
        serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
            "Discord closed the gateway with 4004 (authentication failed): the bot token is wrong or was reset"
        }
        serenity::Error::Gateway(GatewayError::InvalidGatewayIntents) => {
            "Discord closed the gateway with 4013 (invalid intents)"
        }
        serenity::Error::Gateway(GatewayError::DisallowedGatewayIntents) => {
            "Discord closed the gateway with 4014 (disallowed intents): turn on the Message Content intent under Bot in the Discord developer portal"
        }
        _ => return anyhow::Error::new(error).context("the Discord gateway failed"),
    };
    anyhow::anyhow!("{hint}")
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
            threads: Default::default(),
            rest: Rest::new(
                "http://127.0.0.1:9",
                Token::new("t"),
                std::time::Duration::from_secs(1),
            )
            .unwrap(),
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
    fn bots_webhooks_and_system_messages_are_not() {
        for extra in [
            json!({"author": {"id": "42", "username": "bosun", "discriminator": "0", "avatar": null}}),
            json!({"author": {"id": "6", "username": "ci", "discriminator": "0", "avatar": null, "bot": true}}),
            json!({"webhook_id": "77"}),
            json!({"type": 7}),
        ] {
            assert_eq!(
                typed(&message(extra.clone()), &listening()),
                None,
                "{extra}"
            );
        }
    }
}
