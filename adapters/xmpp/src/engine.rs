//! The adapter's state between the wire and the core, without I/O: rooms, the outbound queue,
//! messages in flight and corrections. Received stanzas become inbound messages and replies;
//! queued messages become stanzas when their room is ready.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bosun_chat::{Delivery, Inbound, Outbound};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::MessageType;
use tokio_xmpp::parsers::stanza::Stanza;
use tokio_xmpp::parsers::stanza_error::DefinedCondition;

use crate::address::Target;
use crate::classify::{OwnIds, classify};
use crate::config::Settings;
use crate::corrections::Corrections;
use crate::delivery::InFlight;
use crate::muc::{RoomEvent, Rooms};
use crate::outbox::{Outbox, Pushed, Queued};
use crate::{stanzas, text};

/// Own stanza ids remembered to recognise their reflections.
const OWN_IDS: usize = 512;

/// What handling an event asks of the connection.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub send: Vec<Stanza>,
    pub forward: Vec<Inbound>,
}

/// Unique stanza ids: a random prefix per adapter and a counter.
#[derive(Debug)]
struct Ids {
    prefix: String,
    next: u64,
}

impl Ids {
    fn new() -> Self {
        Ids {
            prefix: format!("{:08x}", rand::random::<u32>()),
            next: 0,
        }
    }

    fn next(&mut self, kind: &str) -> String {
        self.next += 1;
        format!("bosun-{}-{kind}{}", self.prefix, self.next)
    }
}

#[derive(Debug)]
pub(crate) struct Engine {
    own_account: BareJid,
    server: Jid,
    rooms: Rooms,
    outbox: Outbox,
    /// A milestone the full queue could not take; nothing more is taken from the core until it
    /// fits.
    stalled: Option<Queued>,
    in_flight: InFlight,
    corrections: Corrections,
    own_ids: OwnIds,
    ids: Ids,
    online: bool,
    ack_timeout: Duration,
    /// XEP-0410 self-pings, one per joined room: when the next is due, or the one awaited.
    self_pings: HashMap<BareJid, SelfPing>,
}

/// Where a room's self-ping stands.
#[derive(Debug)]
enum SelfPing {
    Next(Instant),
    Awaiting { id: String, deadline: Instant },
}

impl Engine {
    pub(crate) fn new(settings: &Settings, outbox_capacity: usize) -> Self {
        Engine {
            own_account: settings.jid.to_bare(),
            server: Jid::from(BareJid::from_parts(None, settings.jid.domain())),
            rooms: Rooms::new(&settings.rooms, &settings.nick, settings.rejoin_on_kick),
            outbox: Outbox::new(outbox_capacity),
            stalled: None,
            in_flight: InFlight::default(),
            corrections: Corrections::default(),
            own_ids: OwnIds::new(OWN_IDS),
            ids: Ids::new(),
            online: false,
            ack_timeout: settings.keepalive,
            self_pings: HashMap::new(),
        }
    }

    /// Whether another message from the core can be taken now.
    pub(crate) fn can_accept(&self) -> bool {
        self.stalled.is_none()
    }

    pub(crate) fn accept(&mut self, outbound: Outbound) {
        let target = match Target::parse(&outbound.room) {
            Ok(target) => target,
            Err(error) => {
                tracing::warn!(%error, "dropping a message for a room this adapter does not know");
                return;
            }
        };
        if let Target::Room(room) = &target {
            if !self.rooms.contains(room) {
                tracing::warn!(%room, "dropping a message for a room that is not configured");
                return;
            }
            if self.rooms.is_gone(room) {
                tracing::warn!(%room, "dropping a message for a room the bot could not join");
                return;
            }
        }
        let thread = match outbound.delivery {
            Delivery::Milestone => None,
            Delivery::Progress { thread } => Some(thread),
        };
        let item = Queued {
            target,
            text: outbound.text,
            thread,
        };
        match self.outbox.push(item) {
            Pushed::Queued | Pushed::Coalesced => {}
            Pushed::DroppedProgress => {
                tracing::debug!("outbound queue full: dropped a progress line")
            }
            Pushed::Full(item) => {
                tracing::debug!("outbound queue full of milestones: holding back the core");
                self.stalled = Some(item);
            }
        }
    }

    /// Whether a milestone is still to be delivered.
    pub(crate) fn has_pending_milestones(&self) -> bool {
        self.stalled.is_some() || self.outbox.has_milestones() || self.in_flight.has_milestones()
    }

