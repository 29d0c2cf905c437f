//! The checks a revision must pass before a deploy uploads anything: `evaluate` runs an
//! environment's checks and returns a `CheckReport` for the room.
//!
//! Which checks run: those listed in the environment's `require` (`tag`, `on-staging`, `pushed`,
//! `ci`, `verify`), `window` when the environment has `windows`, and `freeze` always. Each is
//! hard or soft (`soft = [...]`, default `window` and `freeze`); a forced deploy (`deploy!`, by
//! someone the dispatcher let force) passes soft checks that fail and says so in
//! `CheckReport::skipped`, and does not run soft `ci` or `verify` at all. `ci` and `verify` are
//! slow, so they run (side by side) only when every other check passed.
//!
//! Decided for `tag`: the commit must carry a tag, whether the person asked for it by that tag,
//! a branch or a sha. What ships is that one commit either way, and the announcement names the
//! tag.

mod ci;
mod freeze;
mod git;
mod report;
mod staging;
mod verify;
mod window;

#[cfg(test)]
mod tests;

use std::path::Path;

use crate::config::{Check, Environment, Playbook};
use crate::journal::Journal;

pub use freeze::until_text;
pub use report::{CheckFailure, CheckReport};
pub use window::{is_open, next_opening};

/// The commit a deploy would ship, as the engine resolved it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The full sha.
    pub sha: &'a str,
    /// Its first 7 hex digits.
    pub short: &'a str,
    /// A tag on the commit: the one asked for, else the best one on it.
    pub tag: Option<&'a str>,
}

/// Everything the checks look at.
#[derive(Clone, Copy)]
pub struct CheckInput<'a> {
    pub playbook: &'a Playbook,
    pub env: &'a Environment,
    pub revision: Candidate<'a>,
    /// bosun's state directory: the app's mirror and archives live there.
    pub state_dir: &'a Path,
    pub journal: &'a Journal,
    /// `deploy!`: soft checks are passed (and named in the report).
    pub force: bool,
    /// The time the checks are for, in ms since the epoch (UTC).
    pub now_ms: i64,
}

impl CheckInput<'_> {
    fn app(&self) -> &str {
        &self.playbook.app.name
    }

    /// The checks that apply to this environment, in `Check::ALL` order.
    fn checks(&self) -> Vec<Check> {
        Check::ALL
            .into_iter()
            .filter(|check| match check {
                Check::Freeze => true,
                Check::Window => !self.env.checks.windows.is_empty(),
                check => self.env.require.iter().any(|r| r == check.as_str()),
            })
            .collect()
    }
}

/// Whether a check is slow enough to run only when the others passed.
fn slow(check: Check) -> bool {
    matches!(check, Check::Ci | Check::Verify)
}

/// Runs every check that applies to `input.env` and says which failed and which were forced past.
pub async fn evaluate(input: CheckInput<'_>) -> CheckReport {
    let mut report = CheckReport::default();
    let settings = &input.env.checks;
    let (slow_checks, quick): (Vec<Check>, Vec<Check>) =
        input.checks().into_iter().partition(|c| slow(*c));
    for check in quick {
        if let Err(message) = run(check, &input).await {
            report.record(check, settings.is_soft(check), input.force, message);
        }
    }
    let mut to_run = Vec::new();
    for check in slow_checks {
        if input.force && settings.is_soft(check) {
            report.skipped.push(format!("{check} (not run)"));
        } else if report.failures.is_empty() {
            to_run.push(check);
        } else {
            report.not_run.push(check);
        }
    }
    let ci = async {
        match to_run.contains(&Check::Ci) {
            true => Some(run(Check::Ci, &input).await),
            false => None,
        }
    };
    let verify = async {
        match to_run.contains(&Check::Verify) {
            true => Some(run(Check::Verify, &input).await),
            false => None,
        }
    };
    let (ci, verify) = tokio::join!(ci, verify);
    for (check, outcome) in [(Check::Ci, ci), (Check::Verify, verify)] {
        if let Some(Err(message)) = outcome {
            report.record(check, settings.is_soft(check), input.force, message);
        }
    }
    report
}

/// One check: `Err` holds what failed and the fix, without the check's name.
async fn run(check: Check, input: &CheckInput<'_>) -> Result<(), String> {
    match check {
        Check::Freeze => freeze::check(input).await,
        Check::Window => window::check(input),
        Check::Tag => git::tag(input).await,
        Check::Pushed => git::pushed(input).await,
        Check::OnStaging => staging::check(input).await,
        Check::Ci => ci::check(input).await,
        Check::Verify => verify::check(input).await,
    }
}
