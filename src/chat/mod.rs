//! The chat systems bosun is built with, as one closed set: the only place in the core that names them.
//!
//! Each adapter crate owns its `[chat.NAME]` section (keys, checks, defaults, secrets) and its
//! wire types. Here they are listed once: [`NAMES`] for the configuration, [`ChatSection`] for
//! what was read, [`AnyAdapter`] for the bot. Adding a chat system is a crate under `adapters/`
//! and a line in each match below; nothing else in the core changes.

use anyhow::Context as _;
use bosun_chat::{Adapter, Channels, Section};
use bosun_console::{ConsoleAdapter, ConsoleSection};
use bosun_discord::{DiscordAdapter, DiscordSection};
use bosun_slack::{SlackAdapter, SlackSection};
use bosun_xmpp::{XmppAdapter, XmppSection};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Every chat system, by the name `[chat] adapter`, `[chat.NAME]` and the identities of
/// `[[people]]` use (each adapter's network name).
pub const NAMES: &[&str] = &[
    bosun_console::NETWORK,
    bosun_xmpp::NETWORK,
    bosun_slack::NETWORK,
    bosun_discord::NETWORK,
];

/// The chat system used when `[chat] adapter` is not given.
pub const DEFAULT: &str = bosun_console::NETWORK;

/// The keys of `[chat.NAME]`, as its adapter reads them.
pub fn keys(name: &str) -> &'static [&'static str] {
    match name {
        bosun_console::NETWORK => bosun_console::KEYS,
        bosun_xmpp::NETWORK => bosun_xmpp::KEYS,
        bosun_slack::NETWORK => bosun_slack::KEYS,
        bosun_discord::NETWORK => bosun_discord::KEYS,
        _ => &[],
    }
}

/// `[chat]`: the chosen chat system and every `[chat.NAME]` section written, each read and
/// checked by its own adapter (the ones not chosen are checked too, and otherwise ignored).
#[derive(Clone, Debug)]
pub struct ChatSection {
    /// One of [`NAMES`].
    pub adapter: &'static str,
    /// `[chat.console]` (it has defaults: `bosun deploy` and `bosun rollback` use it whatever
    /// the chosen system).
    pub console: ConsoleSection,
    pub xmpp: Option<XmppSection>,
    pub slack: Option<SlackSection>,
    pub discord: Option<DiscordSection>,
}

/// The adapters' crates, as log filter targets at `info` (for `bosun run`).
pub const LOG_TARGETS: &str =
    "bosun_console=info,bosun_xmpp=info,bosun_slack=info,bosun_discord=info";

impl ChatSection {
    /// Every secret the chat sections name (tokens, passwords), for the redactor.
    pub fn secrets(&self) -> Vec<crate::config::Secret> {
        let mut out = Vec::new();
        if let Some(slack) = &self.slack {
            out.push(slack.bot_token.clone());
            out.push(slack.app_token.clone());
        }
        if let Some(discord) = &self.discord {
            out.push(discord.token.clone());
        }
        if let Some(xmpp) = &self.xmpp {
            out.push(xmpp.password.clone());
        }
        out
    }

    /// `adapter` chosen, no section read yet.
    pub fn new(adapter: &'static str) -> ChatSection {
        ChatSection {
            adapter,
            console: ConsoleSection::default(),
            xmpp: None,
            slack: None,
            discord: None,
        }
    }

    /// Reads `[chat.NAME]` with its adapter's own reader.
    pub fn read(&mut self, name: &str, section: &mut dyn Section, bot_name: &str) {
        match name {
            bosun_console::NETWORK => self.console = ConsoleSection::read(section),
            bosun_xmpp::NETWORK => self.xmpp = Some(XmppSection::read(section, bot_name)),
            bosun_slack::NETWORK => self.slack = Some(SlackSection::read(section)),
            bosun_discord::NETWORK => self.discord = Some(DiscordSection::read(section)),
            _ => {}
        }
    }

