//! Checks on a whole line before the parser sees it: its length and its characters.

use super::error::{ErrorKind, ParseError};

/// The longest command line, in characters.
pub const MAX_LINE: usize = 500;

/// Refuses a line that is too long or holds control characters (line breaks included) or
/// bidirectional-text overrides, which could make a reply read differently from what was typed.
pub(crate) fn check_line(text: &str) -> Result<(), ParseError> {
    let len = text.chars().count();
    if len > MAX_LINE {
        return Err(refuse(
            ErrorKind::TooLong,
            format!("that line is {len} characters long; commands are at most {MAX_LINE}"),
        ));
    }
    match text
        .chars()
        .find(|&c| c.is_control() || is_hidden_control(c))
    {
        None => Ok(()),
        Some(c) if is_line_break(c) => Err(refuse(
            ErrorKind::ControlCharacter,
            "that line has a line break in it; a command is one line".into(),
        )),
        Some(c) => Err(refuse(
            ErrorKind::ControlCharacter,
            format!(
                "that line holds the control character U+{:04X}; a command is plain text",
                u32::from(c)
            ),
        )),
    }
}

fn refuse(kind: ErrorKind, reason: String) -> ParseError {
    ParseError {
        kind,
        reason,
        suggestion: None,
    }
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Line and paragraph separators and the bidirectional embedding, override and isolate marks.
fn is_hidden_control(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<String> {
        check_line(text).err().map(|e| e.reason)
    }

    #[test]
    fn plain_lines_pass() {
        assert_eq!(reason("deploy blog to live"), None);
        assert_eq!(reason(&"x".repeat(MAX_LINE)), None);
        assert_eq!(
            reason(&"é".repeat(MAX_LINE)),
            None,
            "length counts characters, not bytes"
        );
    }

    #[test]
    fn long_lines_and_control_characters_are_refused() {
        assert_eq!(
            reason(&"x".repeat(4000)).as_deref(),
            Some("that line is 4000 characters long; commands are at most 500")
        );
        let line_break = Some("that line has a line break in it; a command is one line");
        assert_eq!(reason("deploy blog\nto live").as_deref(), line_break);
        assert_eq!(reason("deploy blog\r to live").as_deref(), line_break);
        assert_eq!(reason("deploy blog\u{2028}to live").as_deref(), line_break);
        assert_eq!(
            reason("deploy\tblog").as_deref(),
            Some("that line holds the control character U+0009; a command is plain text")
        );
        assert_eq!(
            reason("lock live \u{202E}evil").as_deref(),
            Some("that line holds the control character U+202E; a command is plain text")
        );
    }
}
