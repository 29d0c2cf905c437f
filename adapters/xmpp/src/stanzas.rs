//! The stanzas the adapter sends: presences (initial, room joins, leaving), messages (origin id,
//! no styling, corrections), pings, and answers to IQ requests.

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::message_correct::Replace;
use tokio_xmpp::parsers::muc::muc::{History, Muc};
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::parsers::stanza_id::OriginId;

use crate::address::Target;

/// XEP-0393 §6: ask clients to show the body as it is.
const NS_STYLING: &str = "urn:xmpp:styling:0";

/// The first presence of a session, so the server routes direct messages to it.
pub(crate) fn initial_presence() -> Presence {
    Presence::available()
}

/// Join `room` as `nick`, asking for no history (XEP-0045 §7.2.14).
pub(crate) fn join(room: &BareJid, nick: &str) -> Option<Presence> {
    let occupant = room.with_resource_str(nick).ok()?;
    let muc = Muc::new().with_history(History::new().with_maxstanzas(0));
    Some(Presence::available().with_to(occupant).with_payload(muc))
}

/// Leave the whole session (closing the stream leaves the rooms too).
pub(crate) fn unavailable() -> Presence {
    Presence::unavailable()
}

/// A message with stanza id and origin id `id`, correcting the message `replaces` if given.
pub(crate) fn message(
    target: &Target,
    id: &str,
    body: String,
    replaces: Option<String>,
) -> Message {
    let (type_, to) = match target {
        Target::Room(room) => (MessageType::Groupchat, Jid::from(room.clone())),
        Target::Direct(jid) => (MessageType::Chat, jid.clone()),
    };
    let mut message = Message::new_with_type(type_, Some(to))
        .with_body(Lang::new(), body)
        .with_payload(OriginId { id: id.to_string() });
    message.id = Some(Id(id.to_string()));
    message
        .payloads
        .push(Element::builder("unstyled", NS_STYLING).build());
    if let Some(first) = replaces {
        message = message.with_payload(Replace { id: Id(first) });
    }
    message
}

/// A XEP-0199 ping to `to` (the server), with stanza id `id`.
pub(crate) fn ping(id: String, to: Jid) -> Iq {
    Iq::from_get(id, Ping).with_to(to)
}

/// The answer an IQ request deserves: pongs for pings, `service-unavailable` for anything
/// else; `None` for results and errors (they are answers themselves).
pub(crate) fn answer(iq: &Iq) -> Option<Iq> {
    let (from, id, payload) = match iq {
        Iq::Get {
            from, id, payload, ..
        }
        | Iq::Set {
            from, id, payload, ..
        } => (from, id, payload),
        Iq::Result { .. } | Iq::Error { .. } => return None,
    };
    let to = from.clone();
    if matches!(iq, Iq::Get { .. }) && payload.is("ping", ns::PING) {
        return Some(Iq::Result {
            from: None,
            to,
            id: id.clone(),
            payload: None,
        });
    }
    let error = StanzaError::new(
        ErrorType::Cancel,
        DefinedCondition::ServiceUnavailable,
        "en",
        "not supported by this bot",
    );
    Some(Iq::Error {
        from: None,
        to,
        id: id.clone(),
        error,
        payload: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(element: impl Into<Element>) -> String {
        String::from(&element.into())
    }

    #[test]
    fn a_join_asks_for_no_history() {
        let room = BareJid::new("ops@conference.example.org").expect("jid");
        let shown = xml(join(&room, "bosun").expect("valid nick"));
        assert!(
            shown.contains("to='ops@conference.example.org/bosun'"),
            "{shown}"
        );
        assert!(shown.contains("maxstanzas='0'"), "{shown}");
    }

    #[test]
    fn a_correction_names_the_first_message_and_styling_is_off() {
        let room = Target::Room(BareJid::new("ops@conference.example.org").expect("jid"));
        let shown = xml(message(
            &room,
            "id2",
            "2/3 *done*".into(),
            Some("id1".into()),
        ));
        assert!(shown.contains("type='groupchat'"), "{shown}");
        assert!(
            shown.contains("<replace xmlns='urn:xmpp:message-correct:0' id='id1'"),
            "{shown}"
        );
        assert!(
            shown.contains("<origin-id xmlns='urn:xmpp:sid:0' id='id2'"),
            "{shown}"
        );
        assert!(
            shown.contains("<unstyled xmlns='urn:xmpp:styling:0'"),
            "{shown}"
        );
        assert!(shown.contains("2/3 *done*"), "{shown}");
    }

    #[test]
    fn pings_are_answered_and_other_requests_refused() {
        let alice = Jid::new("alice@example.org/phone").expect("jid");
        let ping = Iq::from_get("p1", Ping).with_from(alice.clone());
        let pong = answer(&ping).expect("an answer");
        assert!(matches!(&pong, Iq::Result { id, to: Some(to), .. } if id == "p1" && to == &alice));
        let version = Iq::Get {
            from: Some(alice),
            to: None,
            id: "v1".into(),
            payload: Element::builder("query", "jabber:iq:version").build(),
        };
        assert!(matches!(answer(&version), Some(Iq::Error { id, .. }) if id == "v1"));
        assert!(answer(&pong).is_none());
    }
}
