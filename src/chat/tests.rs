//! The chat sections as each adapter reads them through the core's loader: defaults, every key, and the exact report of each mistake.

use std::time::Duration;

use bosun_xmpp::XmppSection;

use crate::config::{Secret, load};

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
    assert_eq!(config.chat.adapter, "slack");
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
    assert_eq!(config.chat.adapter, "xmpp");
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
    let (_dir, config) = load_chat("[chat.discord]\ntoken_env = \"T\"\nchannels = [\"general\"]\n");
    let report = config.unwrap_err();
    assert!(
        report.contains("chat.discord.channels[0]: expected a channel id like"),
        "{report}"
    );
}
