//! `[chat.slack]`, `[chat.discord]` and `[chat.xmpp]`: tokens and passwords as secrets, channel ids and rooms, where to connect, and whether the chosen adapter has its section.

use std::path::Path;
use std::time::Duration;

use toml::de::DeValue;

use super::keys;
use super::model::{AdapterKind, DiscordSection, Secret, SlackSection, XmppSection};
use super::paths::resolve;
use super::reader::{Item, Reader, Table};
use super::secret::SecretValue;
use super::values;

/// `[chat.slack]`
pub(super) fn slack(reader: &mut Reader<'_>, table: &Table<'_, '_>, dir: &Path) -> SlackSection {
    reader.known_keys(table, keys::SLACK);
    let bot_token = secret(reader, table, dir, "bot_token", "the bot token (xoxb-…)");
    let app_token = secret(
        reader,
        table,
        dir,
        "app_token",
        "the app-level token (xapp-…)",
    );
    let channels = reader
        .opt(table, "channels", |r, item| r.list(item, slack_channel))
        .unwrap_or_default();
    let api_url = reader
        .opt(table, "api_url", web_url)
        .unwrap_or_else(|| bosun_slack::DEFAULT_API_URL.to_string());
    let thread_replies = reader
        .opt(table, "thread_replies", Reader::boolean)
        .unwrap_or(false);
    SlackSection {
        bot_token: bot_token.unwrap_or_else(|| Secret::Env(String::new())),
        app_token: app_token.unwrap_or_else(|| Secret::Env(String::new())),
        channels,
        api_url,
        thread_replies,
    }
}

/// `[chat.discord]`
pub(super) fn discord(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
) -> DiscordSection {
    reader.known_keys(table, keys::DISCORD);
    let token = secret(reader, table, dir, "token", "the bot token");
    let channels = reader
        .opt(table, "channels", |r, item| r.list(item, discord_channel))
        .unwrap_or_default();
    let api_url = reader
        .opt(table, "api_url", web_url)
        .unwrap_or_else(|| bosun_discord::DEFAULT_API_URL.to_string());
    DiscordSection {
        token: token.unwrap_or_else(|| Secret::Env(String::new())),
        channels,
        api_url,
    }
}

/// `[chat.xmpp]`; the nick defaults to the bot's name.
pub(super) fn xmpp(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
    bot_name: &str,
) -> XmppSection {
    reader.known_keys(table, keys::XMPP);
    let jid = reader.req(
        table,
        "jid",
        r#"the bot's account like "bosun@example.org""#,
        xmpp_account,
    );
    let password = secret(reader, table, dir, "password", "the account's password");
    let server = reader.opt(table, "server", server_address);
    let rooms = reader
        .opt(table, "rooms", |r, item| r.list(item, xmpp_room))
        .unwrap_or_default();
    let nick = reader
        .opt(table, "nick", xmpp_nick)
        .unwrap_or_else(|| bot_name.to_string());
    let ca_file = reader
        .opt(table, "ca_file", Reader::text)
        .map(|p| resolve(dir, p));
    let rejoin_on_kick = reader
        .opt(table, "rejoin_on_kick", Reader::boolean)
        .unwrap_or(true);
    let keepalive = reader
        .opt(table, "keepalive", keepalive)
        .unwrap_or(DEFAULT_KEEPALIVE);
    XmppSection {
        jid: jid.unwrap_or_default(),
        password: password.unwrap_or_else(|| Secret::Env(String::new())),
        server,
        rooms,
        nick,
        ca_file,
        rejoin_on_kick,
        keepalive,
    }
}

const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);

