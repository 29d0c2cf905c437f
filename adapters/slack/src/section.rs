//! `[chat.slack]`: the two tokens as secrets, the channel ids, the Web API's URL and whether a deploy's messages go in a thread.

use bosun_chat::section::web_url;
use bosun_chat::{Secret, Section};

use crate::{DEFAULT_API_URL, SlackOptions, SlackTiming, Token};

/// The keys of `[chat.slack]`.
pub const KEYS: &[&str] = &[
    "bot_token_env",
    "bot_token_file",
    "app_token_env",
    "app_token_file",
    "channels",
    "api_url",
    "thread_replies",
];

/// What the section must give when the adapter is chosen.
pub const NEEDS: &str = "its tokens";

/// `[chat.slack]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackSection {
    /// The bot token (`xoxb-…`), for the Web API.
    pub bot_token: Secret,
    /// The app-level token (`xapp-…`, scope `connections:write`), for Socket Mode.
    pub app_token: Secret,
    /// Channel ids (`C…` public, `G…` private) whose messages are heard; direct messages
    /// always are.
    pub channels: Vec<String>,
    /// The Web API's base URL. Default `https://slack.com/api`.
    pub api_url: String,
    /// Put a deploy's later messages in a thread under its announcement. Default false.
    pub thread_replies: bool,
}

impl SlackSection {
    /// Reads the section, reporting every problem to it.
    pub fn read(section: &mut dyn Section) -> SlackSection {
        section.known_keys(KEYS);
        let bot_token = section.secret("bot_token", "the bot token (xoxb-…)");
        let app_token = section.secret("app_token", "the app-level token (xapp-…)");
        let channels = section
            .texts("channels", &mut |id| {
                let ok = id.len() >= 2
                    && id.starts_with(['C', 'G'])
                    && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if ok {
                    Ok(())
                } else {
                    Err(r#"a channel id like "C0123456789" (a channel's name will not do: Slack shows the id in the channel's details)"#.into())
                }
            })
            .unwrap_or_default();
        SlackSection {
            bot_token: bot_token.unwrap_or_else(|| Secret::Env(String::new())),
            app_token: app_token.unwrap_or_else(|| Secret::Env(String::new())),
            channels,
            api_url: web_url(section, "api_url", "https://slack.com/api")
                .unwrap_or_else(|| DEFAULT_API_URL.to_string()),
            thread_replies: section.boolean("thread_replies").unwrap_or(false),
        }
    }

    /// The adapter's options, with both tokens read now.
    pub fn options(&self, bot_name: &str) -> anyhow::Result<SlackOptions> {
        let token = |secret: &Secret, what: &str| {
            secret
                .read()
                .map(|value| Token::new(value.expose()))
                .map_err(|e| anyhow::anyhow!("reading the Slack {what}: {e}"))
        };
        Ok(SlackOptions {
            bot_token: token(&self.bot_token, "bot token")?,
            app_token: token(&self.app_token, "app-level token")?,
            channels: self.channels.clone(),
            api_url: self.api_url.clone(),
            thread_replies: self.thread_replies,
            bot_name: bot_name.to_string(),
            timing: SlackTiming::default(),
        })
    }
}
