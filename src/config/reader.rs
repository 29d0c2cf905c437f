//! Typed reading of a parsed, spanned TOML document that records every problem instead of stopping.
//!
//! A `Table` or `Item` is a piece of the document together with the dotted key it is reported
//! under (`environments.live.groups[1].batch`) and its byte offset. The `Reader` turns items into
//! values through small conversion functions; a conversion that fails records a `Problem` and
//! returns `None`, so one pass finds every mistake.

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::error::Problem;
use super::source::Source;
use super::suggest;

/// Where problems found in one file are collected.
pub(super) struct Reader<'s> {
    source: &'s Source,
    problems: Vec<Problem>,
}

/// A value under a key.
#[derive(Clone)]
pub(super) struct Item<'a, 'i> {
    /// The dotted key it is reported under.
    pub key: String,
    /// Byte offset of the value.
    pub at: usize,
    /// Byte offset of the key (of the value itself for an array element).
    pub key_at: usize,
    pub value: &'a DeValue<'i>,
}

/// A table, whether a `[header]` table, an inline table or an element of an array of tables.
#[derive(Clone)]
pub(super) struct Table<'a, 'i> {
    /// The dotted key it is reported under; empty for the document itself.
    pub key: String,
    /// Byte offset of the table (its header, for a `[header]` table).
    pub at: usize,
    pub entries: &'a DeTable<'i>,
}

/// A table's entry: its name as written and its value.
pub(super) struct Entry<'a, 'i> {
    pub name: &'a str,
    pub item: Item<'a, 'i>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// The whole document.
    pub fn root(document: &'a Spanned<DeTable<'i>>) -> Self {
        Table {
            key: String::new(),
            at: 0,
            entries: document.get_ref(),
        }
    }

    /// The dotted key of an entry of this table (whether or not it exists).
    pub fn key_of(&self, name: &str) -> String {
        join(&self.key, name)
    }

    pub fn get(&self, name: &str) -> Option<Item<'a, 'i>> {
        self.entries
            .iter()
            .find(|(key, _)| key.get_ref() == name)
            .map(|(key, value)| self.item(key, value))
    }

    /// Every entry in the order first written in the file (a table may be continued further down).
    pub fn entries(&self) -> Vec<Entry<'a, 'i>> {
        let mut entries: Vec<_> = self
            .entries
            .iter()
            .map(|(key, value)| (first_offset(key, value), key, value))
            .collect();
        entries.sort_by_key(|(offset, _, _)| *offset);
        entries
            .into_iter()
            .map(|(_, key, value)| Entry {
                name: key.get_ref(),
                item: self.item(key, value),
            })
            .collect()
    }

    fn item(&self, key: &Spanned<DeString<'i>>, value: &'a Spanned<DeValue<'i>>) -> Item<'a, 'i> {
        Item {
            key: self.key_of(key.get_ref()),
            at: value.span().start,
            key_at: key.span().start,
            value: value.get_ref(),
        }
    }
}

/// `parent.name`, quoting `name` when it is not a bare TOML key.
fn join(parent: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let name = if bare {
        name.to_string()
    } else {
        format!("{name:?}")
    };
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

/// Where an entry first appears: a table can be opened by a later header
/// (`[environments.live]` after `[[environments.live.groups]]`), which moves its key's span.
fn first_offset(key: &Spanned<DeString<'_>>, value: &Spanned<DeValue<'_>>) -> usize {
    key.span().start.min(earliest(value))
}

fn earliest(value: &Spanned<DeValue<'_>>) -> usize {
    let inner = match value.get_ref() {
        DeValue::Table(table) => table.iter().map(|(k, v)| first_offset(k, v)).min(),
        DeValue::Array(array) => array.iter().map(earliest).min(),
        _ => None,
    };
    inner.map_or(value.span().start, |inner| inner.min(value.span().start))
}

/// `a string`, `an integer`, … : the type of a value, for "found …".
pub(super) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A value as written for scalars (strings quoted), its type for arrays and tables.
pub(super) fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("{s:?}"),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(_) | DeValue::Table(_) => type_name(value).to_string(),
    }
}

impl<'s> Reader<'s> {
    pub fn new(source: &'s Source) -> Self {
        Reader {
            source,
            problems: Vec::new(),
        }
    }

    /// Every problem recorded, in position order.
    pub fn finish(mut self) -> Vec<Problem> {
        self.problems.sort_by_key(|p| (p.line, p.column));
        self.problems
    }

    pub fn report(&mut self, at: usize, key: impl Into<String>, message: impl Into<String>) {
        let problem = self.source.problem(at, key, message);
        self.problems.push(problem);
    }

    /// `KEY: expected WHAT, found a TYPE`.
    pub fn wrong_type(&mut self, item: &Item<'_, '_>, what: &str) {
        self.report(
            item.at,
            item.key.clone(),
            format!("expected {what}, found {}", type_name(item.value)),
        );
    }

    /// `KEY: expected WHAT, found VALUE`.
    pub fn invalid(&mut self, item: &Item<'_, '_>, what: &str) {
        self.report(
            item.at,
            item.key.clone(),
            format!("expected {what}, found {}", describe(item.value)),
        );
    }