impl XmppSection {
    /// The XMPP adapter's settings, with the password already read.
    pub fn adapter_config(&self, password: &SecretValue) -> bosun_xmpp::XmppConfig {
        bosun_xmpp::XmppConfig {
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

/// Whether the XMPP adapter accepts `jid` as its account and `rooms` as rooms: its own check,
/// so that `bosun check` and `bosun run` agree.
fn xmpp_accepts(jid: &str, rooms: &[String]) -> bool {
    bosun_xmpp::XmppConfig {
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

/// The bot's account: `user@domain`.
fn xmpp_account(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let jid = reader.string(item.clone())?;
    if jid.trim() != jid || !xmpp_accepts(&jid, &[]) {
        reader.invalid(&item, r#"an account like "bosun@example.org""#);
        return None;
    }
    Some(jid)
}

/// A room's bare JID: `room@service`.
fn xmpp_room(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let room = reader.string(item.clone())?;
    if room.trim() != room || !xmpp_accepts("bosun@localhost", std::slice::from_ref(&room)) {
        reader.invalid(
            &item,
            r#"a room's bare JID like "ops@conference.example.org" (without a /nick)"#,
        );
        return None;
    }
    Some(room)
}

/// A nick: not empty, no spaces around it, no control characters.
fn xmpp_nick(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let nick = reader.string(item.clone())?;
    if nick.trim().is_empty() || nick.trim() != nick || nick.contains(char::is_control) {
        reader.invalid(&item, r#"a nick like "bosun""#);
        return None;
    }
    Some(nick)
}

/// `host:port` (an IPv6 address in brackets: `[::1]:5222`).
fn server_address(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<(String, u16)> {
    let text = reader.string(item.clone())?;
    let parsed = text.rsplit_once(':').and_then(|(host, port)| {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
        let plain = !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c == '/');
        plain.then(|| (host.to_string(), port))
    });
    if parsed.is_none() {
        reader.invalid(&item, r#"a host and port like "xmpp.example.org:5222""#);
    }
    parsed
}

/// At least a second: the adapter pings a silent server after this long.
fn keepalive(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Duration> {
    match item.value {
        DeValue::String(s)
            if values::parse_duration(s).is_some_and(|d| d < Duration::from_secs(1)) =>
        {
            reader.invalid(&item, r#"a duration of at least a second like "60s""#);
            None
        }
        _ => values::duration(reader, item),
    }
}

/// The chosen adapter's section must be there: reported at `chat.adapter`.
pub(super) fn require_section(
    reader: &mut Reader<'_>,
    chat: &Table<'_, '_>,
    adapter: AdapterKind,
    present: bool,
) {
    let (name, needs) = match adapter {
        AdapterKind::Console => return,
        AdapterKind::Slack => ("slack", "its tokens"),
        AdapterKind::Discord => ("discord", "its tokens"),
        AdapterKind::Xmpp => ("xmpp", "its account and rooms"),
    };
    if present {
        return;
    }
    let at = chat.get("adapter").map_or(chat.at, |item| item.at);
    reader.report(
        at,
        chat.key_of("adapter"),
        format!("adapter = {name:?} needs a [chat.{name}] section with {needs}"),
    );
}

/// `NAME_env` or `NAME_file`: exactly one.
fn secret(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
    name: &str,
    what: &str,
) -> Option<Secret> {
    let (env_key, file_key) = (format!("{name}_env"), format!("{name}_file"));
    let env = reader.opt(table, &env_key, Reader::text).map(Secret::Env);
    let file = reader
        .opt(table, &file_key, Reader::text)
        .map(|p| Secret::File(resolve(dir, p)));
    match (env, file) {
        (Some(_), Some(_)) => {
            if let Some(item) = table.get(&file_key) {
                reader.report(
                    item.key_at,
                    item.key,
                    format!("give {env_key} or {file_key}, not both"),
                );
            }
            None
        }
        (None, None) => {
            if table.get(&env_key).is_none() && table.get(&file_key).is_none() {
                reader.report(
                    table.at,
                    table.key_of(&env_key),
                    format!("missing; name where {what} is read with {env_key} = \"VARIABLE\" or {file_key} = \"path\""),
                );
            }
            None
        }
        (env, file) => env.or(file),
    }
}

/// A Slack channel id: `C…` (public), `G…` (private), upper-case letters and digits.
fn slack_channel(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let id = reader.string(item.clone())?;
    let ok = id.len() >= 2
        && id.starts_with(['C', 'G'])
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        reader.invalid(
            &item,
            r#"a channel id like "C0123456789" (a channel's name will not do: Slack shows the id in the channel's details)"#,
        );
        return None;
    }
    Some(id)
}

/// A Discord channel id: a snowflake, written as a string of digits.
fn discord_channel(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<u64> {
    let text = reader.string(item.clone())?;
    match text.parse::<u64>() {
        Ok(id) if id > 0 => Some(id),
        _ => {
            reader.invalid(
                &item,
                r#"a channel id like "1012345678901234567" (Copy Channel ID in Discord's developer mode)"#,
            );
            None
        }
    }
}

/// An `http://` or `https://` URL.
fn web_url(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let url = reader.string(item.clone())?;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        reader.invalid(&item, r#"a URL like "https://slack.com/api""#);
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{AdapterKind, Secret, XmppSection, load};

    const BLOG: &str = "[app]\nname = \"blog\"\nrepo = \"/srv/git/blog.git\"\ndeploy_to = \"/srv/blog\"\n\n[environments.staging]\nhosts = [\"staging1\"]\n";

    /// Loads a bosun.toml with `chat` as its `[chat…]` part; the report with paths as `DIR`.
    fn load_chat(chat: &str) -> (tempfile::TempDir, Result<crate::config::Config, String>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("blog.toml"), BLOG).expect("write");
        let path = dir.path().join("bosun.toml");
        std::fs::write(
            &path,
            format!("[bot]\nplaybooks = [\"blog.toml\"]\n\n{chat}"),
        )
        .expect("write");
        let shown = dir.path().display().to_string();
        let result = load(&path).map_err(|e| e.to_string().replace(&shown, "DIR"));
        (dir, result)
    }

    #[test]
    fn a_slack_section_loads_with_its_defaults() {
        let (dir, config) = load_chat(
            "[chat]\nadapter = \"slack\"\n\n[chat.slack]\nbot_token_env = \"BOT\"\napp_token_file = \"app-token\"\nchannels = [\"C0123ABC\", \"G42\"]\n",
        );
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.chat.adapter, AdapterKind::Slack);
        let slack = config.chat.slack.expect("[chat.slack]");
        assert_eq!(slack.bot_token, Secret::Env("BOT".into()));
        assert_eq!(slack.app_token, Secret::File(dir.path().join("app-token")));
        assert_eq!(slack.channels, ["C0123ABC", "G42"]);
        assert_eq!(slack.api_url, "https://slack.com/api");
        assert!(!slack.thread_replies);
        assert!(config.chat.discord.is_none());
    }

    #[test]
    fn a_discord_section_loads_with_its_defaults() {
        let (dir, config) = load_chat(
            "[chat]\nadapter = \"discord\"\n\n[chat.discord]\ntoken_file = \"token\"\nchannels = [\"1012345678901234567\"]\napi_url = \"http://127.0.0.1:9/\"\n",
        );
        let discord = config
            .unwrap_or_else(|e| panic!("{e}"))
            .chat
            .discord
            .expect("[chat.discord]");
        assert_eq!(discord.token, Secret::File(dir.path().join("token")));
        assert_eq!(discord.channels, [1_012_345_678_901_234_567]);
        assert_eq!(discord.api_url, "http://127.0.0.1:9");
    }

    #[test]
    fn the_chosen_adapter_needs_its_section_and_its_tokens() {
        let (_dir, config) = load_chat("[chat]\nadapter = \"slack\"\n");
        assert_eq!(
            config.unwrap_err(),
            "DIR/bosun.toml:5:11: chat.adapter: adapter = \"slack\" needs a [chat.slack] section with its tokens"
        );
        let (_dir, config) = load_chat(
            "[chat]\nadapter = \"discord\"\n\n[chat.discord]\ntoken_env = \"T\"\ntoken_file = \"t\"\n",
        );
        assert_eq!(
            config.unwrap_err(),
            "DIR/bosun.toml:9:1: chat.discord.token_file: give token_env or token_file, not both"
        );
        let (_dir, config) = load_chat("[chat.slack]\nbot_token_env = \"B\"\n");
        assert_eq!(
            config.unwrap_err(),
            "DIR/bosun.toml:4:1: chat.slack.app_token_env: missing; name where the app-level token (xapp-…) is read with app_token_env = \"VARIABLE\" or app_token_file = \"path\""
        );
    }

    #[test]
    fn an_xmpp_section_loads_with_its_defaults() {
        let (_dir, config) = load_chat(
            "[chat]\nadapter = \"xmpp\"\n\n[chat.xmpp]\njid = \"bosun@example.org\"\npassword_env = \"PW\"\n",
        );
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.chat.adapter, AdapterKind::Xmpp);
        let xmpp = config.chat.xmpp.expect("[chat.xmpp]");
        assert_eq!(
            xmpp,
            XmppSection {
                jid: "bosun@example.org".into(),
                password: Secret::Env("PW".into()),
                server: None,
                rooms: Vec::new(),
                nick: "bosun".into(),
                ca_file: None,
                rejoin_on_kick: true,
                keepalive: Duration::from_secs(60),
            }
        );
    }

    #[test]
    fn an_xmpp_section_reads_every_key() {
        let (dir, config) = load_chat(
            "[chat]\nadapter = \"xmpp\"\n\n[chat.xmpp]\njid = \"deploy@example.org\"\n\
             password_file = \"secrets/xmpp\"\nserver = \"127.0.0.1:15222\"\n\
             rooms = [\"ops@conference.example.org\", \"dev@conference.example.org\"]\n\
             nick = \"Deploy Bot\"\nca_file = \"certs/../ca.pem\"\nrejoin_on_kick = false\nkeepalive = \"90s\"\n",
        );
        let xmpp = config
            .unwrap_or_else(|e| panic!("{e}"))
            .chat
            .xmpp
            .expect("[chat.xmpp]");
        assert_eq!(xmpp.password, Secret::File(dir.path().join("secrets/xmpp")));
        assert_eq!(xmpp.server, Some(("127.0.0.1".to_string(), 15222)));
        assert_eq!(
            xmpp.rooms,
            ["ops@conference.example.org", "dev@conference.example.org"]
        );
        assert_eq!(xmpp.nick, "Deploy Bot");
        assert_eq!(xmpp.ca_file, Some(dir.path().join("ca.pem")));
        assert!(!xmpp.rejoin_on_kick);
        assert_eq!(xmpp.keepalive, Duration::from_secs(90));
    }

    #[test]
    fn the_nick_defaults_to_the_bots_name_and_the_adapter_gets_every_setting() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("blog.toml"), BLOG).expect("write");
        std::fs::write(dir.path().join("pw"), "s3cret\n").expect("write");
        let path = dir.path().join("bosun.toml");
        std::fs::write(
            &path,
            "[bot]\nname = \"shipit\"\nplaybooks = [\"blog.toml\"]\n\n[chat.xmpp]\njid = \"a@example.org\"\n\
             password_file = \"pw\"\nserver = \"[::1]:5222\"\nrooms = [\"ops@muc.example.org\"]\n",
        )
        .expect("write");
        let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let xmpp = config.chat.xmpp.expect("[chat.xmpp]");
        assert_eq!(xmpp.nick, "shipit");
        assert_eq!(xmpp.server, Some(("::1".to_string(), 5222)));
        let password = xmpp.password.read().expect("the password file");
        let settings = xmpp.adapter_config(&password);
        settings.validate().expect("the adapter takes it");
        assert_eq!(settings.password, "s3cret");
        assert_eq!(
            (settings.jid.as_str(), settings.nick.as_str()),
            ("a@example.org", "shipit")
        );
        assert_eq!(settings.rooms, ["ops@muc.example.org"]);
        assert_eq!(settings.server, Some(("::1".to_string(), 5222)));
        assert!(settings.rejoin_on_kick);
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn adapter_xmpp_needs_its_section_an_account_and_one_password() {
        let (_dir, config) = load_chat("[chat]\nadapter = \"xmpp\"\n");
        assert_eq!(
            config.unwrap_err(),
            "DIR/bosun.toml:5:11: chat.adapter: adapter = \"xmpp\" needs a [chat.xmpp] section with its account and rooms"
        );
        let (_dir, config) = load_chat(
            "[chat]\nadapter = \"xmpp\"\n\n[chat.xmpp]\npassword_env = \"P\"\npassword_file = \"p\"\n",
        );
        assert_eq!(
            config.unwrap_err(),
            "DIR/bosun.toml:7:1: chat.xmpp.jid: missing; expected the bot's account like \"bosun@example.org\"\n\
             DIR/bosun.toml:9:1: chat.xmpp.password_file: give password_env or password_file, not both"
        );
        let (_dir, config) = load_chat("[chat.xmpp]\njid = \"bosun@example.org\"\n");
        assert_eq!(
            config.unwrap_err(),
            "DIR/bosun.toml:4:1: chat.xmpp.password_env: missing; name where the account's password is read with password_env = \"VARIABLE\" or password_file = \"path\""
        );
    }

    #[test]
    fn bad_xmpp_values_are_each_reported_and_a_plain_password_never_echoed() {
        let (_dir, config) = load_chat(
            "[chat.xmpp]\njid = \"example.org\"\npassword_env = \"P\"\nserver = \"xmpp.example.org\"\n\
             rooms = [\"ops@conference.example.org/bosun\", \"ops\", 7]\nnick = \" \"\nkeepalive = \"500ms\"\n\
             rejoin_on_kick = \"yes\"\npassword = \"hunter2\"\nroom = \"x@y\"\n",
        );
        let report = config.unwrap_err();
        for expected in [
            "DIR/bosun.toml:5:7: chat.xmpp.jid: expected an account like \"bosun@example.org\", found \"example.org\"",
            "DIR/bosun.toml:7:10: chat.xmpp.server: expected a host and port like \"xmpp.example.org:5222\", found \"xmpp.example.org\"",
            "DIR/bosun.toml:8:10: chat.xmpp.rooms[0]: expected a room's bare JID like \"ops@conference.example.org\" (without a /nick), found \"ops@conference.example.org/bosun\"",
            "chat.xmpp.rooms[1]: expected a room's bare JID",
            "chat.xmpp.rooms[2]: expected a string, found an integer",
            "DIR/bosun.toml:9:8: chat.xmpp.nick: expected a nick like \"bosun\", found \" \"",
            "DIR/bosun.toml:10:13: chat.xmpp.keepalive: expected a duration of at least a second like \"60s\", found \"500ms\"",
            "chat.xmpp.rejoin_on_kick: expected true or false, found a string",
            "chat.xmpp.password: secrets are not written in the config",
            "chat.xmpp.room: unknown key \"room\"; did you mean \"rooms\"?",
        ] {
            assert!(report.contains(expected), "{expected}\nnot in:\n{report}");
        }
        assert!(!report.contains("hunter2"), "{report}");
        for server in ["host:0", "host:99999", ":5222", "a b:5222"] {
            let (_dir, config) = load_chat(&format!(
                "[chat.xmpp]\njid = \"a@b\"\npassword_env = \"P\"\nserver = \"{server}\"\n"
            ));
            let report = config.unwrap_err();
            assert!(
                report.contains("chat.xmpp.server: expected a host and port"),
                "{server}: {report}"
            );
        }
    }

    #[test]
    fn channel_names_and_plain_tokens_are_refused() {
        let (_dir, config) = load_chat(
            "[chat.slack]\nbot_token_env = \"B\"\napp_token_env = \"A\"\nchannels = [\"#ops\"]\nbot_token = \"xoxb-1\"\n",
        );
        let report = config.unwrap_err();
        assert!(
            report.contains("chat.slack.channels[0]: expected a channel id like \"C0123456789\""),
            "{report}"
        );
        assert!(
            report.contains("chat.slack.bot_token: unknown key"),
            "{report}"
        );
        assert!(!report.contains("xoxb-1"), "{report}");
        let (_dir, config) =
            load_chat("[chat.discord]\ntoken_env = \"T\"\nchannels = [\"general\"]\n");
        let report = config.unwrap_err();
        assert!(
            report.contains("chat.discord.channels[0]: expected a channel id like"),
            "{report}"
        );
    }
}
