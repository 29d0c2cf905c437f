//! `[chat.console]`: who is typing when `--as` is not given.

use bosun_chat::Section;

/// The keys of `[chat.console]`.
pub const KEYS: &[&str] = &["user"];

/// `[chat.console]`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsoleSection {
    /// Who is typing when `--as` is not given; default `$USER`.
    pub user: Option<String>,
}

impl ConsoleSection {
    /// Reads the section, reporting every problem to it.
    pub fn read(section: &mut dyn Section) -> ConsoleSection {
        section.known_keys(KEYS);
        ConsoleSection {
            user: section.text("user"),
        }
    }

    /// Who types at the console: `as_user`, else this section's user, else `$USER`.
    pub fn user(&self, as_user: Option<String>) -> String {
        as_user
            .or_else(|| self.user.clone())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "operator".to_string())
    }
}
