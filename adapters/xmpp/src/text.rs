//! Outbound text hygiene: characters XML 1.0 cannot carry are replaced and length is clipped.

/// The longest message body the adapter sends, in characters; longer text is clipped and ends
/// with `…`.
pub const MAX_OUTBOUND_CHARS: usize = 3000;

/// The body to send for `text`: printable in XML and at most [`MAX_OUTBOUND_CHARS`] long.
pub(crate) fn outbound_body(text: &str) -> String {
    bosun_chat::clip(&xml_safe(text), MAX_OUTBOUND_CHARS)
}

/// Replace the characters XML 1.0 forbids (C0 controls other than tab, newline and carriage
/// return, and U+FFFE/U+FFFF) with U+FFFD, so text from commits or terminals cannot break the
/// stream.
pub(crate) fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| if allowed_in_xml(c) { c } else { '\u{FFFD}' })
        .collect()
}

fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(
            xml_safe("a\u{1b}[31mred\u{0}\tb\n"),
            "a\u{FFFD}[31mred\u{FFFD}\tb\n"
        );
        assert_eq!(xml_safe("\u{FFFE}ok 😀"), "\u{FFFD}ok 😀");
    }

    #[test]
    fn long_text_is_clipped() {
        let long = "x".repeat(MAX_OUTBOUND_CHARS + 10);
        let body = outbound_body(&long);
        assert_eq!(body.chars().count(), MAX_OUTBOUND_CHARS);
        assert!(body.ends_with('…'));
        assert_eq!(outbound_body("short"), "short");
    }
}
