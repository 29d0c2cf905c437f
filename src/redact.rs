//! Secrets kept out of what bosun stores and shows: every secret the configuration names (chat
//! tokens and passwords, the tracker's password, the page's token, `[redact]`) is replaced by
//! `[redacted]` in step output before the journal keeps it, in live output, on the page, in
//! exports and in every chat message.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::config::{Config, Secret, TrackerSection};

/// What a secret's value is replaced with.
pub const MASK: &str = "[redacted]";

/// Values shorter than this are not redacted: they would match everywhere (and are no secret).
pub const MIN_LEN: usize = 4;

/// The secret values to hide. Cheap to clone; its `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is hidden whole.
    secrets: Arc<Vec<String>>,
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = values
            .into_iter()
            .filter(|v| v.chars().count() >= MIN_LEN)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor {
            secrets: Arc::new(secrets),
        }
    }

    /// Every secret the configuration names, read now. One that cannot be read (its variable is
    /// unset) is skipped with a warning that names where it was looked for, never a value.
    pub fn from_config(config: &Config) -> Redactor {
        let mut values = Vec::new();
        for secret in configured_secrets(config) {
            match secret.read() {
                Ok(value) if value.expose().chars().count() >= MIN_LEN => {
                    values.push(value.expose().to_string())
                }
                Ok(_) => tracing::warn!(
                    "the secret in {secret} is shorter than {MIN_LEN} characters and is not redacted"
                ),
                Err(e) => tracing::debug!("not redacting {secret}: {e}"),
            }
        }
        Redactor::new(values)
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }

    /// Like [`Redactor::redact`], for an owned string.
    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(redacted) => redacted,
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// Where every secret of the configuration comes from.
fn configured_secrets(config: &Config) -> Vec<Secret> {
    let mut out = config.chat.secrets();
    if let TrackerSection::Trac {
        password: Some(p), ..
    } = &config.tracker
    {
        out.push(p.clone());
    }
    if let Some(web) = &config.web {
        out.extend(web.token.clone());
        out.extend(web.password.clone());
    }
    out.extend(config.redact.secrets.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_hidden_longest_first() {
        let r = Redactor::new(["hunter2-long".to_string(), "hunter2".into(), "ab".into()]);
        assert_eq!(
            r.redact("pw=hunter2-long and hunter2, ab stays"),
            "pw=[redacted] and [redacted], ab stays"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(format!("{r:?}"), "Redactor(2 secrets)");
        assert!(Redactor::default().is_empty());
    }
}
