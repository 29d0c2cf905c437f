//! `[chat.xmpp]`: the bot's account, its password as a secret, where to connect, the rooms, the nick, the CA file, keep-alive; checked by the adapter's own rules so that `bosun check` and `bosun run` agree.

use std::path::PathBuf;
use std::time::Duration;

use bosun_chat::{Secret, SecretValue, Section};

use crate::XmppConfig;

/// The keys of `[chat.xmpp]`.
pub const KEYS: &[&str] = &[
    "jid",
    "password_env",
    "password_file",
    "server",
    "rooms",
    "nick",
    "ca_file",
    "rejoin_on_kick",
    "keepalive",
];

/// What the section must give when the adapter is chosen.
pub const NEEDS: &str = "its account and rooms";

const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);

/// `[chat.xmpp]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmppSection {
    /// The bot's account, `user@domain`.
    pub jid: String,
    /// The account's password.
    pub password: Secret,
    /// Host and port of the server; `None` looks the domain's SRV record up.
    pub server: Option<(String, u16)>,
    /// Bare JIDs of the rooms to join; direct messages are always heard.
    pub rooms: Vec<String>,
    /// The nick in the rooms. Default the bot's name.
    pub nick: String,
    /// A PEM file of CA certificates (or of the server's own certificate) to trust besides the
    /// system roots.
    pub ca_file: Option<PathBuf>,
    /// Join a room again after being kicked from it. Default true.
    pub rejoin_on_kick: bool,
    /// Silence after which the server is pinged. Default 60 s.
    pub keepalive: Duration,
}

impl XmppSection {
    /// Reads the section, reporting every problem to it; the nick defaults to `bot_name`.
    pub fn read(section: &mut dyn Section, bot_name: &str) -> XmppSection {
        section.known_keys(KEYS);
        let jid = match section.text("jid") {
            Some(jid) if jid.trim() != jid || !accepts(&jid, &[]) => {
                section.invalid("jid", r#"an account like "bosun@example.org""#);
                None
            }
            Some(jid) => Some(jid),
            None => {
                if !section.has("jid") {
                    section.missing("jid", r#"the bot's account like "bosun@example.org""#);
                }
                None
            }
        };
        let password = section.secret("password", "the account's password");
        let server = section.text("server").and_then(|text| {
            let parsed = server_address(&text);
            if parsed.is_none() {
                section.invalid("server", r#"a host and port like "xmpp.example.org:5222""#);
            }
            parsed
        });
        let rooms = section
            .texts("rooms", &mut |room| {
                if room.trim() == room && accepts("bosun@localhost", &[room.to_string()]) {
                    Ok(())
                } else {
                    Err(
                        r#"a room's bare JID like "ops@conference.example.org" (without a /nick)"#
                            .into(),
                    )
                }
            })
            .unwrap_or_default();
        let nick = match section.text("nick") {
            Some(nick)
                if nick.trim().is_empty()
                    || nick.trim() != nick
                    || nick.contains(char::is_control) =>
            {
                section.invalid("nick", r#"a nick like "bosun""#);
                None
            }
            nick => nick,
        };
        let keepalive = match section.duration("keepalive") {
            Some(d) if d < Duration::from_secs(1) => {
                section.invalid("keepalive", r#"a duration of at least a second like "60s""#);
                None
            }
            d => d,
        };
        XmppSection {
            jid: jid.unwrap_or_default(),
            password: password.unwrap_or_else(|| Secret::Env(String::new())),
            server,
            rooms,
            nick: nick.unwrap_or_else(|| bot_name.to_string()),
            ca_file: section.path("ca_file"),
            rejoin_on_kick: section.boolean("rejoin_on_kick").unwrap_or(true),
            keepalive: keepalive.unwrap_or(DEFAULT_KEEPALIVE),
        }
    }

    /// The adapter's settings, with the password already read.
    pub fn adapter_config(&self, password: &SecretValue) -> XmppConfig {
        XmppConfig {
            jid: self.jid.clone(),
            password: password.expose().to_string(),
            server: self.server.clone(),
            rooms: self.rooms.clone(),
            nick: self.nick.clone(),
            ca_file: self.ca_file.clone(),
            rejoin_on_kick: self.rejoin_on_kick,
            keepalive: self.keepalive,
        }
    }
}

/// Whether the adapter accepts `jid` as its account and `rooms` as rooms.
fn accepts(jid: &str, rooms: &[String]) -> bool {
    XmppConfig {
        jid: jid.to_string(),
        password: String::new(),
        server: None,
        rooms: rooms.to_vec(),
        nick: "bosun".into(),
        ca_file: None,
        rejoin_on_kick: true,
        keepalive: DEFAULT_KEEPALIVE,
    }
    .validate()
    .is_ok()
}

/// `host:port` (an IPv6 address in brackets: `[::1]:5222`).
fn server_address(text: &str) -> Option<(String, u16)> {
    text.rsplit_once(':').and_then(|(host, port)| {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
        let plain = !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c == '/');
        plain.then(|| (host.to_string(), port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_host_and_port() {
        assert_eq!(
            server_address("[::1]:5222"),
            Some(("::1".to_string(), 5222))
        );
        for bad in ["host:0", "host:99999", ":5222", "a b:5222", "host"] {
            assert_eq!(server_address(bad), None, "{bad}");
        }
    }
}
