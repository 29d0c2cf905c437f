//! The bosun.toml schema: `[bot]`, `[chat]`, `[journal]`, `[announce]`, and the sections in
//! `tracker.rs` and `people.rs`. Playbooks are only named here; `load.rs` reads them.

use std::collections::BTreeMap;
use std::path::Path;

use toml::de::DeTable;

use super::model::{AnnounceSection, BotSection, JournalSection, Person, Role, TrackerSection};
use super::model::{PostgresJournal, Secret};
use super::model::{RedactSection, WebSection};
use super::paths::resolve;
use super::reader::{Item, Reader, Table};
use super::{chat, keys, people, tracker, values, web};
use crate::chat::ChatSection;

/// bosun.toml, read: everything but the playbooks, which are only named.
pub(super) struct ConfigFile {
    pub bot: BotSection,
    pub playbooks: Vec<PlaybookRef>,
    pub chat: ChatSection,
    pub journal: JournalSection,
    pub tracker: TrackerSection,
    pub announce: AnnounceSection,
    pub web: Option<WebSection>,
    pub redact: RedactSection,
    pub people: Vec<Person>,
    pub roles: BTreeMap<String, Role>,
}

/// An entry of `bot.playbooks`: the path as written and where it was written.
pub(super) struct PlaybookRef {
    pub written: String,
    pub key: String,
    pub at: usize,
}

/// Reads the document; where a value is wrong a problem is recorded and a default stands in.
pub(super) fn read(reader: &mut Reader<'_>, root: &Table<'_, '_>, dir: &Path) -> ConfigFile {
    reader.known_keys(root, keys::ROOT);
    let empty = DeTable::new();
    let section = |reader: &mut Reader<'_>, name: &str| {
        let table = reader.opt(root, name, Reader::table);
        table.unwrap_or_else(|| Table {
            key: root.key_of(name),
            at: 0,
            entries: &empty,
        })
    };

    let bot = section(reader, "bot");
    reader.known_keys(&bot, keys::BOT);
    let name = reader
        .opt(&bot, "name", bot_name)
        .unwrap_or_else(|| "bosun".to_string());
    let state_dir = resolve(
        dir,
        reader
            .opt(&bot, "state_dir", Reader::text)
            .unwrap_or_else(|| "var".to_string()),
    );
    let playbooks = reader
        .req(
            &bot,
            "playbooks",
            "an array of playbook files",
            playbook_refs,
        )
        .unwrap_or_default();

    let chat = section(reader, "chat");
    let chat = chat::read(reader, &chat, dir, &name);

    let journal = section(reader, "journal");
    reader.known_keys(&journal, keys::JOURNAL);
    let lease = reader
        .opt(&journal, "lease", values::time_limit)
        .unwrap_or(std::time::Duration::from_secs(30));
    let reconcile_every = reader
        .opt(&journal, "reconcile_every", values::time_limit)
        .unwrap_or(std::time::Duration::from_secs(300));
    let journal_path = reader
        .opt(&journal, "path", Reader::text)
        .map_or_else(|| state_dir.join("journal.sqlite"), |p| resolve(dir, p));
    let postgres = postgres_journal(reader, &journal, dir);

    let tracker = reader
        .opt(root, "tracker", Reader::table)
        .map_or_else(TrackerSection::default, |table| {
            tracker::read(reader, &table, dir)
        });

    let announce = section(reader, "announce");
    reader.known_keys(&announce, keys::ANNOUNCE);
    let max_changesets = reader
        .opt(&announce, "max_changesets", |r, item| r.count(item, 0))
        .unwrap_or(10);
    let alert = reader
        .opt(&announce, "alert", Reader::strings)
        .unwrap_or_default();
    let show_email = reader
        .opt(&announce, "show_email", Reader::boolean)
        .unwrap_or(false);
    let room = reader.opt(&announce, "room", Reader::text);

    let web = reader
        .opt(root, "web", Reader::table)
        .map(|table| web::read(reader, &table, dir));
    let redact = reader
        .opt(root, "redact", Reader::table)
        .map(|table| web::redact(reader, &table, dir))
        .unwrap_or_default();

    let roles = reader.opt(root, "roles", people::roles).unwrap_or_default();
    let people = reader
        .opt(root, "people", |r, item| people::people(r, item, &roles))
        .unwrap_or_default();

    ConfigFile {
        bot: BotSection { name, state_dir },
        playbooks,
        chat,
        journal: JournalSection {
            path: journal_path,
            postgres,
            lease,
            reconcile_every,
        },
        tracker,
        announce: AnnounceSection {
            max_changesets,
            show_email,
            alert,
            room,
        },
        web,
        redact,
        people,
        roles,
    }
}

/// How people address the bot: one word, no `:` or `@` (those separate it from the command).
fn bot_name(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let name = reader.string(item.clone())?;
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ':' || c == '@') {
        reader.invalid(&item, r#"one word without ":" or "@" like "bosun""#);
        return None;
    }
    Some(name)
}

fn playbook_refs(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Vec<PlaybookRef>> {
    let (key, at) = (item.key.clone(), item.at);
    let refs = reader.list(item, |r, item| {
        let (key, at) = (item.key.clone(), item.at);
        r.text(item).map(|written| PlaybookRef { written, key, at })
    })?;
    if refs.is_empty() {
        reader.report(
            at,
            key,
            "expected at least one playbook file, found an empty array",
        );
    }
    Some(refs)
}

/// `[journal] url = "postgres://…"` with its password, TLS and CA; `None` without a `url`.
fn postgres_journal(
    reader: &mut Reader<'_>,
    journal: &Table<'_, '_>,
    dir: &Path,
) -> Option<PostgresJournal> {
    let url = reader.opt(journal, "url", |r, item| {
        let url = r.string(item.clone())?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(url)
        } else {
            r.invalid(
                &item,
                r#"a URL like "postgres://bosun@db.example.org/bosun""#,
            );
            None
        }
    });
    let env = reader
        .opt(journal, "password_env", Reader::text)
        .map(Secret::Env);
    let file = reader
        .opt(journal, "password_file", Reader::text)
        .map(|p| Secret::File(resolve(dir, p)));
    if env.is_some()
        && file.is_some()
        && let Some(item) = journal.get("password_file")
    {
        reader.report(
            item.key_at,
            item.key,
            "give password_env or password_file, not both",
        );
    }
    let tls = reader
        .opt(journal, "tls", |r, item| {
            let text = r.string(item.clone())?;
            let tls = crate::journal::PgTls::parse(&text);
            if tls.is_none() {
                r.invalid(&item, r#""disable" or "require""#);
            }
            tls
        })
        .unwrap_or_default();
    let ca_file = reader
        .opt(journal, "ca_file", Reader::text)
        .map(|p| resolve(dir, p));
    let url = url?;
    Some(PostgresJournal {
        url,
        password: env.or(file),
        tls,
        ca_file,
    })
}
