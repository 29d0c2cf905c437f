//! A person in the tests: a tokio-xmpp `Client` (STARTTLS, trusting the test CA) that joins
//! rooms, talks, kicks, and collects what arrives.

use std::collections::VecDeque;

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use tokio::time::Instant;
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::muc::muc::{History, Muc};
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza::Stanza;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Client, Event};

use super::WAIT;
use super::prosody::{DOMAIN, PASSWORD, Prosody};

const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";

/// Stanzas kept for later questions; older ones are forgotten.
const BACKLOG: usize = 1000;

pub struct TestClient {
    client: Client,
    backlog: VecDeque<Stanza>,
    next_id: u64,
}

impl TestClient {
    /// Log in as `user@localhost` and announce presence; fails if not online within [`WAIT`].
    pub async fn connect(prosody: &Prosody, user: &str) -> anyhow::Result<TestClient> {
        let ca = prosody.ca_file();
        let tls =
            tokio::task::spawn_blocking(move || bosun_xmpp::client_config(Some(&ca))).await??;
        let dns = DnsConfig::addr(&format!("127.0.0.1:{}", prosody.port()));
        let connector = bosun_xmpp::StartTlsConnector::new(dns, tls);
        let jid = BareJid::new(&format!("{user}@{DOMAIN}"))?;
        let mut client = Client::new_with_connector(jid, PASSWORD, connector, Timeouts::tight());
        let online = async {
            while let Some(event) = client.next().await {
                match event {
                    Event::Online { .. } => return Ok(()),
                    Event::Disconnected(error) => bail!("{user} was disconnected: {error}"),
                    Event::Stanza(_) => {}
                }
            }
            bail!("{user}'s client stopped")
        };
        tokio::time::timeout(WAIT, online)
            .await
            .map_err(|_| anyhow!("{user} did not get online within {WAIT:?}"))??;
        let mut me = TestClient {
            client,
            backlog: VecDeque::new(),
            next_id: 0,
        };
        me.send(Presence::available()).await?;
        Ok(me)
    }

    async fn send(&mut self, stanza: impl Into<Stanza>) -> anyhow::Result<()> {
        self.client
            .send_stanza(stanza.into())
            .await
            .context("sending a stanza")?;
        Ok(())
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("test-{}", self.next_id)
    }

    /// Join `room` as `nick` without history.
    pub async fn join(&mut self, room: &str, nick: &str) -> anyhow::Result<()> {
        self.join_with_history(room, nick, 0).await
    }

    /// Join `room` as `nick`, asking for up to `history` earlier messages.
    pub async fn join_with_history(
        &mut self,
        room: &str,
        nick: &str,
        history: u32,
    ) -> anyhow::Result<()> {
        let occupant = Jid::new(&format!("{room}/{nick}"))?;
        let muc = Muc::new().with_history(History::new().with_maxstanzas(history));
        self.send(
            Presence::available()
                .with_to(occupant.clone())
                .with_payload(muc),
        )
        .await?;
        let answer = self
            .presence(|p| {
                p.from.as_ref() == Some(&occupant) && (is_self(p) || p.type_ == PresenceType::Error)
            })
            .await?;
        if answer.type_ == PresenceType::Error {
            bail!("{occupant}: join refused");
        }
        Ok(())
    }

    /// Leave `room` (where this client is `nick`).
    pub async fn leave(&mut self, room: &str, nick: &str) -> anyhow::Result<()> {
        let occupant = Jid::new(&format!("{room}/{nick}"))?;
        self.send(Presence::unavailable().with_to(occupant.clone()))
            .await?;
        self.presence(|p| {
            p.from.as_ref() == Some(&occupant) && p.type_ == PresenceType::Unavailable && is_self(p)
        })
        .await?;
        Ok(())
    }

    /// Say `text` in `room`; returns the message id.
    pub async fn say(&mut self, room: &str, text: &str) -> anyhow::Result<String> {
        let id = self.id();
        let mut message =
            Message::groupchat(Some(Jid::new(room)?)).with_body(Lang::new(), text.into());
        message.id = Some(Id(id.clone()));
        self.send(message).await?;
        Ok(id)
    }

