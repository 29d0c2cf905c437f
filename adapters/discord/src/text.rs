//! Text across the Discord boundary: plain text escaped for Discord markdown with mentions defused on the way out, a leading bot mention undone on the way in.

/// Discord refuses message content longer than this many characters.
pub(crate) const MAX_CHARS: usize = 2_000;

/// Characters Discord markdown gives a meaning to anywhere; a backslash before each shows it
/// as itself.
const MARKDOWN: &[char] = &['\\', '*', '_', '~', '`', '|', '[', ']', '<'];
/// Characters that mean something at the start of a line (quote, heading, list).
const LINE_START: &[char] = &['>', '#', '-'];

/// Plain text as Discord content that shows exactly that text: markdown characters are
/// escaped, `<@…>`-style mentions cannot form, and `@everyone` / `@here` get a zero-width space
/// after the `@` (the message is also sent with `allowed_mentions: {parse: []}`, so nothing
/// pings even if something slipped through). Clipped with an ellipsis to [`MAX_CHARS`].
pub(crate) fn escape(text: &str) -> String {
    let defused = text
        .replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here");
    let mut units: Vec<(bool, char)> = Vec::with_capacity(defused.len());
    let mut line_start = true;
    for c in defused.chars() {
        let escaped = MARKDOWN.contains(&c) || (line_start && LINE_START.contains(&c));
        units.push((escaped, c));
        line_start = c == '\n' || (line_start && c == ' ');
    }
    let width = |(escaped, _): &(bool, char)| if *escaped { 2 } else { 1 };
    let total: usize = units.iter().map(width).sum();
    let mut out = String::with_capacity(total + 3);
    let mut count = 0;
    for unit in &units {
        if total > MAX_CHARS && count + width(unit) > MAX_CHARS - 1 {
            out.push('…');
            break;
        }
        if unit.0 {
            out.push('\\');
        }
        out.push(unit.1);
        count += width(unit);
    }
    out
}

/// `<@BOTID> deploy …` (or `<@!BOTID> …`) → `NAME deploy …`, so the core sees a message
/// addressed to it by name. Any other text is returned as it is.
pub(crate) fn address_mention(text: &str, bot_user: u64, bot_name: &str) -> String {
    let trimmed = text.trim_start();
    let Some(rest) = trimmed.strip_prefix("<@") else {
        return text.to_string();
    };
    let rest = rest.strip_prefix('!').unwrap_or(rest);
    let Some(end) = rest.find('>') else {
        return text.to_string();
    };
    if rest[..end].parse::<u64>().ok() != Some(bot_user) {
        return text.to_string();
    }
    let command = rest[end + 1..].trim_start_matches([' ', ':', ',']);
    format!("{bot_name} {command}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Discord shows for escaped content: each backslash escape is the character itself.
    fn shown(content: &str) -> String {
        let mut out = String::new();
        let mut chars = content.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '\u{200b}' => {}
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn markdown_and_mentions_are_shown_as_typed() {
        let text = "Fix *all* the _things_ <@&123> `code` ||spoiler|| @everyone @here\n# not a title\n> nor a quote - v1-2";
        let escaped = escape(text);
        assert_eq!(shown(&escaped), text);
        assert!(!escaped.contains("@everyone") && !escaped.contains("@here"));
        assert!(
            !escaped.replace("\\<", "").contains('<'),
            "every < is escaped: {escaped}"
        );
        assert!(escaped.contains(r"\*all\*"), "{escaped}");
        assert!(
            escaped.contains("\n\\# not") && escaped.contains("\n\\> nor a quote - v1-2"),
            "{escaped}"
        );
    }

    #[test]
    fn long_text_fits_in_one_message() {
        let escaped = escape(&"*".repeat(3 * MAX_CHARS));
        assert!(escaped.chars().count() <= MAX_CHARS);
        assert!(escaped.ends_with('…'));
        assert!(escaped.ends_with("\\*…"), "no escape is cut in half");
        let plain = escape(&"a".repeat(MAX_CHARS));
        assert_eq!(plain.chars().count(), MAX_CHARS);
    }

    #[test]
    fn a_leading_mention_of_the_bot_becomes_its_name() {
        assert_eq!(
            address_mention("<@42> deploy demo to staging", 42, "bosun"),
            "bosun deploy demo to staging"
        );
        assert_eq!(
            address_mention("<@!42>, status", 42, "bosun"),
            "bosun status"
        );
        assert_eq!(address_mention("<@7> deploy", 42, "bosun"), "<@7> deploy");
        assert_eq!(address_mention("deploy <@42>", 42, "bosun"), "deploy <@42>");
    }
}
