//! `[chat]`: which chat system, and each `[chat.NAME]` section handed to its own adapter to read through a [`Section`] that reports problems with file, line, column and key.

use std::path::Path;

use bosun_chat::{Secret, Section};

use super::paths::resolve;
use super::reader::{Reader, Table};
use super::values;
use crate::chat::{self, ChatSection};

/// Reads `[chat]`: `adapter`, then every `[chat.NAME]` written, each by its adapter; the
/// chosen system's section must be there unless it has defaults.
pub(super) fn read(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
    bot_name: &str,
) -> ChatSection {
    let mut known = vec!["adapter"];
    known.extend(chat::NAMES);
    reader.known_keys(table, &known);
    let choices: Vec<(&str, &'static str)> = chat::NAMES.iter().map(|n| (*n, *n)).collect();
    let adapter = reader
        .opt(table, "adapter", |r, item| {
            values::choice(r, item, "adapter", &choices)
        })
        .unwrap_or(chat::DEFAULT);
    let mut sections = ChatSection::new(adapter);
    for name in chat::NAMES {
        if let Some(entries) = reader.opt(table, name, Reader::table) {
            let mut section = TomlSection {
                reader,
                table: entries,
                dir,
            };
            sections.read(name, &mut section, bot_name);
        }
    }
    if let Some(needs) = sections.missing() {
        let at = table.get("adapter").map_or(table.at, |item| item.at);
        reader.report(
            at,
            table.key_of("adapter"),
            format!("adapter = {adapter:?} needs a [chat.{adapter}] section with {needs}"),
        );
    }
    sections
}

/// One `[chat.NAME]` table as an adapter reads it.
struct TomlSection<'r, 's, 'a, 'i> {
    reader: &'r mut Reader<'s>,
    table: Table<'a, 'i>,
    dir: &'r Path,
}

impl Section for TomlSection<'_, '_, '_, '_> {
    fn known_keys(&mut self, known: &[&str]) {
        self.reader.known_keys(&self.table, known);
    }

    fn has(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    fn text(&mut self, key: &str) -> Option<String> {
        self.reader.opt(&self.table, key, Reader::text)
    }

    fn texts(
        &mut self,
        key: &str,
        check: &mut dyn FnMut(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        self.reader.opt(&self.table, key, |r, item| {
            r.list(item, |r, item| {
                let text = r.text(item.clone())?;
                match check(&text) {
                    Ok(()) => Some(text),
                    Err(expected) => {
                        r.invalid(&item, &expected);
                        None
                    }
                }
            })
        })
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        self.reader.opt(&self.table, key, Reader::boolean)
    }

    fn duration(&mut self, key: &str) -> Option<std::time::Duration> {
        self.reader.opt(&self.table, key, values::duration)
    }

    fn path(&mut self, key: &str) -> Option<std::path::PathBuf> {
        self.text(key).map(|p| resolve(self.dir, p))
    }

    fn secret(&mut self, name: &str, what: &str) -> Option<Secret> {
        secret(self.reader, &self.table, self.dir, name, what)
    }

    fn missing(&mut self, key: &str, what: &str) {
        self.reader.report(
            self.table.at,
            self.table.key_of(key),
            format!("missing; expected {what}"),
        );
    }

    fn invalid(&mut self, key: &str, expected: &str) {
        if let Some(item) = self.table.get(key) {
            self.reader.invalid(&item, expected);
        }
    }
}

/// `NAME_env` or `NAME_file`: exactly one.
fn secret(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
    name: &str,
    what: &str,
) -> Option<Secret> {
    let (env_key, file_key) = (format!("{name}_env"), format!("{name}_file"));
    let env = reader.opt(table, &env_key, Reader::text).map(Secret::Env);
    let file = reader
        .opt(table, &file_key, Reader::text)
        .map(|p| Secret::File(resolve(dir, p)));
    match (env, file) {
        (Some(_), Some(_)) => {
            if let Some(item) = table.get(&file_key) {
                reader.report(
                    item.key_at,
                    item.key,
                    format!("give {env_key} or {file_key}, not both"),
                );
            }
            None
        }
        (None, None) => {
            if table.get(&env_key).is_none() && table.get(&file_key).is_none() {
                reader.report(
                    table.at,
                    table.key_of(&env_key),
                    format!("missing; name where {what} is read with {env_key} = \"VARIABLE\" or {file_key} = \"path\""),
                );
            }
            None
        }
        (env, file) => env.or(file),
    }
}
