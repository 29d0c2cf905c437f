//! Secrets for the core and the adapters: where one comes from ([`Secret`], never its value), read on demand into a value that never prints itself.

use std::fmt;
use std::path::PathBuf;

/// Where a secret comes from: an environment variable or a file, never the config text.
/// Its value is read only when needed and never printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    /// `password_env = "NAME"`
    Env(String),
    /// `password_file = "path"` (resolved against the config file's directory)
    File(PathBuf),
}

/// A secret's value. Its `Debug` shows no part of it and it has no `Display`: call
/// [`SecretValue::expose`] at the one place that must hand it on.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Why a secret could not be read. It names the variable or file, never the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    NotSet(String),
    #[error("environment variable {0} is not valid UTF-8")]
    NotUnicode(String),
    #[error("cannot read secret file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret in {0} is empty")]
    Empty(String),
}

impl Secret {
    /// The secret's value, without the trailing newline an editor or `echo` leaves.
    pub fn read(&self) -> Result<SecretValue, SecretError> {
        let value = match self {
            Secret::Env(name) => std::env::var(name).map_err(|e| match e {
                std::env::VarError::NotPresent => SecretError::NotSet(name.clone()),
                std::env::VarError::NotUnicode(_) => SecretError::NotUnicode(name.clone()),
            })?,
            Secret::File(path) => {
                std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
                    path: path.clone(),
                    source,
                })?
            }
        };
        let trimmed = value.trim_end_matches(['\n', '\r']);
        if trimmed.is_empty() {
            return Err(SecretError::Empty(self.to_string()));
        }
        Ok(SecretValue(trimmed.to_string()))
    }
}

/// Where the secret comes from (never its value): `environment variable X` or `file P`.
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Env(name) => write!(f, "environment variable {name}"),
            Secret::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_without_its_trailing_newline() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret value\r\n\n").expect("write");
        let value = Secret::File(path).read().expect("readable");
        assert_eq!(value.expose(), "s3cret value");
        assert_eq!(format!("{value:?}"), "SecretValue(<redacted>)");
    }

    #[test]
    fn reads_an_environment_variable() {
        // Cargo sets this for every test process.
        let value = Secret::Env("CARGO_PKG_NAME".into())
            .read()
            .expect("set by cargo");
        assert_eq!(value.expose(), "bosun-chat");
    }

    #[test]
    fn errors_name_the_source_and_never_the_value() {
        let missing = Secret::Env("BOSUN_TEST_SURELY_UNSET_VARIABLE".into())
            .read()
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable BOSUN_TEST_SURELY_UNSET_VARIABLE is not set"
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let error = Secret::File(empty.clone()).read().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("the secret in file {} is empty", empty.display())
        );

        let garbled = dir.path().join("garbled");
        std::fs::write(&garbled, b"hunter2\xff\n").expect("write");
        let error = Secret::File(garbled).read().unwrap_err();
        assert!(matches!(error, SecretError::Unreadable { .. }), "{error:?}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
    }
}
