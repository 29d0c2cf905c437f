//! The `[tracker]` section: which keys each `kind` takes, and the secret rules for Trac.

use std::path::Path;
use std::time::Duration;

use super::model::{Secret, TrackerSection};
use super::paths::resolve;
use super::reader::{Item, Reader, Table};
use super::{keys, suggest, values};

/// `tracker.kind`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TrackerKind {
    None,
    Links,
    Trac,
}

impl TrackerKind {
    fn keys(self) -> &'static [&'static str] {
        match self {
            TrackerKind::None => keys::TRACKER_NONE,
            TrackerKind::Links => keys::TRACKER_LINKS,
            TrackerKind::Trac => keys::TRACKER_TRAC,
        }
    }

    fn word(self) -> &'static str {
        keys::TRACKER_KINDS
            .iter()
            .find(|(_, kind)| *kind == self)
            .map_or("none", |(word, _)| word)
    }
}

pub(super) fn read(reader: &mut Reader<'_>, table: &Table<'_, '_>, dir: &Path) -> TrackerSection {
    let kind = reader.opt(table, "kind", |r, item| {
        values::choice(r, item, "tracker kind", keys::TRACKER_KINDS)
    });
    let kind = kind.unwrap_or(TrackerKind::None);
    check_keys(reader, table, kind);
    match kind {
        TrackerKind::None => TrackerSection::None,
        TrackerKind::Links => {
            let changeset_url = reader.req(
                table,
                "changeset_url",
                "a URL template with {sha}",
                |r, item| {
                    template(
                        r,
                        item,
                        "{sha}",
                        "https://git.example.org/blog/commit/{sha}",
                    )
                },
            );
            let ticket_url = reader.req(
                table,
                "ticket_url",
                "a URL template with {ticket}",
                |r, item| {
                    template(
                        r,
                        item,
                        "{ticket}",
                        "https://bugs.example.org/ticket/{ticket}",
                    )
                },
            );
            TrackerSection::Links {
                changeset_url: changeset_url.unwrap_or_default(),
                ticket_url: ticket_url.unwrap_or_default(),
            }
        }
        TrackerKind::Trac => {
            let url = reader
                .req(table, "url", "the Trac's URL", web_url)
                .unwrap_or_default();
            let user = reader.opt(table, "user", Reader::text);
            let password = password(reader, table, dir, user.is_some());
            let timeout = reader
                .opt(table, "timeout", values::time_limit)
                .unwrap_or(Duration::from_secs(3));
            TrackerSection::Trac {
                url,
                user,
                password,
                timeout,
            }
        }
    }
}

/// Unknown keys, and keys that belong to another kind of tracker.
fn check_keys(reader: &mut Reader<'_>, table: &Table<'_, '_>, kind: TrackerKind) {
    let allowed = kind.keys();
    for entry in table.entries() {
        if allowed.contains(&entry.name) || entry.name == super::plaintext::KEY {
            continue;
        }
        let users: Vec<String> = keys::TRACKER_KINDS
            .iter()
            .filter(|(_, other)| other.keys().contains(&entry.name))
            .map(|(word, _)| format!("kind = {word:?}"))
            .collect();
        let message = if users.is_empty() {
            suggest::unknown("key", entry.name, allowed)
        } else {
            format!(
                "only used with {}; this tracker has kind = {:?}",
                users.join(" or "),
                kind.word()
            )
        };
        reader.report(entry.item.key_at, entry.item.key, message);
    }
}

/// `password_env` or `password_file`, not both, and only with a user.
fn password(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
    has_user: bool,
) -> Option<Secret> {
    let env = reader
        .opt(table, "password_env", Reader::text)
        .map(Secret::Env);
    let file = reader
        .opt(table, "password_file", Reader::text)
        .map(|p| Secret::File(resolve(dir, p)));
    if env.is_some()
        && file.is_some()
        && let Some(item) = table.get("password_file")
    {
        reader.report(
            item.key_at,
            item.key,
            "give password_env or password_file, not both",
        );
    }
    let secret = env.or(file);
    if secret.is_some() && !has_user {
        for item in ["password_env", "password_file"]
            .iter()
            .filter_map(|name| table.get(name))
        {
            reader.report(
                item.key_at,
                item.key,
                "a password needs a user; add user = \"…\"",
            );
        }
    }
    secret
}

/// An `http://` or `https://` URL.
fn web_url(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let url = reader.string(item.clone())?;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        reader.invalid(&item, r#"a URL like "https://trac.example.org/blog""#);
        return None;
    }
    Some(url)
}

/// A URL that holds `placeholder`, where each changeset's or ticket's id goes.
fn template(
    reader: &mut Reader<'_>,
    item: Item<'_, '_>,
    placeholder: &str,
    example: &str,
) -> Option<String> {
    let url = web_url(reader, item.clone())?;
    if !url.contains(placeholder) {
        reader.invalid(
            &item,
            &format!("a URL containing {placeholder} like {example:?}"),
        );
        return None;
    }
    Some(url)
}
