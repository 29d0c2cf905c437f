//! The adapter's settings as the caller gives them ([`XmppConfig`]) and their validation into
//! parsed JIDs ([`Settings`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio_xmpp::jid::{self, BareJid, Jid};

/// How the XMPP adapter connects and where it sits.
#[derive(Clone)]
pub struct XmppConfig {
    /// The bot's account, `user@domain` (a `/resource` is requested at binding if given).
    pub jid: String,
    /// The account's password, already resolved by the caller (from the environment, say).
    pub password: String,
    /// Host and port of the server; `None` looks up the domain's `_xmpp-client._tcp` SRV record.
    pub server: Option<(String, u16)>,
    /// Bare JIDs of the rooms to join, e.g. `ops@conference.example.org`.
    pub rooms: Vec<String>,
    /// The nick to use in rooms; `_` is appended while it is taken.
    pub nick: String,
    /// A PEM file of extra CA certificates to trust, besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Join a room again after being kicked from it.
    pub rejoin_on_kick: bool,
    /// Silence after which the server is pinged; as long again without an answer drops the
    /// connection.
    pub keepalive: Duration,
}

impl fmt::Debug for XmppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XmppConfig")
            .field("jid", &self.jid)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .field("rooms", &self.rooms)
            .field("nick", &self.nick)
            .field("ca_file", &self.ca_file)
            .field("rejoin_on_kick", &self.rejoin_on_kick)
            .field("keepalive", &self.keepalive)
            .finish()
    }
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{what} {value:?} is not a valid JID: {source}")]
    Jid {
        what: &'static str,
        value: String,
        source: jid::Error,
    },
    #[error("the bot's JID {0:?} needs a user part (user@domain)")]
    NoUser(String),
    #[error("room {0:?} must be a bare JID (room@service), without a /nick")]
    RoomNotBare(String),
    #[error("the nick must not be empty")]
    EmptyNick,
    #[error("keepalive must be at least one second, not {0:?}")]
    Keepalive(Duration),
}

/// Validated settings, as the adapter uses them.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub jid: Jid,
    pub password: String,
    pub server: Option<(String, u16)>,
    pub rooms: Vec<BareJid>,
    pub nick: String,
    pub ca_file: Option<PathBuf>,
    pub rejoin_on_kick: bool,
    pub keepalive: Duration,
}

impl XmppConfig {
    /// Check every setting; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings, ConfigError> {
        let jid = Jid::new(self.jid.trim()).map_err(|source| ConfigError::Jid {
            what: "the bot's JID",
            value: self.jid.clone(),
            source,
        })?;
        if jid.node().is_none() {
            return Err(ConfigError::NoUser(self.jid.clone()));
        }
        let mut rooms = Vec::with_capacity(self.rooms.len());
        for room in &self.rooms {
            let parsed = Jid::new(room.trim()).map_err(|source| ConfigError::Jid {
                what: "room",
                value: room.clone(),
                source,
            })?;
            if parsed.node().is_none() {
                return Err(ConfigError::RoomNotBare(room.clone()));
            }
            let bare =
                BareJid::try_from(parsed).map_err(|_| ConfigError::RoomNotBare(room.clone()))?;
            if !rooms.contains(&bare) {
                rooms.push(bare);
            }
        }
        let nick = self.nick.trim().to_string();
        if nick.is_empty() {
            return Err(ConfigError::EmptyNick);
        }
        if self.keepalive < Duration::from_secs(1) {
            return Err(ConfigError::Keepalive(self.keepalive));
        }
        Ok(Settings {
            jid,
            password: self.password.clone(),
            server: self.server.clone(),
            rooms,
            nick,
            ca_file: self.ca_file.clone(),
            rejoin_on_kick: self.rejoin_on_kick,
            keepalive: self.keepalive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> XmppConfig {
        XmppConfig {
            jid: "bosun@example.org".into(),
            password: "secret".into(),
            server: None,
            rooms: vec![
                "ops@conference.example.org".into(),
                "OPS@conference.example.org".into(),
            ],
            nick: "bosun".into(),
            ca_file: None,
            rejoin_on_kick: true,
            keepalive: Duration::from_secs(60),
        }
    }

    #[test]
    fn valid_config_normalises_and_dedups_rooms() {
        let settings = config().settings().expect("valid");
        assert_eq!(settings.rooms.len(), 1);
        assert_eq!(settings.rooms[0].as_str(), "ops@conference.example.org");
    }

    #[test]
    fn bad_settings_are_named() {
        let mut c = config();
        c.jid = "example.org".into();
        assert!(matches!(c.validate(), Err(ConfigError::NoUser(_))));
        let mut c = config();
        c.rooms = vec!["ops@conference.example.org/bosun".into()];
        assert!(matches!(c.validate(), Err(ConfigError::RoomNotBare(_))));
        let mut c = config();
        c.nick = "  ".into();
        assert!(matches!(c.validate(), Err(ConfigError::EmptyNick)));
        let mut c = config();
        c.keepalive = Duration::from_millis(10);
        assert!(matches!(c.validate(), Err(ConfigError::Keepalive(_))));
        let mut c = config();
        c.jid = "a@b@c".into();
        assert!(matches!(c.validate(), Err(ConfigError::Jid { .. })));
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", config());
        assert!(!shown.contains("secret"), "{shown}");
    }
}