    /// Nothing is queued or unconfirmed.
    pub(crate) fn is_drained(&self) -> bool {
        self.stalled.is_none() && self.outbox.is_empty() && self.in_flight.is_empty()
    }

    /// A fresh session is up: announce presence and join every room.
    pub(crate) fn on_online(&mut self) -> Effects {
        self.online = true;
        self.corrections.clear();
        let (joins, events) = self.rooms.start_session();
        let mut effects = Effects::default();
        effects.send.push(stanzas::initial_presence().into());
        effects.send.extend(joins.into_iter().map(Stanza::from));
        for event in events {
            self.on_room_event(event, &mut effects);
        }
        effects
    }

    /// The session is gone: what was not confirmed is queued again, in order.
    pub(crate) fn on_lost(&mut self) {
        self.online = false;
        self.self_pings.clear();
        self.rooms.end_session();
        self.corrections.clear();
        let unconfirmed = self.in_flight.take_all();
        if !unconfirmed.is_empty() {
            tracing::info!(
                count = unconfirmed.len(),
                "queueing unconfirmed messages again"
            );
        }
        self.outbox.requeue_front(unconfirmed);
    }

    pub(crate) fn on_stanza(&mut self, stanza: Stanza, now: Instant) -> Effects {
        let mut effects = Effects::default();
        match stanza {
            Stanza::Message(message) => {
                if message.type_ == MessageType::Error {
                    tracing::warn!(from = ?message.from, id = ?message.id, "a message bounced");
                } else if message.type_ == MessageType::Groupchat
                    && let (Some(id), Some(from)) = (&message.id, &message.from)
                    && self.in_flight.reflected(&id.0, &from.to_bare())
                {
                    tracing::trace!(id = %id.0, "the room reflected a message");
                }
                match classify(&message, &self.rooms, &self.own_ids, &self.own_account) {
                    Ok(inbound) => effects.forward.push(inbound),
                    Err(skip) => tracing::trace!(?skip, from = ?message.from, "not forwarded"),
                }
            }
            Stanza::Presence(presence) => {
                for event in self.rooms.on_presence(&presence, now) {
                    self.on_room_event(event, &mut effects);
                }
            }
            Stanza::Iq(iq) => match &iq {
                Iq::Result { id, .. } | Iq::Error { id, .. } if self.is_self_ping(id) => {
                    let error = match &iq {
                        Iq::Error { error, .. } => Some(error.defined_condition.clone()),
                        _ => None,
                    };
                    self.on_self_ping_answer(id, error, now, &mut effects);
                }
                Iq::Result { id, .. } | Iq::Error { id, .. } => {
                    let confirmed = self.in_flight.answered(id);
                    tracing::trace!(%id, confirmed, "an IQ answer");
                }
                Iq::Get { .. } | Iq::Set { .. } => {
                    effects.send.extend(stanzas::answer(&iq).map(Stanza::from))
                }
            },
        }
        effects
    }

    fn on_room_event(&mut self, event: RoomEvent, effects: &mut Effects) {
        match event {
            RoomEvent::Send(presence) => effects.send.push(presence.into()),
            RoomEvent::Joined(room) => {
                tracing::debug!(%room, "messages for the room may flow");
                self.self_pings
                    .insert(room, SelfPing::Next(Instant::now() + self.ack_timeout));
            }
            RoomEvent::Gone(room) => {
                let in_room = |target: &Target| match target {
                    Target::Room(r) => r == &room,
                    Target::Direct(jid) => jid.to_bare() == room,
                };
                let mut dropped = self.outbox.drop_where(in_room);
                if self.stalled.as_ref().is_some_and(|q| in_room(&q.target)) {
                    self.stalled = None;
                    dropped += 1;
                }
                if dropped > 0 {
                    tracing::warn!(%room, dropped, "dropping messages for a room the bot is not in");
                }
            }
        }
    }

    /// A keep-alive ping for a silent stream.
    pub(crate) fn keepalive(&mut self) -> Stanza {
        stanzas::ping(self.ids.next("ka"), self.server.clone()).into()
    }

