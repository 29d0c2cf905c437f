//! `ParseError`: why a line is not a command, what to say instead, and how the room reads it.

use std::fmt;

/// What kind of mistake a `ParseError` reports, for code that branches on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line is longer than `MAX_LINE` characters.
    TooLong,
    /// The line holds a control character or a line break.
    ControlCharacter,
    /// Nothing after the address.
    Empty,
    /// The first word is not a command (or `help` was asked about one that is not).
    UnknownCommand,
    /// A known command in the wrong shape.
    Usage,
    /// An app or environment name that is not a valid name.
    BadName,
    /// A ref that is not a git ref name.
    BadRef,
    /// A lock or freeze reason that is too long.
    BadReason,
    /// A freeze's end that is not a time of day or a duration.
    BadTime,
}

/// A line addressed to bosun that is not a command. Its `Display` is the reply to the room.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// What is wrong, naming the offending part.
    pub reason: String,
    /// A corrected command that parses (or a usage line), if one is close.
    pub suggestion: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        let hint = matches!(self.kind, ErrorKind::UnknownCommand | ErrorKind::Empty);
        if (hint || self.suggestion.is_some()) && !self.reason.ends_with(['.', '?', '!']) {
            f.write_str(".")?;
        }
        if let Some(suggestion) = &self.suggestion {
            write!(f, " Did you mean \"{suggestion}\"?")?;
        }
        if hint {
            f.write_str(" Say \"help\" for the commands.")?;
        }
        Ok(())
    }
}

/// The longest fragment of chat text quoted back in a reply, in characters.
const QUOTE_MAX: usize = 60;

/// `text` in double quotes for a reply: cut to `QUOTE_MAX` characters and with invisible
/// formatting characters (zero-width spaces and joiners, soft hyphens, byte-order marks) shown
/// as `<U+200B>`, so a reader sees what was typed.
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE_MAX {
            out.push('…');
            break;
        }
        if is_invisible(c) {
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
        || c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_adds_suggestion_and_help_hint() {
        let e = ParseError {
            kind: ErrorKind::UnknownCommand,
            reason: "I don't understand \"deploi blog to live\".".into(),
            suggestion: Some("deploy blog to live".into()),
        };
        assert_eq!(
            e.to_string(),
            "I don't understand \"deploi blog to live\". Did you mean \"deploy blog to live\"? \
             Say \"help\" for the commands."
        );
        let e = ParseError {
            kind: ErrorKind::BadRef,
            reason: "bad".into(),
            suggestion: None,
        };
        assert_eq!(e.to_string(), "bad");
        let e = ParseError {
            kind: ErrorKind::Usage,
            reason: "x: y".into(),
            suggestion: Some("z".into()),
        };
        assert_eq!(e.to_string(), "x: y. Did you mean \"z\"?");
    }

    #[test]
    fn quoting_cuts_long_text_and_shows_invisible_characters() {
        assert_eq!(quoted("blog"), "\"blog\"");
        assert_eq!(quoted("bl\u{200B}og"), "\"bl<U+200B>og\"");
        let long = quoted(&"x".repeat(100));
        assert_eq!(long.chars().count(), QUOTE_MAX + 3);
        assert!(long.ends_with("…\""));
    }
}
