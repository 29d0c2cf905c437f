//! What a failed load reports: `Problem`s (file, line, column, key, message) gathered into one `ConfigError`.

use std::fmt;
use std::path::PathBuf;

/// One mistake in one file, with where it is and which key it concerns.
///
/// Displays as `FILE:LINE:COL: KEY: MESSAGE`. Positions are 1-based (columns count characters).
/// A problem with the whole file (it cannot be read) has `line == 0` and displays as
/// `FILE: MESSAGE`; a syntax error has no key and displays as `FILE:LINE:COL: MESSAGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file as it was given (a playbook: as `bot.playbooks` names it, joined to the config's
    /// directory).
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The dotted key, e.g. `environments.live.groups[1].batch`; empty for a syntax error.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, " {}:", self.key)?;
        }
        write!(f, " {}", self.message)
    }
}

/// Every problem found while loading, in file order and, within a file, in position order.
/// Displays one problem per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: usize, key: &str) -> Problem {
        Problem {
            file: PathBuf::from("dir/bosun.toml"),
            line,
            column: 7,
            key: key.to_string(),
            message: "something is off".to_string(),
        }
    }

    #[test]
    fn displays_one_problem_per_line() {
        let error = ConfigError {
            problems: vec![problem(3, "bot.name"), problem(9, ""), problem(0, "")],
        };
        assert_eq!(
            error.to_string(),
            "dir/bosun.toml:3:7: bot.name: something is off\n\
             dir/bosun.toml:9:7: something is off\n\
             dir/bosun.toml: something is off"
        );
    }
}
