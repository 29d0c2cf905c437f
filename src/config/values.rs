//! Conversions for the kinds of value bosun's files share: names, durations, batches, commands,
//! `APP:ENV` patterns, template variables and paths. Each reports its own exact message.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::de::DeValue;

use super::model::{Batch, CommandSpec, Pattern};
use super::reader::{Entry, Item, Reader};
use super::{suggest, words};

/// What a valid app, environment, group, host or role name looks like.
const NAME: &str = r#"a name like "blog" (lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters)"#;

/// `[a-z0-9][a-z0-9._-]{0,62}`
pub(super) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && s.len() <= 63
}

/// A string that is a valid name.
pub(super) fn name(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    match item.value {
        DeValue::String(s) if is_name(s) => Some(s.to_string()),
        DeValue::String(_) => {
            reader.invalid(&item, NAME);
            None
        }
        _ => reader.string(item),
    }
}

/// Whether a table key (`[environments.NAME]`, `[hosts.NAME]`, `[roles.NAME]`) is a valid name;
/// reports it at the key when not.
pub(super) fn key_name(reader: &mut Reader<'_>, entry: &Entry<'_, '_>) -> bool {
    let ok = is_name(entry.name);
    if !ok {
        reader.report(
            entry.item.key_at,
            entry.item.key.clone(),
            format!("expected {NAME}, found {:?}", entry.name),
        );
    }
    ok
}

/// One of a closed set of words; an unknown one gets a did-you-mean.
pub(super) fn choice<T: Copy>(
    reader: &mut Reader<'_>,
    item: Item<'_, '_>,
    what: &str,
    allowed: &[(&str, T)],
) -> Option<T> {
    let found = reader.string(item.clone())?;
    let chosen = allowed
        .iter()
        .find(|(word, _)| *word == found)
        .map(|(_, value)| *value);
    if chosen.is_none() {
        let words: Vec<&str> = allowed.iter().map(|(word, _)| *word).collect();
        reader.report(item.at, item.key, suggest::unknown(what, &found, &words));
    }
    chosen
}

/// `"500ms"`, `"3s"`, `"2m"`, `"1h"`.
pub(super) fn parse_duration(s: &str) -> Option<Duration> {
    let digits = s
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&end| end > 0)?;
    let n: u64 = s[..digits].parse().ok()?;
    let seconds = |unit: u64| n.checked_mul(unit).map(Duration::from_secs);
    match &s[digits..] {
        "ms" => Some(Duration::from_millis(n)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        _ => None,
    }
}

const DURATION: &str = r#"a duration like "3s" or "500ms""#;

