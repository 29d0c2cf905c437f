//! Which received messages reach the core, and as what: live room and direct messages only —
//! never the past (XEP-0203 delay), never the bot's own. A XEP-0308 correction is marked as an
//! edit of the message it replaces, and an answer about a room message's edit goes privately
//! to its author.

use std::collections::{HashSet, VecDeque};

use bosun_chat::{Identity, Inbound, Room, Sender};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::ns;

use crate::address::Target;
use crate::muc::Rooms;

/// The network name XMPP identities carry (`xmpp = "alice@example.org"` in `[[people]]`).
pub const NETWORK: &str = "xmpp";

/// Stanza ids the bot used recently, so their reflections are recognised.
#[derive(Debug)]
pub(crate) struct OwnIds {
    set: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl OwnIds {
    pub(crate) fn new(capacity: usize) -> Self {
        OwnIds {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn insert(&mut self, id: &str) {
        if self.set.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            if self.order.len() > self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

/// Why a message is not forwarded (for debug logs and tests).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    NoBody,
    Delayed,
    OwnId,
    OwnOccupant,
    OwnAccount,
    NotJoined,
    UnknownRoom,
    RoomItself,
    Type,
}

/// What the core should see of `message`, or why it sees nothing.
pub(crate) fn classify(
    message: &Message,
    rooms: &Rooms,
    own_ids: &OwnIds,
    own_account: &BareJid,
) -> Result<Inbound, Skip> {
    let Some((_, body)) = message.get_best_body(Vec::new()) else {
        return Err(Skip::NoBody);
    };
    if message.payloads.iter().any(|el| el.is("delay", ns::DELAY)) {
        return Err(Skip::Delayed);
    }
    let origin_id = message
        .payloads
        .iter()
        .find(|el| el.is("origin-id", ns::SID))
        .and_then(|el| el.attr("id"));
    if message
        .id
        .as_ref()
        .is_some_and(|id| own_ids.contains(&id.0))
        || origin_id.is_some_and(|id| own_ids.contains(id))
    {
        return Err(Skip::OwnId);
    }
    let Some(from) = message.from.as_ref() else {
        return Err(Skip::OwnAccount);
    };
    let bare = from.to_bare();
    let text = body.clone();
    let corrects = message
        .payloads
        .iter()
        .find(|el| el.is("replace", ns::MESSAGE_CORRECT))
        .and_then(|el| el.attr("id"))
        .map(str::to_string);
    let inbound = match message.type_ {
        MessageType::Groupchat => {
            if !rooms.contains(&bare) {
                return Err(Skip::UnknownRoom);
            }
            let Some(nick) = from.resource().map(|r| r.as_str()) else {
                return Err(Skip::RoomItself);
            };
            let Some(own) = rooms.own_nick(&bare) else {
                return Err(Skip::NotJoined);
            };
            if nick == own {
                return Err(Skip::OwnOccupant);
            }
            // An answer about an edit is for its author, not for the whole room.
            let room = match &corrects {
                Some(_) => Target::Direct(from.clone()).room(),
                None => Room::new(bare.as_str()),
            };
            Inbound::new(room, occupant(rooms, &bare, nick), text, false)
        }
        MessageType::Chat | MessageType::Normal => {
            if &bare == own_account {
                return Err(Skip::OwnAccount);
            }
            let sender = if rooms.contains(&bare) {
                // A private message from a room occupant.
                let Some(nick) = from.resource().map(|r| r.as_str()) else {
                    return Err(Skip::RoomItself);
                };
                if rooms.own_nick(&bare) == Some(nick) {
                    return Err(Skip::OwnOccupant);
                }
                occupant(rooms, &bare, nick)
            } else {
                let display = bare
                    .node()
                    .map_or_else(|| bare.to_string(), |n| n.to_string());
                Sender {
                    identity: Some(Identity::new(NETWORK, bare.as_str())),
                    display,
                }
            };
            let reply_to = if rooms.contains(&bare) {
                from.clone()
            } else {
                bare.into()
            };
            Inbound::new(Target::Direct(reply_to).room(), sender, text, true)
        }
        MessageType::Error | MessageType::Headline => return Err(Skip::Type),
    };
    Ok(match corrects {
        Some(original) => inbound.edit_of(original),
        None => inbound,
    })
}

fn occupant(rooms: &Rooms, room: &BareJid, nick: &str) -> Sender {
    Sender {
        identity: rooms
            .identity(room, nick)
            .map(|jid| Identity::new(NETWORK, jid.as_str())),
        display: nick.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio_xmpp::jid::{FullJid, Jid};
    use tokio_xmpp::minidom::Element;
    use tokio_xmpp::parsers::message::{Id, Lang};
    use tokio_xmpp::parsers::muc::user::{Affiliation, Item, MucUser, Status};
    use tokio_xmpp::parsers::presence::Presence;

    fn ops() -> BareJid {
        BareJid::new("ops@conference.example.org").expect("jid")
    }

    fn bot() -> BareJid {
        BareJid::new("bosun@example.org").expect("jid")
    }

    fn present(rooms: &mut Rooms, nick: &str, real: Option<&str>, own: bool) {
        let mut item = Item::new(Affiliation::Member, Role::Participant);
        if let Some(real) = real {
            item = item.with_jid(FullJid::new(real).expect("jid"));
        }
        let statuses = if own {
            vec![Status::SelfPresence]
        } else {
            vec![]
        };
        let presence = Presence::available()
            .with_from(Jid::from(ops().with_resource_str(nick).expect("nick")))
            .with_payload(
                MucUser::new()
                    .with_statuses(statuses)
                    .with_items(vec![item]),
            );
        rooms.on_presence(&presence, Instant::now());
    }
    use tokio_xmpp::parsers::muc::user::Role;

    fn joined_rooms() -> Rooms {
        let mut rooms = Rooms::new(&[ops()], "bosun", true);
        rooms.start_session();
        present(&mut rooms, "alice", Some("alice@example.org/phone"), false);
        present(&mut rooms, "bosun", Some("bosun@example.org/bot"), true);
        rooms
    }

    fn groupchat(nick: &str, body: &str) -> Message {
        let mut m = Message::groupchat(None).with_body(Lang::new(), body.into());
        m.from = Some(Jid::from(ops().with_resource_str(nick).expect("nick")));
        m
    }

    #[test]
    fn a_room_message_names_the_real_sender() {
        let rooms = joined_rooms();
        let inbound = classify(
            &groupchat("alice", "deploy blog"),
            &rooms,
            &OwnIds::new(8),
            &bot(),
        )
        .expect("forwarded");
        assert_eq!(inbound.room.as_str(), "ops@conference.example.org");
        assert_eq!(
            inbound.sender.identity,
            Some(Identity::new("xmpp", "alice@example.org"))
        );
        assert_eq!(inbound.sender.display, "alice");
        assert_eq!(inbound.text, "deploy blog");
        assert!(!inbound.direct);
    }

    #[test]
    fn the_past_and_the_bot_itself_are_never_forwarded() {
        let rooms = joined_rooms();
        let mut own = OwnIds::new(8);
        let mut delayed = groupchat("alice", "old");
        delayed
            .payloads
            .push(Element::builder("delay", ns::DELAY).build());
        assert_eq!(classify(&delayed, &rooms, &own, &bot()), Err(Skip::Delayed));
        assert_eq!(
            classify(&groupchat("bosun", "mine"), &rooms, &own, &bot()),
            Err(Skip::OwnOccupant)
        );
        own.insert("bosun-1");
        let mut echoed = groupchat("alice", "spoofed id");
        echoed.id = Some(Id("bosun-1".into()));
        assert_eq!(classify(&echoed, &rooms, &own, &bot()), Err(Skip::OwnId));
        let mut unknown = groupchat("carol", "hi");
        unknown.from = Some(Jid::new("dev@conference.example.org/carol").expect("jid"));
        assert_eq!(
            classify(&unknown, &rooms, &own, &bot()),
            Err(Skip::UnknownRoom)
        );
        let subject_only = Message::groupchat(None);
        assert_eq!(
            classify(&subject_only, &rooms, &own, &bot()),
            Err(Skip::NoBody)
        );
    }

    #[test]
    fn nothing_is_forwarded_before_the_room_is_joined() {
        let mut rooms = Rooms::new(&[ops()], "bosun", true);
        rooms.start_session();
        present(&mut rooms, "alice", Some("alice@example.org/phone"), false);
        let got = classify(
            &groupchat("alice", "history"),
            &rooms,
            &OwnIds::new(8),
            &bot(),
        );
        assert_eq!(got, Err(Skip::NotJoined));
    }

    #[test]
    fn direct_messages_reply_privately() {
        let rooms = joined_rooms();
        let mut dm = Message::chat(None).with_body(Lang::new(), "status".into());
        dm.from = Some(Jid::new("alice@example.org/phone").expect("jid"));
        let inbound = classify(&dm, &rooms, &OwnIds::new(8), &bot()).expect("forwarded");
        assert!(inbound.direct);
        assert_eq!(inbound.room.as_str(), "xmpp:dm:alice@example.org");
        assert_eq!(
            inbound.sender.identity,
            Some(Identity::new("xmpp", "alice@example.org"))
        );

        let mut pm = Message::chat(None).with_body(Lang::new(), "status".into());
        pm.from = Some(Jid::new("ops@conference.example.org/alice").expect("jid"));
        let inbound = classify(&pm, &rooms, &OwnIds::new(8), &bot()).expect("forwarded");
        assert_eq!(
            inbound.room.as_str(),
            "xmpp:dm:ops@conference.example.org/alice"
        );
        assert_eq!(
            inbound.sender.identity,
            Some(Identity::new("xmpp", "alice@example.org"))
        );

        let mut own = Message::chat(None).with_body(Lang::new(), "carbon".into());
        own.from = Some(Jid::new("bosun@example.org/other").expect("jid"));
        assert_eq!(
            classify(&own, &rooms, &OwnIds::new(8), &bot()),
            Err(Skip::OwnAccount)
        );
    }

    #[test]
    fn a_correction_is_an_edit_answered_privately() {
        let rooms = joined_rooms();
        let mut corrected = groupchat("alice", "deploy demo to staging");
        corrected.payloads.push(
            Element::builder("replace", ns::MESSAGE_CORRECT)
                .attr(rxml("id"), "m1")
                .build(),
        );
        let inbound = classify(&corrected, &rooms, &OwnIds::new(8), &bot()).expect("forwarded");
        assert_eq!(inbound.edit_of.as_deref(), Some("m1"));
        assert_eq!(
            inbound.room.as_str(),
            "xmpp:dm:ops@conference.example.org/alice"
        );
        assert_eq!(
            inbound.sender.identity,
            Some(Identity::new("xmpp", "alice@example.org"))
        );
        let plain = classify(&groupchat("alice", "hi"), &rooms, &OwnIds::new(8), &bot()).unwrap();
        assert_eq!(plain.edit_of, None);
    }

    fn rxml(name: &str) -> tokio_xmpp::minidom::rxml::NcName {
        name.try_into().expect("a valid attribute name")
    }

    #[test]
    fn own_ids_are_bounded() {
        let mut own = OwnIds::new(2);
        own.insert("a");
        own.insert("b");
        own.insert("c");
        assert!(!own.contains("a") && own.contains("b") && own.contains("c"));
    }
}
