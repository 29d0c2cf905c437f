//! Text across the Slack boundary: plain text escaped for mrkdwn on the way out, entities and a leading bot mention undone on the way in.

/// The longest message text bosun sends, in characters before escaping. Slack accepts 40,000
/// but advises keeping text under 4,000; longer text is clipped with an ellipsis.
pub(crate) const MAX_CHARS: usize = 3_500;

/// Plain text as Slack mrkdwn that shows exactly that text: `&`, `<` and `>` become entities,
/// so no text can form `<!channel>`, `<@U…>` or a link. Clipped to [`MAX_CHARS`].
pub(crate) fn escape(text: &str) -> String {
    let clipped = bosun_chat::clip(text, MAX_CHARS);
    let mut out = String::with_capacity(clipped.len());
    for c in clipped.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// What someone typed, as plain text: links Slack made of domain-like words and e-mail
/// addresses (`<http://shop.example.com|shop.example.com>`, `<mailto:a@b.org|a@b.org>`) are
/// their text again, and `&`, `<`, `>` come back from entities. Mentions (`<@U…>`, `<#C…>`)
/// stay as they are.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let is_link = ["http://", "https://", "mailto:"]
            .iter()
            .any(|scheme| inner.starts_with(scheme));
        match (is_link, inner.split_once('|')) {
            (true, Some((_, label))) => out.push_str(label),
            (true, None) => out.push_str(inner.strip_prefix("mailto:").unwrap_or(inner)),
            (false, _) => {
                out.push('<');
                out.push_str(inner);
                out.push('>');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `<@BOTID> deploy …` (or `<@BOTID|name> …`) → `NAME deploy …`, so the core sees a message
/// addressed to it by name. Any other text is returned as it is.
pub(crate) fn address_mention(text: &str, bot_user: &str, bot_name: &str) -> String {
    let trimmed = text.trim_start();
    let Some(rest) = trimmed.strip_prefix("<@") else {
        return text.to_string();
    };
    let Some(end) = rest.find('>') else {
        return text.to_string();
    };
    let id = rest[..end].split('|').next().unwrap_or_default();
    if id != bot_user {
        return text.to_string();
    }
    let command = rest[end + 1..].trim_start_matches([' ', ':', ',']);
    format!("{bot_name} {command}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_way_to_mention_or_link() {
        assert_eq!(
            escape("Fix <!channel> & <@U123> <https://x|y> a > b"),
            "Fix &lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://x|y&gt; a &gt; b"
        );
        assert_eq!(escape("*bold* _it_ `code`"), "*bold* _it_ `code`");
    }

    #[test]
    fn long_text_is_clipped_before_escaping() {
        let long = "<".repeat(MAX_CHARS + 10);
        let escaped = escape(&long);
        assert!(escaped.ends_with('…'));
        assert_eq!(escaped.matches("&lt;").count(), MAX_CHARS - 1);
    }

    #[test]
    fn entities_and_slacks_own_links_are_undone_on_the_way_in() {
        assert_eq!(unescape("a &lt;b&gt; &amp;amp;"), "a <b> &amp;");
        assert_eq!(
            unescape("deploy <http://shop.example.com|shop.example.com>/v1.2 to staging"),
            "deploy shop.example.com/v1.2 to staging"
        );
        assert_eq!(
            unescape("lock <mailto:ops@example.org|ops@example.org> <https://x.example/a>"),
            "lock ops@example.org https://x.example/a"
        );
        assert_eq!(
            unescape("<@U123> and <#C1|ops> <x"),
            "<@U123> and <#C1|ops> <x"
        );
    }

    #[test]
    fn a_leading_mention_of_the_bot_becomes_its_name() {
        assert_eq!(
            address_mention("<@UBOT> deploy demo to staging", "UBOT", "bosun"),
            "bosun deploy demo to staging"
        );
        assert_eq!(
            address_mention("<@UBOT|bosun>: status", "UBOT", "bosun"),
            "bosun status"
        );
        assert_eq!(
            address_mention("<@UOTHER> deploy demo", "UBOT", "bosun"),
            "<@UOTHER> deploy demo"
        );
        assert_eq!(
            address_mention("deploy demo <@UBOT>", "UBOT", "bosun"),
            "deploy demo <@UBOT>"
        );
    }
}
