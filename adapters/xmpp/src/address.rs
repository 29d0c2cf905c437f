//! Room names as the core sees them: a MUC room's bare JID, or [`DIRECT_PREFIX`] and the JID
//! replies go to for a private conversation.

use bosun_chat::Room;
use tokio_xmpp::jid::{BareJid, Jid};

/// Prefix of the [`Room`] of a direct conversation: `xmpp:dm:alice@example.org` for a person,
/// `xmpp:dm:ops@conference.example.org/alice` for a private message from a room occupant.
pub const DIRECT_PREFIX: &str = "xmpp:dm:";

/// Where an outbound message goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// A multi-user chat room (messages of type `groupchat`).
    Room(BareJid),
    /// A person, or a room occupant (messages of type `chat`).
    Direct(Jid),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is neither a room JID nor {DIRECT_PREFIX}<JID>")]
pub(crate) struct BadRoom(pub String);

impl Target {
    pub(crate) fn parse(room: &Room) -> Result<Target, BadRoom> {
        let bad = || BadRoom(room.as_str().to_string());
        match room.as_str().strip_prefix(DIRECT_PREFIX) {
            Some(jid) => Jid::new(jid).map(Target::Direct).map_err(|_| bad()),
            None => {
                let jid = Jid::new(room.as_str()).map_err(|_| bad())?;
                if jid.node().is_none() {
                    return Err(bad());
                }
                BareJid::try_from(jid).map(Target::Room).map_err(|_| bad())
            }
        }
    }

    pub(crate) fn room(&self) -> Room {
        match self {
            Target::Room(jid) => Room::new(jid.as_str()),
            Target::Direct(jid) => Room::new(format!("{DIRECT_PREFIX}{jid}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_and_direct_conversations_round_trip() {
        for name in [
            "ops@conference.example.org",
            "xmpp:dm:alice@example.org",
            "xmpp:dm:ops@conference.example.org/alice",
        ] {
            let target = Target::parse(&Room::new(name)).expect(name);
            assert_eq!(target.room().as_str(), name);
        }
        assert!(matches!(
            Target::parse(&Room::new("xmpp:dm:alice@example.org")),
            Ok(Target::Direct(_))
        ));
    }

    #[test]
    fn other_names_are_refused() {
        for name in [
            "ops@conference.example.org/nick",
            "console",
            "xmpp:dm:",
            "a@b@c",
        ] {
            assert!(Target::parse(&Room::new(name)).is_err(), "{name}");
        }
    }
}