    /// Correct the message `id` this client said in `room` to `text` (XEP-0308); returns the
    /// correction's own id.
    pub async fn correct(&mut self, room: &str, id: &str, text: &str) -> anyhow::Result<String> {
        let own = self.id();
        let mut message =
            Message::groupchat(Some(Jid::new(room)?)).with_body(Lang::new(), text.into());
        message.id = Some(Id(own.clone()));
        message.payloads.push(
            Element::builder("replace", ns::MESSAGE_CORRECT)
                .attr(rxml_name("id"), id)
                .build(),
        );
        self.send(message).await?;
        Ok(own)
    }

    /// The next private (`chat`) message from `from`, a full JID.
    pub async fn private_from(&mut self, from: &str) -> anyhow::Result<Message> {
        let from = Jid::new(from)?;
        let stanza = self
            .stanza(|s| {
                matches!(s, Stanza::Message(m) if m.type_ == MessageType::Chat && body(m).is_some() && m.from.as_ref() == Some(&from))
            })
            .await
            .with_context(|| format!("waiting for a private message from {from}"))?;
        match stanza {
            Stanza::Message(message) => Ok(message),
            _ => unreachable!("matched a message"),
        }
    }

    /// How many private (`chat`) messages from `from` (a full JID) arrived and were not asked
    /// for yet.
    pub fn unread_private_from(&self, from: &str) -> anyhow::Result<usize> {
        let from = Jid::new(from)?;
        Ok(self
            .backlog
            .iter()
            .filter(|s| {
                matches!(s, Stanza::Message(m) if m.type_ == MessageType::Chat && m.from.as_ref() == Some(&from))
            })
            .count())
    }

    /// Send `text` privately to `to`.
    pub async fn tell(&mut self, to: &str, text: &str) -> anyhow::Result<()> {
        let message = Message::chat(Some(Jid::new(to)?)).with_body(Lang::new(), text.into());
        self.send(message).await
    }

    /// Kick `nick` from `room` (this client must be a moderator there).
    pub async fn kick(&mut self, room: &str, nick: &str) -> anyhow::Result<()> {
        let id = self.id();
        let item = Element::builder("item", NS_MUC_ADMIN)
            .attr(rxml_name("nick"), nick)
            .attr(rxml_name("role"), "none")
            .build();
        let query = Element::builder("query", NS_MUC_ADMIN).append(item).build();
        let iq = Iq::Set {
            from: None,
            to: Some(Jid::new(room)?),
            id: id.clone(),
            payload: query,
        };
        self.send(iq).await?;
        let answer = self
            .stanza(|s| matches!(s, Stanza::Iq(Iq::Result { id: i, .. } | Iq::Error { id: i, .. }) if *i == id))
            .await?;
        match answer {
            Stanza::Iq(Iq::Result { .. }) => Ok(()),
            other => bail!("kick refused: {other:?}"),
        }
    }

    /// Wait until `nick` is present in `room`.
    pub async fn sees_occupant(&mut self, room: &str, nick: &str) -> anyhow::Result<()> {
        let occupant = Jid::new(&format!("{room}/{nick}"))?;
        self.presence(|p| p.from.as_ref() == Some(&occupant) && p.type_ == PresenceType::None)
            .await
            .with_context(|| format!("waiting for {nick} in {room}"))?;
        Ok(())
    }

    /// Wait until `nick` leaves `room`.
    pub async fn sees_leave(&mut self, room: &str, nick: &str) -> anyhow::Result<()> {
        let occupant = Jid::new(&format!("{room}/{nick}"))?;
        self.presence(|p| {
            p.from.as_ref() == Some(&occupant) && p.type_ == PresenceType::Unavailable
        })
        .await
        .with_context(|| format!("waiting for {nick} to leave {room}"))?;
        Ok(())
    }

