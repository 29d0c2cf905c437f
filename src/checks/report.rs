//! What the checks found: `CheckReport` (failures, soft checks forced past, checks not run) and
//! its text for the room.

use std::fmt;

use crate::config::Check;

/// A check that failed: its name, whether `deploy!` could pass it, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    pub check: Check,
    /// `deploy!`, by someone who may force, passes it.
    pub soft: bool,
    /// What failed and the fix, e.g. `3f2a9c1 is not live on staging (…); deploy it there first: …`.
    pub message: String,
}

impl fmt::Display for CheckFailure {
    /// `on-staging: 3f2a9c1 is not live on staging …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

/// The outcome of `evaluate`. The deploy may go on when `failures` is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Checks that failed and stop the deploy.
    pub failures: Vec<CheckFailure>,
    /// Soft checks a forced deploy went past, each with why it would have failed
    /// (`window: …`) or `ci (not run)`: for the announcement.
    pub skipped: Vec<String>,
    /// Slow checks (`ci`, `verify`) not run because another check already failed.
    pub not_run: Vec<Check>,
}

impl CheckReport {
    /// Whether nothing stops the deploy.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Lines for the plan's notices: which checks a forced deploy went past, and why.
    pub fn notices(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|skipped| format!("forced past the check {skipped}"))
            .collect()
    }

    pub(super) fn record(&mut self, check: Check, soft: bool, force: bool, message: String) {
        if soft && force {
            self.skipped.push(format!("{check}: {message}"));
        } else {
            self.failures.push(CheckFailure {
                check,
                soft,
                message,
            });
        }
    }
}

impl fmt::Display for CheckReport {
    /// The failures, one a line; what was not run; and which failures `deploy!` would pass.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))?;
        if !self.not_run.is_empty() {
            let names: Vec<&str> = self.not_run.iter().map(|c| c.as_str()).collect();
            write!(f, "\n(not run while the above fail: {})", names.join(", "))?;
        }
        let soft: Vec<&str> = self
            .failures
            .iter()
            .filter(|failure| failure.soft)
            .map(|failure| failure.check.as_str())
            .collect();
        if !soft.is_empty() {
            let them = if soft.len() == 1 { "it" } else { "them" };
            let all = if soft.len() == self.failures.len() {
                ""
            } else {
                "; the others must be fixed"
            };
            write!(
                f,
                "\n{} may be forced past: \"deploy!\" skips {them}, for someone who may force{all}",
                soft.join(" and ")
            )?;
        }
        Ok(())
    }
}
