//! How an adapter reads its own `[chat.NAME]` section without knowing the file format: the core hands it a [`Section`] that reports every problem with file, line, column and key.
//!
//! An adapter reads each of its keys through the section, checks the values by its own rules,
//! and reports what is wrong with [`Section::invalid`]; a problem never stops the reading, so
//! one pass finds every mistake. Missing or wrongly typed values come back as `None`, already
//! reported.

use std::path::PathBuf;
use std::time::Duration;

use crate::Secret;

/// One `[chat.NAME]` table of the configuration, as an adapter sees it.
pub trait Section {
    /// Reports every key that is not in `known`, with a did-you-mean.
    fn known_keys(&mut self, known: &[&str]);
    /// Whether `key` is written at all.
    fn has(&self, key: &str) -> bool;
    /// A string of at least one character.
    fn text(&mut self, key: &str) -> Option<String>;
    /// An array of strings, each checked by `check`: `Err(expected)` reports element `i` as
    /// `key[i]: expected …, found …`. `None` when any element is wrong (each one reported).
    fn texts(
        &mut self,
        key: &str,
        check: &mut dyn FnMut(&str) -> Result<(), String>,
    ) -> Option<Vec<String>>;
    fn boolean(&mut self, key: &str) -> Option<bool>;
    /// A duration written like `"500ms"`, `"60s"`, `"2m"`.
    fn duration(&mut self, key: &str) -> Option<Duration>;
    /// A path, resolved against the directory of the file that wrote it.
    fn path(&mut self, key: &str) -> Option<PathBuf>;
    /// `NAME_env` or `NAME_file`: exactly one must be given; `what` says what it holds.
    fn secret(&mut self, name: &str, what: &str) -> Option<Secret>;
    /// Reports that `key`, which is required, is missing; `what` says what it should be.
    fn missing(&mut self, key: &str, what: &str);
    /// Reports that the value of `key` is not `expected`, e.g. `a URL like "https://…"`.
    fn invalid(&mut self, key: &str, expected: &str);
}

/// An `http://` or `https://` URL under `key`, without a trailing `/`; `example` shows one.
pub fn web_url(section: &mut dyn Section, key: &str, example: &str) -> Option<String> {
    let url = section.text(key)?;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        section.invalid(key, &format!("a URL like {example:?}"));
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}
