//! Which tickets a commit message names: `refs #12`, `fixes #3, #4 and #5`, `ticket:7`.
//!
//! The rules follow Trac's own links and its commit-message updater: a ticket is `#N`, or
//! `ticket:N` (also Trac's aliases `bug:N` and `issue:N`), whatever word comes before it (`refs`,
//! `fixes`, `closes`, `see`, `re`, or none), so every number in a list counts when it carries
//! its own `#`. A `#N` glued to a word or a URL (`abc#12`, `page/#3`, `&#39;`), escaped the Trac
//! way (`!#12`), or followed by more word characters (`#12b`) is not a reference.

/// The tickets `message` names, each once, in the order they first appear.
pub fn ticket_refs(message: &str) -> Vec<u32> {
    let bytes = message.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = if bytes[i] == b'#' && may_precede_hash(message, i) {
            Some(i + 1)
        } else {
            prefixed_start(message, i)
        };
        match start.and_then(|s| number_at(message, s)) {
            Some((id, end)) => {
                if !found.contains(&id) {
                    found.push(id);
                }
                i = end;
            }
            None => i += 1,
        }
    }
    found
}

/// The alias words Trac accepts before `:N`.
const PREFIXES: [&str; 3] = ["ticket:", "bug:", "issue:"];

/// Where the digits of a `ticket:N` starting at byte `i` begin, if one starts there.
fn prefixed_start(message: &str, i: usize) -> Option<usize> {
    if previous_char(message, i).is_some_and(is_word_char) {
        return None;
    }
    let rest = message.get(i..)?;
    PREFIXES
        .iter()
        .find(|p| {
            rest.get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        })
        .map(|p| i + p.len())
}

/// A `#` at byte `i` starts a reference only at the start of the text, after white space, or
/// after punctuation that opens or separates (`(`, `[`, `,`, `:`, quotes …). Letters, digits,
/// `&` (HTML entities), `/` (URL fragments), `!` (Trac's escape) and the rest do not.
fn may_precede_hash(message: &str, i: usize) -> bool {
    match previous_char(message, i) {
        None => true,
        Some(c) => c.is_whitespace() || "([{<,;:\"'*".contains(c),
    }
}

/// A ticket number (1 or more) at byte `start`, and the byte after it, when the digits are not
/// followed by more of a word.
fn number_at(message: &str, start: usize) -> Option<(u32, usize)> {
    let rest = message.get(start..)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest[digits..].chars().next().is_some_and(is_word_char) {
        return None;
    }
    let id = rest[..digits].parse::<u32>().ok().filter(|&id| id > 0)?;
    Some((id, start + digits))
}

fn previous_char(message: &str, i: usize) -> Option<char> {
    message.get(..i)?.chars().next_back()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::ticket_refs;

    #[test]
    fn table() {
        let cases: &[(&str, &[u32])] = &[
            ("", &[]),
            ("Bump version", &[]),
            ("refs #12", &[12]),
            ("fixes #3", &[3]),
            ("closes #4", &[4]),
            ("see #5", &[5]),
            ("re #6", &[6]),
            ("Refs #7: tidy", &[7]),
            ("#8", &[8]),
            ("Fix feed pagination (#212)", &[212]),
            ("ticket:9", &[9]),
            ("See Ticket:10 and bug:11, issue:12", &[10, 11, 12]),
            ("refs #1, #2 and #3", &[1, 2, 3]),
            ("fixes #1 & #2,#3", &[1, 2, 3]),
            ("refs #5, then fixes #5 again, see #4", &[5, 4]),
            ("line one\n\nrefs #20\nfixes #21", &[20, 21]),
            ("abc#12", &[]),
            ("it&#39;s fine", &[]),
            ("see https://example.org/page#12", &[]),
            ("see https://example.org/#12", &[]),
            ("escaped !#12 is no link", &[]),
            ("colour #12ab is not a ticket", &[]),
            ("#12_x", &[]),
            ("heading # 12", &[]),
            ("#0 is no ticket", &[]),
            ("refs #99999999999999 (too big)", &[]),
            ("ticket:12#comment:3", &[12]),
            ("myticket:12", &[]),
            ("ticket:x", &[]),
            ("[#30] \"#31\" '#32' <#33>", &[30, 31, 32, 33]),
            ("café#13", &[]),
            ("#14é", &[]),
            ("refs #17—and more", &[17]),
            ("ends with #15.", &[15]),
            ("refs:#16", &[16]),
        ];
        for (message, expected) in cases {
            assert_eq!(ticket_refs(message), *expected, "message: {message:?}");
        }
    }
}