    /// Reports every key of `table` that is not in `allowed`, with a did-you-mean. A plain
    /// `password` is left to the secrets check, which reports it everywhere.
    pub fn known_keys(&mut self, table: &Table<'_, '_>, allowed: &[&str]) {
        for (key, _) in table.entries.iter() {
            let name: &str = key.get_ref();
            if !allowed.contains(&name) && name != super::plaintext::KEY {
                self.report(
                    key.span().start,
                    table.key_of(name),
                    suggest::unknown("key", name, allowed),
                );
            }
        }
    }

    /// The converted value of an optional key (`None` when absent or wrong).
    pub fn opt<'a, 'i, T>(
        &mut self,
        table: &Table<'a, 'i>,
        name: &str,
        convert: impl FnOnce(&mut Self, Item<'a, 'i>) -> Option<T>,
    ) -> Option<T> {
        table.get(name).and_then(|item| convert(self, item))
    }

    /// The converted value of a required key; when absent, reports `KEY: missing; expected WHAT`
    /// at the table that lacks it.
    pub fn req<'a, 'i, T>(
        &mut self,
        table: &Table<'a, 'i>,
        name: &str,
        what: &str,
        convert: impl FnOnce(&mut Self, Item<'a, 'i>) -> Option<T>,
    ) -> Option<T> {
        match table.get(name) {
            Some(item) => convert(self, item),
            None => {
                self.report(
                    table.at,
                    table.key_of(name),
                    format!("missing; expected {what}"),
                );
                None
            }
        }
    }

    pub fn string(&mut self, item: Item<'_, '_>) -> Option<String> {
        match item.value {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(&item, "a string");
                None
            }
        }
    }

    /// A string with at least one character.
    pub fn text(&mut self, item: Item<'_, '_>) -> Option<String> {
        match item.value {
            DeValue::String(s) if s.is_empty() => {
                self.invalid(&item, "a non-empty string");
                None
            }
            _ => self.string(item),
        }
    }

    pub fn boolean(&mut self, item: Item<'_, '_>) -> Option<bool> {
        match item.value {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(&item, "true or false");
                None
            }
        }
    }

    pub fn table<'a, 'i>(&mut self, item: Item<'a, 'i>) -> Option<Table<'a, 'i>> {
        match item.value {
            DeValue::Table(entries) => Some(Table {
                key: item.key,
                at: item.at,
                entries,
            }),
            _ => {
                self.wrong_type(&item, "a table");
                None
            }
        }
    }

    /// An array's elements, reported as `KEY[i]`.
    pub fn array<'a, 'i>(&mut self, item: Item<'a, 'i>) -> Option<Vec<Item<'a, 'i>>> {
        match item.value {
            DeValue::Array(array) => Some(
                array
                    .iter()
                    .enumerate()
                    .map(|(i, value)| Item {
                        key: format!("{}[{i}]", item.key),
                        at: value.span().start,
                        key_at: value.span().start,
                        value: value.get_ref(),
                    })
                    .collect(),
            ),
            _ => {
                self.wrong_type(&item, "an array");
                None
            }
        }
    }

    /// An array whose every element converts; `None` if any does not (each one reported).
    pub fn list<'a, 'i, T>(
        &mut self,
        item: Item<'a, 'i>,
        mut convert: impl FnMut(&mut Self, Item<'a, 'i>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = self.array(item)?;
        let converted: Vec<Option<T>> = items.into_iter().map(|item| convert(self, item)).collect();
        converted.into_iter().collect()
    }

    /// An array of strings.
    pub fn strings(&mut self, item: Item<'_, '_>) -> Option<Vec<String>> {
        self.list(item, Reader::text)
    }

    /// A whole number no smaller than `min`.
    pub fn count(&mut self, item: Item<'_, '_>, min: usize) -> Option<usize> {
        let value = match item.value {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match value
            .and_then(|v| usize::try_from(v).ok())
            .filter(|v| *v >= min)
        {
            Some(v) => Some(v),
            None => {
                self.invalid(&item, &format!("a whole number of at least {min}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_only_when_not_bare() {
        assert_eq!(join("", "app"), "app");
        assert_eq!(join("environments", "live-1_x"), "environments.live-1_x");
        assert_eq!(join("environments", "my env"), r#"environments."my env""#);
        assert_eq!(join("vars", ""), r#"vars."""#);
    }

    #[test]
    fn entries_keep_the_order_first_written() {
        let text = "[e.zeta]\nx = 1\n[[e.live.groups]]\ny = 2\n[e.alpha]\nz = 3\n[e.live]\nw = 4\n";
        let document = DeTable::parse(text).expect("valid TOML");
        let root = Table::root(&document);
        let e = root.get("e").expect("e");
        let DeValue::Table(entries) = e.value else {
            panic!("e is a table")
        };
        let e = Table {
            key: e.key,
            at: e.at,
            entries,
        };
        let names: Vec<&str> = e.entries().iter().map(|entry| entry.name).collect();
        assert_eq!(names, ["zeta", "live", "alpha"]);
    }
}
