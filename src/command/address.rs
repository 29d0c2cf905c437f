//! Whether a chat message is meant for bosun, and what it asks: `parse_message`.

use super::error::ParseError;
use super::line::check_line;
use super::model::Command;
use super::parse::{attempt, parse};

/// What a chat message is to bosun.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Chatter: not addressed to bosun and not a plain `deploy APP to ENV`. Never reply to it.
    NotForMe,
    Command(Command),
    /// Addressed to bosun but not a command: reply with the error.
    Invalid(ParseError),
}

/// Reads one chat message. It is addressed when it starts with `!`, with the bot's name (any
/// case) followed by a space, `:` or `,`, with `@` and the name, or when it is a direct message;
/// then it is a `Command` or `Invalid`. An unaddressed line is a `Command` only when it is
/// exactly `deploy APP[/REF] to ENV`; any other is `NotForMe`.
pub fn parse_message(text: &str, bot_name: &str, direct: bool) -> Parsed {
    let text = text.trim();
    let body = match addressed_body(text, bot_name) {
        Some(body) => body,
        None if direct => text,
        None => return overheard(text),
    };
    if let Err(error) = check_line(text) {
        return Parsed::Invalid(error);
    }
    match parse(body) {
        Ok(command) => Parsed::Command(command),
        Err(error) => Parsed::Invalid(error),
    }
}

/// An unaddressed line: a command only if it is a plain deploy to a named environment.
fn overheard(text: &str) -> Parsed {
    if check_line(text).is_err() {
        return Parsed::NotForMe;
    }
    match attempt(text) {
        Ok(
            command @ Command::Deploy {
                env: Some(_),
                force: false,
                canary: false,
                when_free: false,
                ..
            },
        ) => Parsed::Command(command),
        _ => Parsed::NotForMe,
    }
}

/// The text after `!`, `BOT `, `BOT:`, `BOT,` or `@BOT `, if `text` starts with one of them.
fn addressed_body<'a>(text: &'a str, bot_name: &str) -> Option<&'a str> {
    if let Some(body) = text.strip_prefix('!') {
        return Some(body);
    }
    let bot_name = bot_name.trim();
    if bot_name.is_empty() {
        return None;
    }
    let named = text.strip_prefix('@').unwrap_or(text);
    let head = named.get(..bot_name.len())?;
    if head.to_lowercase() != bot_name.to_lowercase() {
        return None;
    }
    let after = &named[bot_name.len()..];
    match after.chars().next() {
        None => Some(after),
        Some(':' | ',') => Some(&after[1..]),
        Some(c) if c.is_whitespace() => Some(after),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        let cases = [
            ("!rollback", Some("rollback")),
            ("bosun deploy blog", Some(" deploy blog")),
            ("Bosun: status", Some(" status")),
            ("BOSUN,status", Some("status")),
            ("@bosun status", Some(" status")),
            ("@BoSuN: status", Some(" status")),
            ("bosun", Some("")),
            ("bosuns are sailors", None),
            ("bosun's mate", None),
            ("@alice deploy blog", None),
            ("hey bosun status", None),
        ];
        for (text, want) in cases {
            assert_eq!(addressed_body(text, "bosun"), want, "{text:?}");
        }
        assert_eq!(addressed_body("status", ""), None);
        assert_eq!(addressed_body("Ñandú: status", "ñandú"), Some(" status"));
    }
}
