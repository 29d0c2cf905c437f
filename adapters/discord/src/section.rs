//! `[chat.discord]`: the bot token as a secret, the channel ids and Discord's base URL.

use bosun_chat::section::web_url;
use bosun_chat::{Secret, Section};

use crate::{DEFAULT_API_URL, DiscordOptions, DiscordTiming, Token};

/// The keys of `[chat.discord]`.
pub const KEYS: &[&str] = &["token_env", "token_file", "channels", "api_url"];

/// What the section must give when the adapter is chosen.
pub const NEEDS: &str = "its tokens";

/// `[chat.discord]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordSection {
    /// The bot token.
    pub token: Secret,
    /// Channel ids whose messages (and whose threads' messages) are heard; direct messages
    /// always are.
    pub channels: Vec<u64>,
    /// Discord's base URL (the API is under `/api/v10`). Default `https://discord.com`.
    pub api_url: String,
}

impl DiscordSection {
    /// Reads the section, reporting every problem to it.
    pub fn read(section: &mut dyn Section) -> DiscordSection {
        section.known_keys(KEYS);
        let token = section.secret("token", "the bot token");
        let channels = section
            .texts("channels", &mut |text| match text.parse::<u64>() {
                Ok(id) if id > 0 => Ok(()),
                _ => Err(r#"a channel id like "1012345678901234567" (Copy Channel ID in Discord's developer mode)"#.into()),
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect();
        DiscordSection {
            token: token.unwrap_or_else(|| Secret::Env(String::new())),
            channels,
            api_url: web_url(section, "api_url", "https://discord.com")
                .unwrap_or_else(|| DEFAULT_API_URL.to_string()),
        }
    }

    /// The adapter's options, with the token read now.
    pub fn options(&self, bot_name: &str) -> anyhow::Result<DiscordOptions> {
        let token = self
            .token
            .read()
            .map_err(|e| anyhow::anyhow!("reading the Discord bot token: {e}"))?;
        Ok(DiscordOptions {
            token: Token::new(token.expose()),
            channels: self.channels.clone(),
            api_url: self.api_url.clone(),
            bot_name: bot_name.to_string(),
            timing: DiscordTiming::default(),
        })
    }
}
