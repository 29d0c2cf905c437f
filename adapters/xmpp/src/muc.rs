//! Multi-user chat rooms (XEP-0045): joining (another nick while one is taken), who holds which
//! nick and their real JID, and what to do when the bot is kicked or the room goes away.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};

use crate::stanzas;

/// Nicks tried per room before giving up for this session (`bosun`, `bosun_`, `bosun__`, …).
const MAX_NICK_ATTEMPTS: u32 = 8;
/// First delay before rejoining after a kick; it doubles with each further kick.
const KICK_REJOIN_DELAY: Duration = Duration::from_secs(1);
const MAX_REJOIN_DELAY: Duration = Duration::from_secs(300);

// XEP-0045 status codes.
const SELF: u16 = 110;
const BANNED: u16 = 301;
const NEW_NICK: u16 = 303;
const KICKED: u16 = 307;
const AFFILIATION_CHANGE: u16 = 321;
const MEMBERS_ONLY: u16 = 322;

/// The parts of a presence's `<x xmlns='http://jabber.org/protocol/muc#user'/>` the adapter
/// needs, read leniently (xmpp-parsers' `MucUser` refuses an item without `affiliation`).
#[derive(Debug, Default)]
struct MucInfo {
    statuses: Vec<u16>,
    real_jid: Option<BareJid>,
}

impl MucInfo {
    fn of(presence: &Presence) -> MucInfo {
        let Some(x) = presence.payloads.iter().find(|el| el.is("x", ns::MUC_USER)) else {
            return MucInfo::default();
        };
        let statuses = x
            .children()
            .filter(|c| c.is("status", ns::MUC_USER))
            .filter_map(|c| c.attr("code")?.parse().ok())
            .collect();
        let real_jid = x
            .get_child("item", ns::MUC_USER)
            .and_then(|item| item.attr("jid"))
            .and_then(|jid| Jid::new(jid).ok())
            .map(|jid| jid.to_bare());
        MucInfo { statuses, real_jid }
    }
}

#[derive(Debug)]
enum Phase {
    /// Not joined and not trying (no session).
    Idle,
    Joining {
        nick: String,
        attempt: u32,
    },
    Joined {
        nick: String,
    },
    RejoinAt(Instant),
    /// Given up on for this session (refused, banned, kicked without rejoining).
    Gone,
}

#[derive(Debug)]
struct RoomState {
    phase: Phase,
    /// Occupants by nick, with their real bare JID where the room shows it.
    occupants: HashMap<String, Option<BareJid>>,
    hidden_jids_logged: bool,
    kicks: u32,
}

/// What a presence means for the rest of the adapter.
#[derive(Debug)]
pub(crate) enum RoomEvent {
    /// Send this presence (a join with another nick).
    Send(Presence),
    /// Joined: messages for the room may flow.
    Joined(BareJid),
    /// The room will not be joined in this session: what is queued for it cannot be delivered.
    Gone(BareJid),
}

#[derive(Debug)]
pub(crate) struct Rooms {
    rooms: HashMap<BareJid, RoomState>,
    nick: String,
    rejoin_on_kick: bool,
}

impl Rooms {
    pub(crate) fn new(rooms: &[BareJid], nick: &str, rejoin_on_kick: bool) -> Self {
        let rooms = rooms
            .iter()
            .map(|room| {
                let state = RoomState {
                    phase: Phase::Idle,
                    occupants: HashMap::new(),
                    hidden_jids_logged: false,
                    kicks: 0,
                };
                (room.clone(), state)
            })
            .collect();
        Rooms {
            rooms,
            nick: nick.to_string(),
            rejoin_on_kick,
        }
    }

    pub(crate) fn contains(&self, room: &BareJid) -> bool {
        self.rooms.contains_key(room)
    }

    pub(crate) fn is_joined(&self, room: &BareJid) -> bool {
        self.own_nick(room).is_some()
    }