    /// The next stanza to send: a queued message whose room is ready, else a delivery ping when
    /// sent messages are unconfirmed.
    pub(crate) fn poll_send(&mut self, now: Instant) -> Option<Stanza> {
        if !self.online {
            return None;
        }
        if !self.in_flight.is_full() {
            let rooms = &self.rooms;
            let ready = |target: &Target| match target {
                Target::Room(room) => rooms.is_joined(room),
                Target::Direct(jid) => {
                    let bare = jid.to_bare();
                    !rooms.contains(&bare) || rooms.is_joined(&bare)
                }
            };
            if let Some(item) = self.outbox.pop_ready(ready) {
                self.refill_stalled();
                let id = self.ids.next("m");
                let replaces = self
                    .corrections
                    .next(&item.target, item.thread.as_deref(), &id);
                let message =
                    stanzas::message(&item.target, &id, text::outbound_body(&item.text), replaces);
                self.own_ids.insert(&id);
                self.in_flight.sent(id, item);
                return Some(message.into());
            }
        }
        if self.in_flight.needs_barrier() {
            let id = self.ids.next("ack");
            self.in_flight
                .barrier_sent(id.clone(), now, self.ack_timeout);
            return Some(stanzas::ping(id, self.server.clone()).into());
        }
        None
    }

    fn refill_stalled(&mut self) {
        if let Some(item) = self.stalled.take()
            && let Pushed::Full(item) = self.outbox.push(item)
        {
            self.stalled = Some(item);
        }
    }

    /// Rejoins that are due, self-pings that are due, and rejoins of rooms whose self-ping
    /// went unanswered.
    pub(crate) fn on_timer(&mut self, now: Instant) -> Vec<Stanza> {
        let mut send: Vec<Stanza> = self.rooms.due(now).into_iter().map(Stanza::from).collect();
        for (room, nick) in self.rooms.joined() {
            match self.self_pings.get(&room) {
                Some(SelfPing::Next(at)) if *at <= now => {
                    let id = self.ids.next("self");
                    if let Ok(occupant) = room.with_resource_str(&nick) {
                        send.push(stanzas::ping(id.clone(), Jid::from(occupant)).into());
                        let deadline = now + self.ack_timeout;
                        self.self_pings
                            .insert(room, SelfPing::Awaiting { id, deadline });
                    }
                }
                Some(SelfPing::Awaiting { deadline, .. }) if *deadline <= now => {
                    tracing::warn!(%room, "the room did not answer a self-ping (XEP-0410)");
                    self.self_pings.remove(&room);
                    send.extend(self.rooms.rejoin(&room).map(Stanza::from));
                }
                _ => {}
            }
        }
        send
    }

    fn is_self_ping(&self, id: &str) -> bool {
        self.self_pings
            .values()
            .any(|p| matches!(p, SelfPing::Awaiting { id: awaited, .. } if awaited == id))
    }

    /// XEP-0410 §3: a result, or an error saying the bot's own client did not understand the
    /// ping, means it is still in the room; any other error means it is not: join again.
    fn on_self_ping_answer(
        &mut self,
        id: &str,
        error: Option<DefinedCondition>,
        now: Instant,
        effects: &mut Effects,
    ) {
        let Some(room) = self
            .self_pings
            .iter()
            .find(|(_, p)| matches!(p, SelfPing::Awaiting { id: awaited, .. } if awaited == id))
            .map(|(room, _)| room.clone())
        else {
            return;
        };
        let joined = matches!(
            error,
            None | Some(
                DefinedCondition::ServiceUnavailable | DefinedCondition::FeatureNotImplemented
            )
        );
        if joined {
            tracing::debug!(%room, "a self-ping says the bot is still in the room");
            self.self_pings
                .insert(room, SelfPing::Next(now + self.ack_timeout));
        } else {
            tracing::warn!(%room, ?error, "a self-ping says the bot is not in the room (XEP-0410)");
            self.self_pings.remove(&room);
            effects
                .send
                .extend(self.rooms.rejoin(&room).map(Stanza::from));
        }
    }