    /// What the chosen system's section must give, when it is missing.
    pub fn missing(&self) -> Option<&'static str> {
        match self.adapter {
            bosun_xmpp::NETWORK if self.xmpp.is_none() => Some(bosun_xmpp::NEEDS),
            bosun_slack::NETWORK if self.slack.is_none() => Some(bosun_slack::NEEDS),
            bosun_discord::NETWORK if self.discord.is_none() => Some(bosun_discord::NEEDS),
            _ => None,
        }
    }

    /// Who types at the console: `as_user`, else `[chat.console] user`, else `$USER`.
    pub fn console_user(&self, as_user: Option<String>) -> String {
        self.console.user(as_user)
    }
}

/// The bot's chat connection: one of the adapters, chosen by the configuration.
pub enum AnyAdapter {
    Console(ConsoleAdapter<bosun_console::Input, tokio::io::Stdout>),
    Xmpp(XmppAdapter),
    Slack(SlackAdapter),
    Discord(DiscordAdapter),
}

impl AnyAdapter {
    /// The adapter `[chat] adapter` chose, its secrets read now. `as_user` is who types at
    /// the console.
    pub fn from_config(config: &Config, as_user: Option<String>) -> anyhow::Result<AnyAdapter> {
        let chat = &config.chat;
        let bot_name = &config.bot.name;
        let section = |name: &str| format!("[chat.{name}]");
        Ok(match chat.adapter {
            bosun_xmpp::NETWORK => {
                let xmpp = chat.xmpp.as_ref().context("no [chat.xmpp] section")?;
                let password = xmpp
                    .password
                    .read()
                    .context("reading the XMPP account's password")?;
                let settings = xmpp.adapter_config(&password);
                settings.validate().context(section("xmpp"))?;
                AnyAdapter::Xmpp(XmppAdapter::new(settings))
            }
            bosun_slack::NETWORK => {
                let slack = chat.slack.as_ref().context("no [chat.slack] section")?;
                AnyAdapter::Slack(SlackAdapter::new(slack.options(bot_name)?))
            }
            bosun_discord::NETWORK => {
                let discord = chat.discord.as_ref().context("no [chat.discord] section")?;
                AnyAdapter::Discord(DiscordAdapter::new(discord.options(bot_name)?))
            }
            _ => AnyAdapter::Console(bosun_console::stdio(chat.console_user(as_user))),
        })
    }

    /// The console, fed the one `line` (`bosun deploy`, `bosun rollback`).
    pub fn one_line(config: &Config, as_user: Option<String>, line: &str) -> AnyAdapter {
        AnyAdapter::Console(bosun_console::one_line(
            config.chat.console_user(as_user),
            line,
        ))
    }
}

impl Adapter for AnyAdapter {
    fn network(&self) -> &'static str {
        match self {
            AnyAdapter::Console(a) => a.network(),
            AnyAdapter::Xmpp(a) => a.network(),
            AnyAdapter::Slack(a) => a.network(),
            AnyAdapter::Discord(a) => a.network(),
        }
    }

    fn home(&self) -> Option<bosun_chat::Room> {
        match self {
            AnyAdapter::Console(a) => a.home(),
            AnyAdapter::Xmpp(a) => a.home(),
            AnyAdapter::Slack(a) => a.home(),
            AnyAdapter::Discord(a) => a.home(),
        }
    }

    fn shared(&self) -> bool {
        match self {
            AnyAdapter::Console(a) => a.shared(),
            AnyAdapter::Xmpp(a) => a.shared(),
            AnyAdapter::Slack(a) => a.shared(),
            AnyAdapter::Discord(a) => a.shared(),
        }
    }

    async fn run(self, channels: Channels, shutdown: CancellationToken) -> anyhow::Result<()> {
        match self {
            AnyAdapter::Console(a) => a.run(channels, shutdown).await,
            AnyAdapter::Xmpp(a) => a.run(channels, shutdown).await,
            AnyAdapter::Slack(a) => a.run(channels, shutdown).await,
            AnyAdapter::Discord(a) => a.run(channels, shutdown).await,
        }
    }
}

#[cfg(test)]
mod tests;
