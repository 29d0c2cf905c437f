//! Refuses secrets written into the configuration text: a plain `password` key anywhere.

use toml::de::DeValue;

use super::reader::{Reader, Table};

/// The key that would hold a secret in plain text.
pub(super) const KEY: &str = "password";

/// The message for a plain `password`; it never repeats the value.
pub(super) const MESSAGE: &str = "secrets are not written in the config; name where to read it with password_env = \"VARIABLE\" or password_file = \"path\"";

/// Reports every `password` key in `table` and in the tables and arrays below it.
pub(super) fn forbid(reader: &mut Reader<'_>, table: &Table<'_, '_>) {
    for entry in table.entries() {
        if entry.name == KEY {
            reader.report(entry.item.key_at, entry.item.key.clone(), MESSAGE);
        }
        walk(reader, entry.item.key, entry.item.value);
    }
}

fn walk(reader: &mut Reader<'_>, key: String, value: &DeValue<'_>) {
    match value {
        DeValue::Table(entries) => forbid(
            reader,
            &Table {
                key,
                at: 0,
                entries,
            },
        ),
        DeValue::Array(array) => {
            for (i, element) in array.iter().enumerate() {
                walk(reader, format!("{key}[{i}]"), element.get_ref());
            }
        }
        _ => {}
    }
}