    /// Whether `room` was given up on in this session.
    pub(crate) fn is_gone(&self, room: &BareJid) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|s| matches!(s.phase, Phase::Gone))
    }

    /// The bot's nick in `room`, while joined.
    pub(crate) fn own_nick(&self, room: &BareJid) -> Option<&str> {
        match &self.rooms.get(room)?.phase {
            Phase::Joined { nick } => Some(nick),
            _ => None,
        }
    }

    /// The real bare JID of whoever holds `nick` in `room` now, if the room shows it.
    pub(crate) fn identity(&self, room: &BareJid, nick: &str) -> Option<&BareJid> {
        self.rooms.get(room)?.occupants.get(nick)?.as_ref()
    }

    /// A fresh session: join every room. Returns the presences to send and the rooms that cannot
    /// be joined at all.
    pub(crate) fn start_session(&mut self) -> (Vec<Presence>, Vec<RoomEvent>) {
        let mut joins = Vec::new();
        let mut events = Vec::new();
        for (room, state) in &mut self.rooms {
            state.occupants.clear();
            state.kicks = 0;
            match stanzas::join(room, &self.nick) {
                Some(join) => {
                    state.phase = Phase::Joining {
                        nick: self.nick.clone(),
                        attempt: 0,
                    };
                    joins.push(join);
                }
                None => {
                    tracing::error!(%room, nick = %self.nick, "the nick is not valid in a room JID");
                    state.phase = Phase::Gone;
                    events.push(RoomEvent::Gone(room.clone()));
                }
            }
        }
        (joins, events)
    }

    /// The session is over: nothing is joined any more.
    pub(crate) fn end_session(&mut self) {
        for state in self.rooms.values_mut() {
            state.phase = Phase::Idle;
            state.occupants.clear();
        }
    }

    /// The rooms joined now, with the bot's nick in each.
    pub(crate) fn joined(&self) -> Vec<(BareJid, String)> {
        self.rooms
            .iter()
            .filter_map(|(room, state)| match &state.phase {
                Phase::Joined { nick } => Some((room.clone(), nick.clone())),
                _ => None,
            })
            .collect()
    }

    /// The bot is not (or no longer surely) in `room` although it thinks so (XEP-0410 said
    /// so): join it again now. Returns the join to send.
    pub(crate) fn rejoin(&mut self, room: &BareJid) -> Option<Presence> {
        let state = self.rooms.get_mut(room)?;
        let join = stanzas::join(room, &self.nick)?;
        tracing::warn!(%room, "no longer in the room; joining again");
        state.occupants.clear();
        state.phase = Phase::Joining {
            nick: self.nick.clone(),
            attempt: 0,
        };
        Some(join)
    }

    /// Rejoins whose time has come.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Presence> {
        let mut joins = Vec::new();
        for (room, state) in &mut self.rooms {
            if let Phase::RejoinAt(at) = state.phase
                && at <= now
                && let Some(join) = stanzas::join(room, &self.nick)
            {
                tracing::info!(%room, "rejoining");
                state.phase = Phase::Joining {
                    nick: self.nick.clone(),
                    attempt: 0,
                };
                joins.push(join);
            }
        }
        joins
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.rooms
            .values()
            .filter_map(|s| match s.phase {
                Phase::RejoinAt(at) => Some(at),
                _ => None,
            })
            .min()
    }

    pub(crate) fn on_presence(&mut self, presence: &Presence, now: Instant) -> Vec<RoomEvent> {
        let Some(from) = presence.from.as_ref() else {
            return Vec::new();
        };
        let room = from.to_bare();
        let Some(state) = self.rooms.get_mut(&room) else {
            return Vec::new();
        };
        let Some(nick) = from.resource().map(|r| r.as_str().to_string()) else {
            return Vec::new();
        };
        let info = MucInfo::of(presence);
        let has = |code: u16| info.statuses.contains(&code);
        let real_jid = info.real_jid;

        match presence.type_ {
            PresenceType::Error => self.join_failed(&room, &nick, presence),
            PresenceType::None => {
                if has(SELF) {
                    state.occupants.insert(nick.clone(), real_jid);
                    let was_joined = matches!(state.phase, Phase::Joined { .. });
                    tracing::info!(%room, %nick, "in the room");
                    state.phase = Phase::Joined { nick };
                    if was_joined {
                        Vec::new()
                    } else {
                        vec![RoomEvent::Joined(room)]
                    }
                } else {
                    if real_jid.is_none() && !state.hidden_jids_logged {
                        tracing::warn!(
                            %room,
                            "the room hides real JIDs: its messages are forwarded without identity"
                        );
                        state.hidden_jids_logged = true;
                    }
                    state.occupants.insert(nick, real_jid);
                    Vec::new()
                }
            }
            PresenceType::Unavailable => {
                state.occupants.remove(&nick);
                if !has(SELF) || has(NEW_NICK) {
                    // Someone left, or changed nick (their new presence follows).
                    return Vec::new();
                }
                state.occupants.clear();
                if has(KICKED) {
                    state.kicks = state.kicks.saturating_add(1);
                    if self.rejoin_on_kick {
                        let delay = KICK_REJOIN_DELAY
                            .saturating_mul(2u32.saturating_pow(state.kicks - 1))
                            .min(MAX_REJOIN_DELAY);
                        tracing::warn!(%room, ?delay, "kicked from the room; rejoining");
                        state.phase = Phase::RejoinAt(now + delay);
                        return Vec::new();
                    }
                    tracing::warn!(%room, "kicked from the room; not rejoining (rejoin_on_kick is off)");
                    state.phase = Phase::Gone;
                    return vec![RoomEvent::Gone(room)];
                }
                if has(BANNED) || has(AFFILIATION_CHANGE) || has(MEMBERS_ONLY) {
                    tracing::warn!(%room, "removed from the room; not rejoining in this session");
                    state.phase = Phase::Gone;
                    return vec![RoomEvent::Gone(room)];
                }
                // The room or its service went away: try again a little later.
                tracing::warn!(%room, "left the room unexpectedly; rejoining");
                state.phase = Phase::RejoinAt(now + KICK_REJOIN_DELAY);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn join_failed(&mut self, room: &BareJid, nick: &str, presence: &Presence) -> Vec<RoomEvent> {
        let Some(state) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        let Phase::Joining {
            nick: tried,
            attempt,
        } = &state.phase
        else {
            return Vec::new();
        };
        if tried != nick {
            return Vec::new();
        }
        let condition = presence
            .payloads
            .iter()
            .find(|el| el.is("error", ns::DEFAULT_NS))
            .and_then(|el| StanzaError::try_from(el.clone()).ok())
            .map(|e| e.defined_condition);
        let next_attempt = attempt + 1;
        if condition == Some(DefinedCondition::Conflict) && next_attempt < MAX_NICK_ATTEMPTS {
            let next = format!("{}{}", self.nick, "_".repeat(next_attempt as usize));
            if let Some(join) = stanzas::join(room, &next) {
                tracing::warn!(%room, taken = %nick, trying = %next, "nick is taken in the room");
                state.phase = Phase::Joining {
                    nick: next,
                    attempt: next_attempt,
                };
                return vec![RoomEvent::Send(join)];
            }
        }
        tracing::error!(%room, %nick, ?condition, "cannot join the room in this session");
        state.phase = Phase::Gone;
        vec![RoomEvent::Gone(room.clone())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::jid::FullJid;
    use tokio_xmpp::parsers::muc::user::{Affiliation, Item, MucUser, Role, Status};
    use tokio_xmpp::parsers::stanza_error::ErrorType;

    fn ops() -> BareJid {
        BareJid::new("ops@conference.example.org").expect("jid")
    }

    fn from(nick: &str) -> Jid {
        Jid::from(ops().with_resource_str(nick).expect("nick"))
    }

    fn occupant(
        nick: &str,
        real: Option<&str>,
        statuses: Vec<Status>,
        type_: PresenceType,
    ) -> Presence {
        let mut item = Item::new(Affiliation::Member, Role::Participant);
        if let Some(real) = real {
            item = item.with_jid(FullJid::new(real).expect("full jid"));
        }
        let x = MucUser::new()
            .with_statuses(statuses)
            .with_items(vec![item]);
        Presence::new(type_).with_from(from(nick)).with_payload(x)
    }

    fn conflict(nick: &str) -> Presence {
        let error = StanzaError::new(ErrorType::Cancel, DefinedCondition::Conflict, "en", "taken");
        Presence::error().with_from(from(nick)).with_payload(error)
    }

    fn joined(rooms: &mut Rooms, nick: &str) {
        let events = rooms.on_presence(
            &occupant(
                nick,
                Some("bosun@example.org/x"),
                vec![Status::SelfPresence],
                PresenceType::None,
            ),
            Instant::now(),
        );
        assert!(
            matches!(events.as_slice(), [RoomEvent::Joined(_)]),
            "{events:?}"
        );
    }

    #[test]
    fn joining_tracks_occupants_and_the_own_nick() {
        let mut rooms = Rooms::new(&[ops()], "bosun", true);
        let (joins, _) = rooms.start_session();
        assert_eq!(joins.len(), 1);
        let now = Instant::now();
        rooms.on_presence(
            &occupant(
                "alice",
                Some("alice@example.org/phone"),
                vec![],
                PresenceType::None,
            ),
            now,
        );
        assert!(!rooms.is_joined(&ops()));
        joined(&mut rooms, "bosun");
        assert_eq!(rooms.own_nick(&ops()), Some("bosun"));
        assert_eq!(
            rooms.identity(&ops(), "alice").map(|j| j.as_str()),
            Some("alice@example.org")
        );
    }

    #[test]
    fn a_nick_taken_over_after_leaving_names_the_new_holder() {
        let mut rooms = Rooms::new(&[ops()], "bosun", true);
        rooms.start_session();
        joined(&mut rooms, "bosun");
        let now = Instant::now();
        rooms.on_presence(
            &occupant(
                "alice",
                Some("alice@example.org/a"),
                vec![],
                PresenceType::None,
            ),
            now,
        );
        rooms.on_presence(
            &occupant(
                "alice",
                Some("alice@example.org/a"),
                vec![],
                PresenceType::Unavailable,
            ),
            now,
        );
        assert_eq!(rooms.identity(&ops(), "alice"), None);
        rooms.on_presence(
            &occupant(
                "alice",
                Some("mallory@evil.example/m"),
                vec![],
                PresenceType::None,
            ),
            now,
        );
        assert_eq!(
            rooms.identity(&ops(), "alice").map(|j| j.as_str()),
            Some("mallory@evil.example")
        );
        rooms.on_presence(&occupant("carol", None, vec![], PresenceType::None), now);
        assert_eq!(rooms.identity(&ops(), "carol"), None);
    }

    #[test]
    fn a_taken_nick_is_retried_with_underscores_then_given_up() {
        let mut rooms = Rooms::new(&[ops()], "bosun", true);
        rooms.start_session();
        let now = Instant::now();
        let events = rooms.on_presence(&conflict("bosun"), now);
        let [RoomEvent::Send(join)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(
            join.to.as_ref().map(|j| j.as_str()),
            Some("ops@conference.example.org/bosun_")
        );
        // A stale error for the old nick changes nothing.
        assert!(rooms.on_presence(&conflict("bosun"), now).is_empty());
        let mut nick = "bosun_".to_string();
        for _ in 2..MAX_NICK_ATTEMPTS {
            let events = rooms.on_presence(&conflict(&nick), now);
            assert!(
                matches!(events.as_slice(), [RoomEvent::Send(_)]),
                "{events:?}"
            );
            nick.push('_');
        }
        let events = rooms.on_presence(&conflict(&nick), now);
        assert!(
            matches!(events.as_slice(), [RoomEvent::Gone(_)]),
            "{events:?}"
        );
    }

    #[test]
    fn a_kick_schedules_a_rejoin_when_configured() {
        let kicked = occupant(
            "bosun",
            None,
            vec![Status::SelfPresence, Status::Kicked],
            PresenceType::Unavailable,
        );
        let mut rooms = Rooms::new(&[ops()], "bosun", true);
        rooms.start_session();
        joined(&mut rooms, "bosun");
        let now = Instant::now();
        assert!(rooms.on_presence(&kicked, now).is_empty());
        assert!(!rooms.is_joined(&ops()));
        assert_eq!(rooms.next_deadline(), Some(now + KICK_REJOIN_DELAY));
        assert!(rooms.due(now).is_empty());
        assert_eq!(rooms.due(now + KICK_REJOIN_DELAY).len(), 1);
        assert_eq!(rooms.next_deadline(), None);

        let mut rooms = Rooms::new(&[ops()], "bosun", false);
        rooms.start_session();
        joined(&mut rooms, "bosun");
        assert!(matches!(
            rooms.on_presence(&kicked, now).as_slice(),
            [RoomEvent::Gone(_)]
        ));
        assert_eq!(rooms.next_deadline(), None);
    }
}