    /// The next message (of the backlog, then live) from `from` (full or bare JID match).
    pub async fn message_from(&mut self, from: &str) -> anyhow::Result<Message> {
        let from = Jid::new(from)?;
        let stanza = self
            .stanza(
                |s| matches!(s, Stanza::Message(m) if body(m).is_some() && from_matches(m, &from)),
            )
            .await
            .with_context(|| format!("waiting for a message from {from}"))?;
        match stanza {
            Stanza::Message(message) => Ok(message),
            _ => unreachable!("matched a message"),
        }
    }

    /// Read live stanzas, discarding them, until a message matches `done` (for floods).
    pub async fn skip_until(&mut self, done: impl Fn(&Message) -> bool) -> anyhow::Result<()> {
        self.backlog.clear();
        let deadline = Instant::now() + WAIT;
        loop {
            match self.receive(deadline).await? {
                Stanza::Message(message) if done(&message) => return Ok(()),
                _ => {}
            }
        }
    }

    async fn presence(&mut self, wanted: impl Fn(&Presence) -> bool) -> anyhow::Result<Presence> {
        match self
            .stanza(|s| matches!(s, Stanza::Presence(p) if wanted(p)))
            .await?
        {
            Stanza::Presence(presence) => Ok(presence),
            _ => unreachable!("matched a presence"),
        }
    }

    /// The first stanza matching `wanted`, from the backlog or arriving within [`WAIT`];
    /// stanzas that do not match are kept for later questions.
    async fn stanza(&mut self, wanted: impl Fn(&Stanza) -> bool) -> anyhow::Result<Stanza> {
        if let Some(index) = self.backlog.iter().position(&wanted) {
            return Ok(self.backlog.remove(index).expect("index is valid"));
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let stanza = self.receive(deadline).await?;
            if wanted(&stanza) {
                return Ok(stanza);
            }
            if self.backlog.len() >= BACKLOG {
                self.backlog.pop_front();
            }
            self.backlog.push_back(stanza);
        }
    }

    async fn receive(&mut self, deadline: Instant) -> anyhow::Result<Stanza> {
        loop {
            let event = tokio::time::timeout_at(deadline, self.client.next())
                .await
                .map_err(|_| anyhow!("nothing expected arrived within {WAIT:?}"))?;
            match event {
                Some(Event::Stanza(stanza)) => return Ok(stanza),
                Some(Event::Online { .. }) => {}
                Some(Event::Disconnected(error)) => bail!("disconnected: {error}"),
                None => bail!("the client stopped"),
            }
        }
    }

    /// Log out cleanly.
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.send_end().await?;
        Ok(())
    }
}

fn rxml_name(name: &str) -> tokio_xmpp::minidom::rxml::NcName {
    name.try_into().expect("a valid attribute name")
}

/// The message's body, if any.
pub fn body(message: &Message) -> Option<&str> {
    message
        .get_best_body(Vec::new())
        .map(|(_, body)| body.as_str())
}

/// The id of the message a XEP-0308 correction replaces.
pub fn replaces(message: &Message) -> Option<&str> {
    message
        .payloads
        .iter()
        .find(|el| el.is("replace", ns::MESSAGE_CORRECT))
        .and_then(|el| el.attr("id"))
}

/// Whether the message carries a XEP-0203 delay (history).
pub fn is_delayed(message: &Message) -> bool {
    message.payloads.iter().any(|el| el.is("delay", ns::DELAY))
}

pub fn is_groupchat(message: &Message) -> bool {
    message.type_ == MessageType::Groupchat
}

fn from_matches(message: &Message, from: &Jid) -> bool {
    match (&message.from, from.is_bare()) {
        (Some(sender), true) => sender.to_bare() == from.to_bare(),
        (Some(sender), false) => sender == from,
        (None, _) => false,
    }
}

/// A presence about the receiving client itself (MUC status 110).
fn is_self(presence: &Presence) -> bool {
    presence
        .payloads
        .iter()
        .filter(|el| el.is("x", ns::MUC_USER))
        .flat_map(|x| x.children())
        .any(|c| c.is("status", ns::MUC_USER) && c.attr("code") == Some("110"))
}
