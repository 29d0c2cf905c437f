//! The small contract between bosun's core and its chat adapters: message types, identities, the `Adapter` trait.
//!
//! An adapter turns its chat system's wire protocol into [`Inbound`] messages and carries
//! [`Outbound`] messages back. The core never sees a protocol type, and an adapter never sees a
//! deploy: only text, rooms and identities cross this boundary.

pub mod done;
pub mod drive;
pub mod outbox;
pub mod secret;
pub mod section;

use std::fmt;
use std::future::Future;

pub use done::{Done, Finished};
pub use secret::{Secret, SecretError, SecretValue};
pub use section::Section;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A place where messages are read and written: a channel, a multi-user chat room, a direct
/// conversation, or the console. The adapter chooses the name; the core only compares it.
///
/// A room may also name a thread inside it (an id only its adapter understands: a Slack
/// thread's timestamp, a Discord thread's channel id): replies go there. The core treats a
/// room the same whatever thread it names ([`Room::as_str`] is the room's name alone, and
/// [`Room::same_room`] compares names), so a deploy started in a thread is still that room's.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Room {
    name: String,
    thread: Option<String>,
}

impl Room {
    pub fn new(name: impl Into<String>) -> Self {
        Room {
            name: name.into(),
            thread: None,
        }
    }

    /// The same room, with replies going into `thread`.
    pub fn in_thread(mut self, thread: impl Into<String>) -> Self {
        self.thread = Some(thread.into());
        self
    }

    /// The room's name, without any thread.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The thread replies go into, if any.
    pub fn thread(&self) -> Option<&str> {
        self.thread.as_deref()
    }

    /// Whether `other` is the same room, whatever thread either names.
    pub fn same_room(&self, other: &Room) -> bool {
        self.name == other.name
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Who someone really is in one chat system: the network's name (`console`, `xmpp`, `slack`,
/// `discord`, as used for the keys of `[[people]]` in the config) and the id that system vouches
/// for (a bare JID, a user id). Never a nickname that anyone could take.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub network: String,
    pub id: String,
}

impl Identity {
    pub fn new(network: impl Into<String>, id: impl Into<String>) -> Self {
        Identity {
            network: network.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.network, self.id)
    }
}

/// The author of an inbound message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The real identity, when the chat system lets the adapter see it. `None` means the adapter
    /// could not verify who this is (an anonymous room, say): such a sender may read, never act.
    pub identity: Option<Identity>,
    /// What the room calls them (a nick, a display name): for text only, never for decisions.
    pub display: String,
}

/// A message someone wrote, as the core receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// Where replies go: the room it was said in, or the direct conversation.
    pub room: Room,
    pub sender: Sender,
    pub text: String,
    /// True when the message was sent to the bot alone (a direct message): then every line is
    /// taken as addressed to the bot.
    pub direct: bool,
    /// `Some(id)` when this is an edit (a correction) of an earlier message, `id` naming that
    /// message. An edit is never run as a command; `room` is where an answer about it belongs
    /// (a thread under it, or a private conversation with its author).
    pub edit_of: Option<String>,
    /// Held by the core until the work the message asked for is finished (see [`Done`]).
    pub done: Done,
}

impl Inbound {
    /// A new message (not an edit) whose sender waits for nothing.
    pub fn new(room: Room, sender: Sender, text: impl Into<String>, direct: bool) -> Self {
        Inbound {
            room,
            sender,
            text: text.into(),
            direct,
            edit_of: None,
            done: Done::none(),
        }
    }

    /// The same message, marked as an edit of message `original`.
    pub fn edit_of(mut self, original: impl Into<String>) -> Self {
        self.edit_of = Some(original.into());
        self
    }
}

/// How an outbound message relates to the ones before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A new message that stays in the room's history: a start, a failure, a result, a reply.
    Milestone,
    /// A line of progress. All progress with the same `thread` key may be shown as one message
    /// that is edited in place where the chat system can edit; elsewhere each is a new message.
    /// Progress may be coalesced or dropped under pressure; milestones never are.
    Progress { thread: String },
}

/// A message the core wants said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub room: Room,
    /// Plain text; each adapter escapes it for its own markup so that text from commits or
    /// users can never mention everyone or break formatting.
    pub text: String,
    pub delivery: Delivery,
    /// The conversation this message belongs to (one deploy, say): systems with threads may put
    /// every message of a topic after its first in a thread under that first one.
    pub topic: Option<String>,
}

impl Outbound {
    pub fn milestone(room: Room, text: impl Into<String>) -> Self {
        Outbound {
            room,
            text: text.into(),
            delivery: Delivery::Milestone,
            topic: None,
        }
    }
    pub fn progress(room: Room, thread: impl Into<String>, text: impl Into<String>) -> Self {
        let thread = thread.into();
        Outbound {
            room,
            text: text.into(),
            topic: Some(thread.clone()),
            delivery: Delivery::Progress { thread },
        }
    }
    /// The same message, as part of `topic`.
    pub fn in_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }
}

/// The two ends an adapter is handed by the core. Both channels are bounded.
pub struct Channels {
    /// Where the adapter sends what people say. Dropping it tells the core that no more input
    /// will come (the console's end of input): the core then finishes running work and stops.
    pub inbound: mpsc::Sender<Inbound>,
    /// What the core wants said, in order.
    pub outbound: mpsc::Receiver<Outbound>,
}

/// A chat system's connection. `run` owns the connection until `shutdown` is cancelled or the
/// outbound channel closes, and must deliver every milestone it has been given before returning
/// when the outbound channel closes.
pub trait Adapter: Send {
    /// The network name used in [`Identity::network`], e.g. `"console"`.
    fn network(&self) -> &'static str;

    /// The room the bot says things in when nothing else names one (what it finds on its own,
    /// like hosts that drifted): the console itself, a chat's first configured room.
    fn home(&self) -> Option<Room> {
        None
    }

    /// Whether other bots may share this network (and its rooms): then exactly one of them
    /// answers, and the others stay quiet until it goes. A bot that is alone on its network
    /// (a terminal) always answers.
    fn shared(&self) -> bool {
        true
    }

    fn run(
        self,
        channels: Channels,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Clip text to at most `max` characters, marking the cut with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_marks_cuts() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghijkl", 5), "abcd…");
        assert_eq!(clip("ééééé", 5), "ééééé");
    }

    #[test]
    fn identity_displays_network_and_id() {
        assert_eq!(
            Identity::new("xmpp", "alice@example.org").to_string(),
            "xmpp:alice@example.org"
        );
    }
}
