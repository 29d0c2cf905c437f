//! bosun's XMPP adapter: a STARTTLS client (tokio-xmpp 6.0, xmpp-parsers 0.23) that sits in
//! multi-user chat rooms, forwards what people say and says what the core wants, editing progress
//! in place with last message corrections.
//!
//! # What crosses the boundary
//!
//! * Inbound: live `groupchat` messages of the configured rooms and direct `chat`/`normal`
//!   messages, as [`bosun_chat::Inbound`]. The sender's identity is the network `"xmpp"` and the
//!   sender's *real bare JID*: for a room, the JID announced in the occupant's MUC presence
//!   (`<x xmlns='http://jabber.org/protocol/muc#user'><item jid='…'/>`), tracked by nick from the
//!   presences, so whoever holds a nick now is who is named; when the room hides real JIDs
//!   (semi-anonymous) the identity is `None` (logged once per room). Never forwarded: anything
//!   carrying a XEP-0203 `<delay/>` (history, offline storage), messages from the bot's own
//!   occupant or account, and messages carrying an id the bot sent itself.
//! * Rooms: a room is [`bosun_chat::Room`] holding the room's bare JID (`ops@conference.example.org`);
//!   a direct conversation is `xmpp:dm:` followed by the JID replies go to ([`DIRECT_PREFIX`]): the
//!   bare JID of a person (`xmpp:dm:alice@example.org`), or a room occupant's full JID for a private
//!   message inside a room (`xmpp:dm:ops@conference.example.org/alice`).
//! * Outbound: plain text, with characters XML cannot carry replaced and clipped to
//!   [`MAX_OUTBOUND_CHARS`]; every message is marked `<unstyled xmlns='urn:xmpp:styling:0'/>` so
//!   clients show text from commits and users literally. A milestone is always a new message. The
//!   first progress line of a thread is a new message and later lines of that thread are XEP-0308
//!   corrections (`<replace id='first-id'/>`) of it — but only while that message is still the
//!   bot's last message in that room; otherwise (a milestone or another thread came in between,
//!   or the session was renewed) the next progress line starts a new message.
//!
//! # Staying up, and the stream management bug
//!
//! After a Prosody restart, mod_smacks answers a resumption request for a session it no longer
//! knows with `<failed xmlns='urn:xmpp:sm:3'><item-not-found/></failed>`, without the `h`
//! attribute. xmpp-parsers 0.23.0 declares `sm::Failed::h` as `#[xml(attribute)] Option<u32>`
//! without `default`, so that element fails to parse (a unit test here pins this). tokio-xmpp
//! 6.0.0 turns an unparsable nonza into an I/O error (`FallibleStreamElement::into_read_error`),
//! and its `StanzaStream` negotiation handles an I/O error while waiting for the resumption answer
//! as a disconnect that *keeps* the stream management state
//! (`NegotiationState::ReceiveSmResponse`, `Disconnect { sm_state: sm_state.take() }`), so the next
//! connection tries to resume again, fails again, and the client logs in again and again.
//!
//! This crate therefore does not use `tokio_xmpp::Client` or `StanzaStream` at all. It uses
//! tokio-xmpp's lower layers — the XML stream, SASL (`client_login`) and a connector of its own
//! ([`StartTlsConnector`]) — and binds a resource itself. It never sends `<enable/>` or
//! `<resume/>` (XEP-0198 is not used, even when the server offers it), so the server never sends
//! `<failed/>`. Every connection is a fresh session with its own reconnect loop: exponential
//! back-off with jitter, started over as soon as a session is established (so back-to-back
//! server restarts never stretch it), and at most two seconds while the server refuses
//! connections (it is restarting). A lost connection is logged as a warning.
//!
//! Without stream management, delivery is confirmed in two ways: a room message is confirmed when
//! the room reflects it back (same stanza id); and after sending messages the adapter sends a
//! XEP-0199 ping to its server — RFC 6120 servers handle a stream's stanzas in order, so the
//! answer proves every earlier stanza was handled. Messages not yet confirmed when a connection is
//! lost go back to the front of the outbound queue and are sent again, in order, after the next
//! session has rejoined its rooms. The outbound queue is bounded:
//! progress is coalesced (the latest line of a thread wins) and dropped first; milestones are
//! never dropped — when the queue is full of them the adapter stops taking messages from the core,
//! which puts back-pressure on it. A message can be repeated only if the connection dies between
//! the server handling it and the ping's answer arriving.
//!
//! Keep-alive: when the stream has been silent for `keepalive`, the adapter pings the server, and
//! a connection that stays silent for another `keepalive` (or leaves a delivery ping unanswered
//! that long) is dropped and renewed. Pings from others are answered. Every `keepalive` the
//! adapter also pings its own occupant in each room (XEP-0410 self-ping): an error saying it
//! is not there, or no answer, means the room (or its MUC service) forgot it, and it joins
//! again.
//!
//! # Edits
//!
//! A XEP-0308 correction is handed to the core marked as an edit of the message it replaces
//! ([`bosun_chat::Inbound::edit_of`]); the core never runs it, and its answer goes privately
//! to the occupant who corrected.
//!
//! # TLS
//!
//! STARTTLS is required (a server that does not offer it is refused; there is no plaintext mode).
//! Certificates are verified by rustls with the ring provider against the system roots plus an
//! optional PEM CA file ([`XmppConfig::ca_file`]); nothing accepts an unverified certificate. A
//! server certificate that is exactly one of the CA file's is trusted as pinned even when it
//! is marked CA:TRUE (a self-signed certificate), as long as it names the server.

mod adapter;
mod address;
mod backoff;
mod classify;
mod config;
mod corrections;
mod delivery;
mod engine;
mod muc;
mod outbox;
mod section;
mod session;
mod stanzas;
mod text;
mod tls;

pub use adapter::XmppAdapter;
pub use address::DIRECT_PREFIX;
pub use classify::NETWORK;
pub use config::{ConfigError, XmppConfig};
pub use section::{KEYS, NEEDS, XmppSection};
pub use text::MAX_OUTBOUND_CHARS;
pub use tls::{StartTlsConnector, TlsError, client_config};