    /// When [`Engine::on_timer`] or [`Engine::ack_overdue`] next has something to say.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let pings = self.self_pings.values().map(|p| match p {
            SelfPing::Next(at) => *at,
            SelfPing::Awaiting { deadline, .. } => *deadline,
        });
        [self.rooms.next_deadline(), self.in_flight.deadline()]
            .into_iter()
            .flatten()
            .chain(pings)
            .min()
    }

    /// A delivery ping went unanswered for the keep-alive time: the connection is dead.
    pub(crate) fn ack_overdue(&self, now: Instant) -> bool {
        self.in_flight.overdue(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_chat::Room;
    use tokio_xmpp::jid::FullJid;
    use tokio_xmpp::parsers::message::Message;
    use tokio_xmpp::parsers::muc::user::{Affiliation, Item, MucUser, Role, Status};
    use tokio_xmpp::parsers::presence::Presence;

    const ROOM: &str = "ops@conference.example.org";

    fn engine(capacity: usize) -> Engine {
        let settings = Settings {
            jid: Jid::new("bosun@example.org").expect("jid"),
            password: String::new(),
            server: None,
            rooms: vec![BareJid::new(ROOM).expect("jid")],
            nick: "bosun".into(),
            ca_file: None,
            rejoin_on_kick: true,
            keepalive: Duration::from_secs(10),
        };
        Engine::new(&settings, capacity)
    }

    fn self_presence() -> Stanza {
        let item = Item::new(Affiliation::Member, Role::Participant)
            .with_jid(FullJid::new("bosun@example.org/b").expect("jid"));
        Presence::available()
            .with_from(Jid::new(&format!("{ROOM}/bosun")).expect("jid"))
            .with_payload(
                MucUser::new()
                    .with_statuses(vec![Status::SelfPresence])
                    .with_items(vec![item]),
            )
            .into()
    }

    fn drain(engine: &mut Engine, now: Instant) -> Vec<Stanza> {
        std::iter::from_fn(|| engine.poll_send(now)).collect()
    }

    fn bodies(stanzas: &[Stanza]) -> Vec<String> {
        stanzas
            .iter()
            .filter_map(|s| match s {
                Stanza::Message(m) => m.get_best_body(Vec::new()).map(|(_, b)| b.clone()),
                _ => None,
            })
            .collect()
    }

    fn barrier_id(stanzas: &[Stanza]) -> String {
        stanzas
            .iter()
            .find_map(|s| match s {
                Stanza::Iq(iq) => Some(iq.id().to_string()),
                _ => None,
            })
            .expect("a delivery ping")
    }

    #[test]
    fn messages_wait_for_the_room_and_are_confirmed_by_a_ping() {
        let now = Instant::now();
        let mut e = engine(8);
        e.accept(Outbound::milestone(Room::new(ROOM), "m1"));
        assert!(drain(&mut e, now).is_empty(), "offline");
        let online = e.on_online();
        assert_eq!(online.send.len(), 2, "presence and one join");
        assert!(drain(&mut e, now).is_empty(), "not joined yet");
        e.on_stanza(self_presence(), now);
        let sent = drain(&mut e, now);
        assert_eq!(bodies(&sent), ["m1"]);
        assert!(e.has_pending_milestones() && !e.is_drained());
        let ack = Iq::Result {
            from: None,
            to: None,
            id: barrier_id(&sent),
            payload: None,
        };
        e.on_stanza(ack.into(), now);
        assert!(e.is_drained());
    }

    #[test]
    fn the_rooms_reflection_confirms_a_message() {
        let now = Instant::now();
        let mut e = engine(8);
        e.on_online();
        e.on_stanza(self_presence(), now);
        e.accept(Outbound::milestone(Room::new(ROOM), "m1"));
        let sent = drain(&mut e, now);
        let Some(Stanza::Message(message)) = sent.first() else {
            panic!("{sent:?}")
        };
        let mut echo = message.clone();
        echo.from = Some(Jid::new(&format!("{ROOM}/bosun")).expect("jid"));
        echo.to = None;
        let effects = e.on_stanza(echo.into(), now);
        assert!(effects.forward.is_empty(), "never forwarded");
        assert!(e.is_drained());
    }

    #[test]
    fn unconfirmed_messages_are_sent_again_in_order_after_a_new_join() {
        let now = Instant::now();
        let mut e = engine(8);
        e.on_online();
        e.on_stanza(self_presence(), now);
        e.accept(Outbound::milestone(Room::new(ROOM), "m1"));
        e.accept(Outbound::milestone(Room::new(ROOM), "m2"));
        assert_eq!(bodies(&drain(&mut e, now)), ["m1", "m2"]);
        e.on_lost();
        e.accept(Outbound::milestone(Room::new(ROOM), "m3"));
        e.on_online();
        assert!(drain(&mut e, now).is_empty());
        e.on_stanza(self_presence(), now);
        assert_eq!(bodies(&drain(&mut e, now)), ["m1", "m2", "m3"]);
    }

    #[test]
    fn progress_is_corrected_in_place_until_a_milestone() {
        let now = Instant::now();
        let mut e = engine(8);
        e.on_online();
        e.on_stanza(self_presence(), now);
        let mut sent = Vec::new();
        for line in ["1/3", "2/3"] {
            e.accept(Outbound::progress(Room::new(ROOM), "d1", line));
            sent.extend(drain(&mut e, now));
        }
        e.accept(Outbound::milestone(Room::new(ROOM), "done"));
        e.accept(Outbound::progress(Room::new(ROOM), "d1", "again"));
        sent.extend(drain(&mut e, now));
        let messages: Vec<&Message> = sent
            .iter()
            .filter_map(|s| {
                if let Stanza::Message(m) = s {
                    Some(m)
                } else {
                    None
                }
            })
            .collect();
        let replaces: Vec<bool> = messages
            .iter()
            .map(|m| m.payloads.iter().any(|p| p.name() == "replace"))
            .collect();
        assert_eq!(replaces, [false, true, false, false]);
        let first = messages[0].id.clone().expect("id").0;
        let replaced = messages[1]
            .payloads
            .iter()
            .find(|p| p.name() == "replace")
            .expect("replace");
        assert_eq!(replaced.attr("id"), Some(first.as_str()));
    }

    #[test]
    fn a_full_queue_stalls_the_core_until_it_drains() {
        let now = Instant::now();
        let mut e = engine(2);
        for n in 0..3 {
            assert!(e.can_accept());
            e.accept(Outbound::milestone(Room::new(ROOM), format!("m{n}")));
        }
        assert!(!e.can_accept());
        e.on_online();
        e.on_stanza(self_presence(), now);
        assert!(e.poll_send(now).is_some());
        assert!(e.can_accept(), "the held milestone moved into the queue");
        assert_eq!(bodies(&drain(&mut e, now)), ["m1", "m2"]);
    }

    #[test]
    fn a_self_ping_that_says_the_bot_is_gone_rejoins_and_one_that_answers_keeps_the_room() {
        let start = Instant::now();
        let mut e = engine(8);
        e.on_online();
        e.on_stanza(self_presence(), start);
        let later = Instant::now() + Duration::from_secs(10);
        let ping_id = |stanzas: &[Stanza]| -> String {
            stanzas
                .iter()
                .find_map(|s| match s {
                    Stanza::Iq(iq @ Iq::Get { to: Some(to), .. })
                        if to.as_str() == format!("{ROOM}/bosun") =>
                    {
                        Some(iq.id().to_string())
                    }
                    _ => None,
                })
                .expect("a self-ping to the bot's own occupant")
        };
        let id = ping_id(&e.on_timer(later));
        let answered = e.on_stanza(
            Iq::Result {
                from: None,
                to: None,
                id,
                payload: None,
            }
            .into(),
            later,
        );
        assert!(answered.send.is_empty(), "still in the room");
        assert!(e.rooms.is_joined(&BareJid::new(ROOM).unwrap()));

        let id = ping_id(&e.on_timer(later + Duration::from_secs(10)));
        let error = tokio_xmpp::parsers::stanza_error::StanzaError::new(
            tokio_xmpp::parsers::stanza_error::ErrorType::Cancel,
            DefinedCondition::NotAcceptable,
            "en",
            "not in the room",
        );
        let gone = e.on_stanza(
            Iq::Error {
                from: None,
                to: None,
                id,
                error,
                payload: None,
            }
            .into(),
            later,
        );
        assert!(
            matches!(gone.send.as_slice(), [Stanza::Presence(p)] if p.to.as_ref().map(|t| t.as_str()) == Some(&format!("{ROOM}/bosun"))),
            "a join: {:?}",
            gone.send
        );
        assert!(!e.rooms.is_joined(&BareJid::new(ROOM).unwrap()));

        // No answer at all within the keep-alive time: joined again too.
        e.on_stanza(self_presence(), later);
        let at = later + Duration::from_secs(20);
        ping_id(&e.on_timer(at));
        let rejoin = e.on_timer(at + Duration::from_secs(10));
        assert!(
            matches!(rejoin.as_slice(), [Stanza::Presence(_)]),
            "{rejoin:?}"
        );
    }

    #[test]
    fn messages_for_unknown_rooms_are_dropped() {
        let mut e = engine(8);
        e.accept(Outbound::milestone(
            Room::new("dev@conference.example.org"),
            "nope",
        ));
        e.accept(Outbound::milestone(Room::new("console"), "nope"));
        assert!(e.is_drained());
    }
}
