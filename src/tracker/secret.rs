//! Reads the tracker password from where the configuration says it is, only when it is needed.
//!
//! Stands in until `config::Secret` has a reader of its own; the value is never logged or shown.

use crate::config::Secret;

use super::error::TrackerError;

/// The secret's value: an environment variable as set, or a file's text without its final
/// line break.
pub(crate) fn read(secret: &Secret) -> Result<String, TrackerError> {
    match secret {
        Secret::Env(name) => std::env::var(name).map_err(|e| TrackerError::Secret {
            reason: match e {
                std::env::VarError::NotPresent => format!("${name} is not set"),
                std::env::VarError::NotUnicode(_) => format!("${name} is not UTF-8"),
            },
        }),
        Secret::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
            }
            Err(e) => Err(TrackerError::Secret {
                reason: format!("{}: {e}", path.display()),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_without_its_final_line_break() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\r\n").expect("write");
        assert_eq!(read(&Secret::File(path)).expect("reads"), "s3cret");
    }

    #[test]
    fn says_which_source_is_missing_without_a_value() {
        let error = read(&Secret::Env("BOSUN_TEST_SURELY_UNSET_PASSWORD".into())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the tracker password could not be read: $BOSUN_TEST_SURELY_UNSET_PASSWORD is not set"
        );
        let error = read(&Secret::File("/nonexistent/bosun/pw".into())).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the tracker password could not be read: /nonexistent/bosun/pw: ")
        );
    }
}
