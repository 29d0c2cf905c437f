//! `[chat.slack]` and `[chat.discord]`: tokens as secrets, channel ids, the API base URL, and whether the chosen adapter has its section.

use std::path::Path;

use super::keys;
use super::model::{AdapterKind, DiscordSection, Secret, SlackSection};
use super::paths::resolve;
use super::reader::{Item, Reader, Table};

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

/// The chosen adapter's section must be there: reported at `chat.adapter`.
pub(super) fn require_section(
    reader: &mut Reader<'_>,
    chat: &Table<'_, '_>,
    adapter: AdapterKind,
    present: bool,
) {
    let name = match adapter {
        AdapterKind::Console => return,
        AdapterKind::Slack => "slack",
        AdapterKind::Discord => "discord",
    };
    if present {
        return;
    }
    let at = chat.get("adapter").map_or(chat.at, |item| item.at);
    reader.report(
        at,
        chat.key_of("adapter"),
        format!("adapter = {name:?} needs a [chat.{name}] section with its tokens"),
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
    use crate::config::{AdapterKind, Secret, load};

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
