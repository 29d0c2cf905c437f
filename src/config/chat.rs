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
