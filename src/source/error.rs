//! The source module's error type: what can go wrong fetching, resolving and archiving.

use std::path::PathBuf;

/// An error from the source module. Callers branch on `NotFound` and `Ambiguous` (the
/// person asked for something that is not exactly one commit); the rest are failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The app name cannot name a mirror directory.
    #[error("{app:?} is not a usable app name for a mirror (letters, digits, '.', '-', '_')")]
    InvalidApp { app: String },
    /// The origin is not a local path or `file://` URL.
    #[error("cannot fetch {url:?}: only local paths and file:// URLs are supported")]
    UnsupportedUrl { url: String },
    /// Fetching from the origin failed.
    #[error("fetching {url}: {source}")]
    Fetch { url: String, source: git2::Error },
    /// No commit answers to the reference. `hint` holds near branch and tag names, closest first.
    #[error("no commit {reference:?} in the repository{}", did_you_mean(hint))]
    NotFound {
        reference: String,
        hint: Vec<String>,
    },
    /// The reference names several commits.
    #[error("{reference:?} is ambiguous: it could be {}", candidates.join(", or "))]
    Ambiguous {
        reference: String,
        candidates: Vec<String>,
    },
    /// The reference exists but does not lead to a commit (e.g. a tag of a tree).
    #[error("{reference:?} does not point at a commit")]
    NotACommit { reference: String },
    /// libgit2 failed on the local mirror.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    /// A file of the mirror or an archive could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SourceError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SourceError {
        let path = path.into();
        move |source| SourceError::Io { path, source }
    }
}

fn did_you_mean(hint: &[String]) -> String {
    match hint {
        [] => String::new(),
        [one] => format!(" (did you mean {one:?}?)"),
        many => {
            let quoted: Vec<String> = many.iter().map(|h| format!("{h:?}")).collect();
            format!(" (did you mean one of {}?)", quoted.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_renders_hints() {
        let none = SourceError::NotFound {
            reference: "v9".into(),
            hint: vec![],
        };
        assert_eq!(none.to_string(), "no commit \"v9\" in the repository");
        let one = SourceError::NotFound {
            reference: "mian".into(),
            hint: vec!["main".into()],
        };
        assert_eq!(
            one.to_string(),
            "no commit \"mian\" in the repository (did you mean \"main\"?)"
        );
    }

    #[test]
    fn errors_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<SourceError>();
    }
}
