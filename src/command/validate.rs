//! Validation of app/environment names and git refs: the only way text becomes a `Name` or `RefName`.

use std::str::FromStr;

use super::model::{Name, RefName};

/// The longest app or environment name, in characters.
pub const NAME_MAX: usize = 63;
/// The longest git ref, in characters.
pub const REF_MAX: usize = 200;

/// Why a string is not a `Name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    #[error("a name may not be empty")]
    Empty,
    #[error("a name is at most {NAME_MAX} characters; that one is {0}")]
    TooLong(usize),
    #[error("names are lower-case")]
    UpperCase,
    #[error("a name starts with a lower-case letter or digit")]
    BadStart,
    #[error(
        "{}a name may contain lower-case letters, digits, \".\", \"_\", \"-\"",
        not_ascii(*.0)
    )]
    BadChar(char),
}

/// Why a string is not a `RefName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    #[error("a ref may not be empty")]
    Empty,
    #[error("a ref is at most {REF_MAX} characters; that one is {0}")]
    TooLong(usize),
    #[error("a ref may not start with \"-\", \"/\" or \".\"")]
    BadStart,
    #[error(
        "{}a ref may contain letters, digits, \"/\", \".\", \"_\", \"-\"",
        not_ascii(*.0)
    )]
    BadChar(char),
    #[error("a ref may not be \"@\" alone")]
    LoneAt,
    #[error("a ref may not end with \"/\", \".\" or \".lock\"")]
    BadEnd,
    #[error("a ref may not contain \"..\"")]
    DoubleDot,
    #[error("a ref may not contain \"//\"")]
    DoubleSlash,
    #[error("no part of a ref may start with \".\" or end with \".lock\"")]
    BadPart,
}

/// `"U+0430 is not ASCII; "` for a non-ASCII character, nothing for an ASCII one.
fn not_ascii(c: char) -> String {
    if c.is_ascii() {
        String::new()
    } else {
        format!("U+{:04X} is not ASCII; ", u32::from(c))
    }
}

impl Name {
    /// Validates `[a-z0-9][a-z0-9._-]{0,62}`.
    pub fn parse(s: &str) -> Result<Name, NameError> {
        let len = s.chars().count();
        if len == 0 {
            return Err(NameError::Empty);
        }
        if len > NAME_MAX {
            return Err(NameError::TooLong(len));
        }
        // Report the shape first on the lower-cased text, so "Blog;x" names the ";".
        let lower = s.to_ascii_lowercase();
        let name_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
        if let Some(bad) = lower.chars().find(|&c| !name_char(c)) {
            return Err(NameError::BadChar(bad));
        }
        if lower.starts_with(['.', '_', '-']) {
            return Err(NameError::BadStart);
        }
        if lower != s {
            return Err(NameError::UpperCase);
        }
        Ok(Name::new_unchecked(s))
    }
}

impl FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::parse(s)
    }
}

impl RefName {
    /// Validates a git ref name (letters, digits, `/ . _ - + @`; no `..`, no `//`; not starting
    /// with `-`, `/` or `.`; not ending with `/`, `.` or `.lock`; no part starting with `.`; at
    /// most 200 characters). A hex sha prefix is such a name.
    pub fn parse(s: &str) -> Result<RefName, RefError> {
        let len = s.chars().count();
        if len == 0 {
            return Err(RefError::Empty);
        }
        if len > REF_MAX {
            return Err(RefError::TooLong(len));
        }
        if s.starts_with(['-', '/', '.']) {
            return Err(RefError::BadStart);
        }
        let ref_char = |c: char| c.is_ascii_alphanumeric() || "/._-+@".contains(c);
        if let Some(bad) = s.chars().find(|&c| !ref_char(c)) {
            return Err(RefError::BadChar(bad));
        }
        if s == "@" {
            return Err(RefError::LoneAt);
        }
        if s.ends_with(['/', '.']) || s.ends_with(".lock") {
            return Err(RefError::BadEnd);
        }
        if s.contains("..") {
            return Err(RefError::DoubleDot);
        }
        if s.contains("//") {
            return Err(RefError::DoubleSlash);
        }
        if s.split('/')
            .any(|part| part.starts_with('.') || part.ends_with(".lock"))
        {
            return Err(RefError::BadPart);
        }
        Ok(RefName::new_unchecked(s))
    }