pub(super) fn duration(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Duration> {
    let parsed = match item.value {
        DeValue::String(s) => parse_duration(s),
        _ => None,
    };
    if parsed.is_none() {
        reader.invalid(&item, DURATION);
    }
    parsed
}

/// A duration longer than zero (a time limit of zero would fail everything).
pub(super) fn time_limit(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Duration> {
    match item.value {
        DeValue::String(s) if parse_duration(s) == Some(Duration::ZERO) => {
            reader.invalid(&item, r#"a duration longer than zero like "3s" or "500ms""#);
            None
        }
        _ => duration(reader, item),
    }
}

/// A positive number of hosts or a percentage of the group, `"1%"` to `"100%"`.
pub(super) fn batch(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Batch> {
    let parsed = match item.value {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Batch::Count),
        DeValue::String(s) => s
            .strip_suffix('%')
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u8>().ok())
            .filter(|p| (1..=100).contains(p))
            .map(Batch::Percent),
        _ => None,
    };
    if parsed.is_none() {
        reader.invalid(&item, r#"a positive number or a percentage like "25%""#);
    }
    parsed
}

/// A command: a string split into words like a shell would, or an array of words.
pub(super) fn command(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<CommandSpec> {
    let argv = match item.value {
        DeValue::String(s) => match words::split(s) {
            Ok(words) => words,
            Err(e) => {
                reader.report(item.at, item.key.clone(), format!("{e} in {s:?}"));
                return None;
            }
        },
        DeValue::Array(_) => reader.list(item.clone(), Reader::string)?,
        _ => {
            reader.wrong_type(&item, "a command (a string or an array of strings)");
            return None;
        }
    };
    if argv.first().is_none_or(|program| program.is_empty()) {
        reader.invalid(&item, "a command");
        return None;
    }
    Some(CommandSpec { argv })
}

pub(super) fn commands(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Vec<CommandSpec>> {
    reader.list(item, command)
}

/// `APP:ENV`, either side a name or `*`.
pub(super) fn pattern(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Pattern> {
    let side = |s: &str| s == "*" || is_name(s);
    let parsed = match item.value {
        DeValue::String(s) => s
            .split_once(':')
            .filter(|(app, env)| side(app) && side(env))
            .map(|(app, env)| Pattern {
                app: app.to_string(),
                env: env.to_string(),
            }),
        _ => None,
    };
    if parsed.is_none() {
        reader.invalid(
            &item,
            r#"an APP:ENV pattern like "blog:live" or "*:staging""#,
        );
    }
    parsed
}

/// Template variables: a table of strings whose names can appear in `{name}`.
pub(super) fn variables(
    reader: &mut Reader<'_>,
    item: Item<'_, '_>,
) -> Option<BTreeMap<String, String>> {
    let table = reader.table(item)?;
    let mut vars = BTreeMap::new();
    let mut ok = true;
    for entry in table.entries() {
        if entry.name.is_empty() || entry.name.contains(['{', '}']) {
            let message = format!(
                "a variable name cannot be empty or contain braces, found {:?}",
                entry.name
            );
            reader.report(entry.item.key_at, entry.item.key.clone(), message);
            ok = false;
        } else if let Some(value) = reader.string(entry.item) {
            vars.insert(entry.name.to_string(), value);
        } else {
            ok = false;
        }
    }
    ok.then_some(vars)
}

/// An absolute path on the target host, like `/srv/demo`.
pub(super) fn absolute_path(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    match item.value {
        DeValue::String(s) if s.starts_with('/') => Some(s.to_string()),
        DeValue::String(_) => {
            reader.invalid(&item, r#"an absolute path like "/srv/demo""#);
            None
        }
        _ => reader.string(item),
    }
}

/// A relative path that stays inside the directory it is taken from: no leading `/`, no `..`.
pub(super) fn inner_path(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    match item.value {
        DeValue::String(s)
            if !s.is_empty() && !s.starts_with('/') && !s.split('/').any(|part| part == "..") =>
        {
            Some(s.to_string())
        }
        DeValue::String(_) => {
            reader.invalid(&item, r#"a relative path without ".." like "log""#);
            None
        }
        _ => reader.string(item),
    }
}

/// `"512MB"`, `"2GB"`, `"64kB"`, `"1000"` (bytes); binary multiples (1 kB = 1024 bytes).
pub(super) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let n: u64 = s[..end].parse().ok()?;
    let unit: u64 = match s[end..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// A size such as `"512MB"`.
pub(super) fn size(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<u64> {
    let parsed = match item.value {
        DeValue::String(s) => parse_size(s),
        _ => None,
    };
    if parsed.is_none() {
        reader.invalid(&item, r#"a size like "512MB" or "2GB""#);
    }
    parsed
}

/// An `http://` or `https://` URL (it may hold `{host}` and `{address}`).
pub(super) fn http_url(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    match item.value {
        DeValue::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
            Some(s.to_string())
        }
        DeValue::String(_) => {
            reader.invalid(
                &item,
                r#"an http:// or https:// URL like "http://{address}:8080/health""#,
            );
            None
        }
        _ => reader.string(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["blog", "a", "0", "blog-2.x_y", &"a".repeat(63)] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Blog",
            "-blog",
            ".x",
            "_x",
            "a b",
            "a/b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in [
            "",
            "s",
            "3",
            "3 s",
            "-3s",
            "1.5s",
            "3d",
            "3S",
            "3 parsecs",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