    /// Whether this ref looks like an abbreviated or full commit id (4–40 hex digits).
    pub fn is_sha_prefix(&self) -> bool {
        let s = self.as_str();
        (4..=40).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit())
    }
}

impl FromStr for RefName {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RefName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        for ok in ["blog", "a", "0", "web-1", "my_app.v2", &"a".repeat(63)] {
            assert_eq!(
                Name::parse(ok).map(|n| n.to_string()),
                Ok(ok.to_string()),
                "{ok}"
            );
        }
        let cases: &[(&str, NameError)] = &[
            ("", NameError::Empty),
            (&"a".repeat(64), NameError::TooLong(64)),
            ("Blog", NameError::UpperCase),
            ("-rf", NameError::BadStart),
            (".hidden", NameError::BadStart),
            ("_x", NameError::BadStart),
            ("Blog;x", NameError::BadChar(';')),
            ("bl\u{43e}g", NameError::BadChar('\u{43e}')),
            ("a/b", NameError::BadChar('/')),
            ("a b", NameError::BadChar(' ')),
        ];
        for (input, want) in cases {
            assert_eq!(Name::parse(input), Err(*want), "{input:?}");
        }
    }

    #[test]
    fn refs_follow_git_rules() {
        for ok in [
            "main",
            "v1.4.2",
            "release/2026-11",
            "3f2a9c1",
            "feature+x",
            "a@b",
            "HEAD",
        ] {
            assert_eq!(
                RefName::parse(ok).map(|r| r.to_string()),
                Ok(ok.to_string()),
                "{ok}"
            );
        }
        let cases: &[(&str, RefError)] = &[
            ("", RefError::Empty),
            (&"a".repeat(201), RefError::TooLong(201)),
            ("--upload-pack=x", RefError::BadStart),
            ("/etc", RefError::BadStart),
            ("../etc", RefError::BadStart),
            ("$(reboot)", RefError::BadChar('$')),
            ("a~1", RefError::BadChar('~')),
            ("a@{1}", RefError::BadChar('{')),
            ("v1\u{2024}2", RefError::BadChar('\u{2024}')),
            ("@", RefError::LoneAt),
            ("a/", RefError::BadEnd),
            ("a.", RefError::BadEnd),
            ("main.lock", RefError::BadEnd),
            ("a/../b", RefError::DoubleDot),
            ("a//b", RefError::DoubleSlash),
            ("a/.b", RefError::BadPart),
            ("a.lock/b", RefError::BadPart),
        ];
        for (input, want) in cases {
            assert_eq!(RefName::parse(input), Err(*want), "{input:?}");
        }
    }

    #[test]
    fn sha_prefixes_are_four_to_forty_hex_digits() {
        let sha = |s: &str| RefName::parse(s).expect(s).is_sha_prefix();
        assert!(sha("3f2a"));
        assert!(sha(&"a".repeat(40)));
        assert!(!sha("3f2"));
        assert!(!sha(&"a".repeat(41)));
        assert!(!sha("v1.4"));
    }

    #[test]
    fn errors_name_non_ascii_characters() {
        assert_eq!(
            NameError::BadChar('\u{43e}').to_string(),
            "U+043E is not ASCII; a name may contain lower-case letters, digits, \".\", \"_\", \"-\""
        );
        assert_eq!(
            RefError::BadChar('$').to_string(),
            "a ref may contain letters, digits, \"/\", \".\", \"_\", \"-\""
        );
    }
}
