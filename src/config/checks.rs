//! The checks an environment asks of a revision before anything is uploaded: `require`, `soft`,
//! `on_staging`, `branch`, `ci`, `verify`, `verify_timeout` and `windows`, read and cross-checked.
//!
//! What the checks do lives in `src/checks/`; here are only their settings as the playbook
//! writes them. A setting for a check the environment does not require is an error (it would
//! silently do nothing), and so is a required check that lacks what it needs.

use std::fmt;
use std::time::Duration;

use super::model::{CommandSpec, Environment};
use super::reader::{Item, Reader, Table};
use super::{keys, suggest, values};

/// A check a revision must pass before a deploy uploads anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The commit carries a tag (asked for by its tag or not: what ships is the one commit).
    Tag,
    /// The same commit is live on another environment (`on_staging`).
    OnStaging,
    /// The commit is on the origin's `branch`.
    Pushed,
    /// CI says the commit is green (`ci`).
    Ci,
    /// Commands pass on a checkout of the commit (`verify`).
    Verify,
    /// Now is inside one of the environment's `windows`.
    Window,
    /// Nobody has frozen the environment (`freeze ENV` in chat).
    Freeze,
}

impl Check {
    /// Every check, in the order they are evaluated and reported.
    pub const ALL: [Check; 7] = [
        Check::Freeze,
        Check::Window,
        Check::Tag,
        Check::Pushed,
        Check::OnStaging,
        Check::Ci,
        Check::Verify,
    ];

    /// The name as playbooks and messages write it: `on-staging`.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Tag => "tag",
            Check::OnStaging => "on-staging",
            Check::Pushed => "pushed",
            Check::Ci => "ci",
            Check::Verify => "verify",
            Check::Window => "window",
            Check::Freeze => "freeze",
        }
    }

    /// The check named `name`, if any.
    pub fn parse(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether the check runs only when listed in `require` (window and freeze always apply).
    pub fn is_required_by_name(self) -> bool {
        !matches!(self, Check::Window | Check::Freeze)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings of an environment's checks (which ones run is `Environment::require`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSettings {
    /// Checks that `deploy!`, by someone who may force, skips. Default `["window", "freeze"]`.
    pub soft: Vec<Check>,
    /// `on_staging = "staging"`: where the commit must already be live. Default `staging`.
    pub on_staging: String,
    /// `branch = "main"`: the origin branch the commit must be on. Default: the environment's
    /// `default_ref`.
    pub branch: String,
    /// `ci = { command = "…" | url = "…", timeout = "30s" }`
    pub ci: Option<CiCheck>,
    /// `verify = [...]`: run, in order, in a checkout of the commit on this machine.
    pub verify: Vec<CommandSpec>,
    /// The longest one verify command may run. Default 10 minutes.
    pub verify_timeout: Duration,
    /// `windows = ["Mon-Fri 09:00-17:00"]` (UTC): when deploys are taken. Empty: always.
    pub windows: Vec<Window>,
}

impl CheckSettings {
    pub fn is_soft(&self, check: Check) -> bool {
        self.soft.contains(&check)
    }
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            soft: DEFAULT_SOFT.to_vec(),
            on_staging: DEFAULT_ON_STAGING.to_string(),
            branch: "main".to_string(),
            ci: None,
            verify: Vec::new(),
            verify_timeout: VERIFY_TIMEOUT,
            windows: Vec::new(),
        }
    }
}

const DEFAULT_SOFT: &[Check] = &[Check::Window, Check::Freeze];
const DEFAULT_ON_STAGING: &str = "staging";
const VERIFY_TIMEOUT: Duration = Duration::from_secs(600);
const CI_TIMEOUT: Duration = Duration::from_secs(30);

/// `ci = { … }`: how bosun asks whether CI passed for a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiCheck {
    pub probe: CiProbe,
    /// The longest the command or request may take. Default 30 s.
    pub timeout: Duration,
}

/// What `ci` asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiProbe {
    /// `command = "bin/ci-status {revision}"`: run on this machine in the playbook's directory;
    /// exit 0 is green. `{revision}`, `{short}`, `{app}` and `{env}` are substituted; when no
    /// word holds `{revision}` or `{short}`, the full sha is added as the last argument.
    Command(CommandSpec),
    /// `url = "http://ci.example.org/status/{revision}"`: a GET from the bot; 2xx is green.
    Url(String),
}

/// One deploy window, in UTC: on which days, from when until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Monday first. A window that ends past midnight belongs to the day it starts.
    pub days: [bool; 7],
    /// Minutes after midnight, 0 to 1439.
    pub start: u16,
    /// Minutes after midnight, 1 to 1440 (`24:00`); not above `start` when it ends the next day.
    pub end: u16,
    /// As written, for messages.
    pub text: String,
}

/// Day names, Monday first.
pub const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Window {
    /// `"Mon-Fri 09:00-17:00"`, `"Sat,Sun 10:00-12:00"`, `"Fri-Mon 22:00-06:00"` (past midnight),
    /// `"09:00-17:00"` (every day). Day names in any case; `24:00` ends a day.
    pub fn parse(text: &str) -> Option<Window> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (days, times) = match words.as_slice() {
            [times] => ([true; 7], *times),
            [days, times] => (parse_days(days)?, *times),
            _ => return None,
        };
        let (start, end) = times.split_once('-')?;
        let (start, end) = (parse_time(start)?, parse_time(end)?);
        if start == end || start >= 24 * 60 {
            return None;
        }
        Some(Window {
            days,
            start,
            end,
            text: words.join(" "),
        })
    }
}

fn parse_days(text: &str) -> Option<[bool; 7]> {
    let day = |name: &str| DAYS.iter().position(|d| d.eq_ignore_ascii_case(name));
    let mut days = [false; 7];
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    days[d] = true;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Some(days)
}

/// `HH:MM` or `H:MM` → minutes after midnight; `24:00` is 1440.
fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Reads `require` and the check settings of one `[environments.NAME]`.
pub(super) fn read(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    default_ref: &str,
) -> (Vec<String>, CheckSettings) {
    // Each valid name counts even when another is wrong, so one typo is one problem.
    let require: Vec<(Check, Item<'_, '_>)> = reader
        .opt(table, "require", Reader::array)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| required(reader, item))
        .collect();
    let has = |check: Check| require.iter().any(|(c, _)| *c == check);

    let soft = reader
        .opt(table, "soft", |r, item| r.list(item, any_check))
        .unwrap_or_else(|| DEFAULT_SOFT.to_vec());
    let on_staging = reader.opt(table, "on_staging", values::name);
    let branch = reader.opt(table, "branch", Reader::text);
    let ci = reader.opt(table, "ci", ci);
    let verify = reader.opt(table, "verify", values::commands);
    let verify_timeout = reader.opt(table, "verify_timeout", values::time_limit);
    let windows = reader
        .opt(table, "windows", |r, item| r.list(item, window))
        .unwrap_or_default();

    // A setting whose check is not required would do nothing: say so.
    for (key, check) in [
        ("on_staging", Check::OnStaging),
        ("branch", Check::Pushed),
        ("ci", Check::Ci),
        ("verify", Check::Verify),
        ("verify_timeout", Check::Verify),
    ] {
        if let Some(item) = table.get(key).filter(|_| !has(check)) {
            reader.report(
                item.key_at,
                item.key,
                format!(
                    "set, but {:?} is not in require; add it there",
                    check.as_str()
                ),
            );
        }
    }
    // A required check that lacks what it needs.
    for (check, item) in &require {
        let missing = match check {
            Check::Ci if ci.is_none() && table.get("ci").is_none() => {
                "needs ci = { command = \"…\" } or ci = { url = \"…\" } in this environment"
            }
            Check::Verify if table.get("verify").is_none() => {
                "needs verify = [\"…\"] (the commands to run) in this environment"
            }
            _ => continue,
        };
        reader.report(
            item.at,
            item.key.clone(),
            format!("{:?} {missing}", check.as_str()),
        );
    }

    let names = require
        .iter()
        .map(|(check, _)| check.as_str().to_string())
        .collect();
    let settings = CheckSettings {
        soft,
        on_staging: on_staging.unwrap_or_else(|| DEFAULT_ON_STAGING.to_string()),
        branch: branch.unwrap_or_else(|| default_ref.to_string()),
        ci,
        verify: verify.unwrap_or_default(),
        verify_timeout: verify_timeout.unwrap_or(VERIFY_TIMEOUT),
        windows,
    };
    (names, settings)
}

/// After every environment is read: `on-staging` must compare with another environment of the
/// same playbook.
pub(super) fn cross_check(
    reader: &mut Reader<'_>,
    environments: &Table<'_, '_>,
    read: &[Environment],
) {
    let names: Vec<&str> = read.iter().map(|e| e.name.as_str()).collect();
    for env in read {
        if !env.require.iter().any(|r| r == Check::OnStaging.as_str()) {
            continue;
        }
        let Some(table) = environments.get(&env.name) else {
            continue;
        };
        let Some(entries) = reader_table(&table) else {
            continue;
        };
        let target = env.checks.on_staging.as_str();
        let (at, key) = match entries.get("on_staging") {
            Some(item) => (item.at, item.key),
            None => match entries.get("require") {
                Some(item) => (item.at, item.key),
                None => continue,
            },
        };
        if target == env.name {
            reader.report(
                at,
                key,
                format!(
                    "on-staging compares {} with itself; name another environment",
                    env.name
                ),
            );
        } else if !names.contains(&target) {
            let others: Vec<&str> = names.iter().copied().filter(|n| *n != env.name).collect();
            let message = if entries.get("on_staging").is_some() {
                suggest::unknown("environment", target, &others)
            } else {
                format!(
                    "\"on-staging\" compares with \"{target}\" by default, which this playbook lacks; \
                     set on_staging = \"ENV\" to one of: {}",
                    others.join(", ")
                )
            };
            reader.report(at, key, message);
        }
    }
}

/// An environment's own table, without reporting (it was reported when first read).
fn reader_table<'a, 'i>(item: &Item<'a, 'i>) -> Option<Table<'a, 'i>> {
    match item.value {
        toml::de::DeValue::Table(entries) => Some(Table {
            key: item.key.clone(),
            at: item.at,
            entries,
        }),
        _ => None,
    }
}

/// A name `require` takes: a check that runs only when asked for.
fn required<'a, 'i>(reader: &mut Reader<'_>, item: Item<'a, 'i>) -> Option<(Check, Item<'a, 'i>)> {
    let check = any_check(reader, item.clone())?;
    if !check.is_required_by_name() {
        let why = match check {
            Check::Window => "it applies whenever windows = [...] is set",
            _ => "every environment can be frozen from chat (\"freeze ENV\")",
        };
        reader.report(
            item.at,
            item.key.clone(),
            format!("{:?} needs no require: {why}", check.as_str()),
        );
        return None;
    }
    Some((check, item))
}

/// Any check's name, with a did-you-mean.
fn any_check(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Check> {
    values::choice(reader, item, "check", keys::CHECKS)
}

fn window(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Window> {
    let text = reader.text(item.clone())?;
    let parsed = Window::parse(&text);
    if parsed.is_none() {
        reader.invalid(
            &item,
            r#"a deploy window like "Mon-Fri 09:00-17:00" (days, then UTC times)"#,
        );
    }
    parsed
}

fn ci(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<CiCheck> {
    let table = reader.table(item)?;
    reader.known_keys(&table, keys::CI);
    let command = reader.opt(&table, "command", values::command);
    let url = reader.opt(&table, "url", values::http_url);
    let timeout = reader
        .opt(&table, "timeout", values::time_limit)
        .unwrap_or(CI_TIMEOUT);
    let probe = match (command, url) {
        (Some(command), None) => CiProbe::Command(command),
        (None, Some(url)) => CiProbe::Url(url),
        (Some(_), Some(_)) => {
            reader.report(
                table.at,
                table.key.clone(),
                "give \"command\" or \"url\", not both",
            );
            return None;
        }
        (None, None) => {
            if !table.entries.contains_key("command") && !table.entries.contains_key("url") {
                reader.report(
                    table.at,
                    table.key.clone(),
                    "give command = \"…\" (exit 0 is green) or url = \"…\" (2xx is green)",
                );
            }
            return None;
        }
    };
    Some(CiCheck { probe, timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(list: &[usize]) -> [bool; 7] {
        let mut days = [false; 7];
        for d in list {
            days[*d] = true;
        }
        days
    }

    #[test]
    fn windows_parse_days_and_times() {
        let w = Window::parse("Mon-Fri 09:00-17:00").unwrap();
        assert_eq!(
            (w.days, w.start, w.end),
            (days(&[0, 1, 2, 3, 4]), 540, 1020)
        );
        assert_eq!(w.text, "Mon-Fri 09:00-17:00");
        let w = Window::parse("  sat,SUN   9:30-12:00 ").unwrap();
        assert_eq!((w.days, w.start, w.end), (days(&[5, 6]), 570, 720));
        assert_eq!(w.text, "sat,SUN 9:30-12:00");
        let w = Window::parse("Fri-Mon 22:00-06:00").unwrap();
        assert_eq!((w.days, w.start, w.end), (days(&[0, 4, 5, 6]), 1320, 360));
        let w = Window::parse("00:00-24:00").unwrap();
        assert_eq!((w.days, w.start, w.end), ([true; 7], 0, 1440));
        let w = Window::parse("Mon,Wed-Thu 08:00-09:00").unwrap();
        assert_eq!(w.days, days(&[0, 2, 3]));
    }

    #[test]
    fn bad_windows_are_refused() {
        for bad in [
            "",
            "Mon-Fri",
            "Mon-Fri 9-17",
            "Mon-Fri 09:00",
            "Mon-Fri 09:00-09:00",
            "Mon-Fri 24:00-01:00",
            "Mon-Fri 09:60-10:00",
            "Mon-Fri 25:00-26:00",
            "Mon-Fri 09:0-10:00",
            "Mon-Fri 009:00-10:00",
            "Monday 09:00-10:00",
            "Mon-Fri 09:00-17:00 extra",
            "Mon,,Fri 09:00-17:00",
            "Mon-Fri -09:00-17:00",
        ] {
            assert_eq!(Window::parse(bad), None, "{bad:?}");
        }
    }

    /// `KEY: MESSAGE` of every problem in a playbook whose `live` environment has `live` added.
    fn problems(live: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blog.toml");
        let text = format!(
            "[app]\nname = \"blog\"\nrepo = \"/srv/git/blog\"\ndeploy_to = \"/srv/blog\"\n\
             [environments.staging]\nhosts = [\"s1\"]\n[environments.live]\nhosts = [\"w1\"]\n{live}\n"
        );
        std::fs::write(&path, text).unwrap();
        match super::super::load_playbook(&path, dir.path()) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect(),
        }
    }

    fn live(text: &str) -> CheckSettings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blog.toml");
        let text = format!(
            "[app]\nname = \"blog\"\nrepo = \"/srv/git/blog\"\ndeploy_to = \"/srv/blog\"\n\
             [environments.staging]\nhosts = [\"s1\"]\n[environments.live]\nhosts = [\"w1\"]\n\
             default_ref = \"trunk\"\n{text}\n"
        );
        std::fs::write(&path, text).unwrap();
        let playbook =
            super::super::load_playbook(&path, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        playbook.environment("live").unwrap().checks.clone()
    }

    #[test]
    fn every_setting_is_read_with_its_defaults() {
        let defaults = live("");
        assert_eq!(defaults.soft, [Check::Window, Check::Freeze]);
        assert_eq!(
            (defaults.on_staging.as_str(), defaults.branch.as_str()),
            ("staging", "trunk")
        );
        assert_eq!(defaults.ci, None);
        assert!(defaults.verify.is_empty() && defaults.windows.is_empty());
        assert_eq!(defaults.verify_timeout, Duration::from_secs(600));

        let all = live(
            r#"require = ["tag", "on-staging", "pushed", "ci", "verify"]
soft = ["ci"]
on_staging = "staging"
branch = "release"
ci = { url = "http://ci.example.org/{revision}", timeout = "5s" }
verify = ["make lint", ["sh", "-c", "true"]]
verify_timeout = "2m"
windows = ["Mon-Fri 09:00-17:00"]"#,
        );
        assert_eq!(all.soft, [Check::Ci]);
        assert!(all.is_soft(Check::Ci) && !all.is_soft(Check::Window));
        assert_eq!(all.branch, "release");
        assert_eq!(
            all.ci,
            Some(CiCheck {
                probe: CiProbe::Url("http://ci.example.org/{revision}".into()),
                timeout: Duration::from_secs(5),
            })
        );
        assert_eq!(
            all.verify,
            [
                CommandSpec::new(["make", "lint"]),
                CommandSpec::new(["sh", "-c", "true"])
            ]
        );
        assert_eq!(all.verify_timeout, Duration::from_secs(120));
        assert_eq!(all.windows.len(), 1);
        let ci = live("require = [\"ci\"]\nci = { command = \"bin/ci {short}\" }").ci;
        assert_eq!(
            ci,
            Some(CiCheck {
                probe: CiProbe::Command(CommandSpec::new(["bin/ci", "{short}"])),
                timeout: Duration::from_secs(30),
            })
        );
    }

    #[test]
    fn unknown_check_names_get_a_did_you_mean() {
        assert_eq!(
            problems(r#"require = ["tag", "onstaging", "bogus"]"#),
            [
                "environments.live.require[1]: unknown check \"onstaging\"; did you mean \"on-staging\"?",
                "environments.live.require[2]: unknown check \"bogus\"; expected one of: tag, on-staging, pushed, ci, verify, window, freeze",
            ]
        );
        assert_eq!(
            problems(r#"soft = ["windwo"]"#),
            ["environments.live.soft[0]: unknown check \"windwo\"; did you mean \"window\"?"]
        );
        assert_eq!(
            problems(r#"require = ["window", "freeze"]"#),
            [
                "environments.live.require[0]: \"window\" needs no require: it applies whenever windows = [...] is set",
                "environments.live.require[1]: \"freeze\" needs no require: every environment can be frozen from chat (\"freeze ENV\")",
            ]
        );
    }

    #[test]
    fn settings_and_requirements_must_agree() {
        assert_eq!(
            problems("ci = { command = \"true\" }\nbranch = \"main\""),
            [
                "environments.live.ci: set, but \"ci\" is not in require; add it there",
                "environments.live.branch: set, but \"pushed\" is not in require; add it there",
            ]
        );
        assert_eq!(
            problems(r#"require = ["ci", "verify"]"#),
            [
                "environments.live.require[0]: \"ci\" needs ci = { command = \"…\" } or ci = { url = \"…\" } in this environment",
                "environments.live.require[1]: \"verify\" needs verify = [\"…\"] (the commands to run) in this environment",
            ]
        );
        assert_eq!(
            problems("require = [\"ci\"]\nci = { command = \"true\", url = \"http://x/\" }"),
            ["environments.live.ci: give \"command\" or \"url\", not both"]
        );
        assert_eq!(
            problems("require = [\"ci\"]\nci = { timeout = \"5s\", comand = \"x\" }"),
            [
                "environments.live.ci: give command = \"…\" (exit 0 is green) or url = \"…\" (2xx is green)",
                "environments.live.ci.comand: unknown key \"comand\"; did you mean \"command\"?",
            ]
        );
    }

    #[test]
    fn on_staging_must_name_another_environment() {
        assert_eq!(
            problems("require = [\"on-staging\"]\non_staging = \"stagin\""),
            [
                "environments.live.on_staging: unknown environment \"stagin\"; did you mean \"staging\"?"
            ]
        );
        assert_eq!(
            problems("require = [\"on-staging\"]\non_staging = \"live\""),
            [
                "environments.live.on_staging: on-staging compares live with itself; name another environment"
            ]
        );
        assert!(problems("require = [\"on-staging\"]").is_empty());
    }

    #[test]
    fn the_default_staging_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blog.toml");
        let text = "[app]\nname = \"blog\"\nrepo = \"/r\"\ndeploy_to = \"/srv/blog\"\n\
                    [environments.qa]\nhosts = [\"q1\"]\n[environments.live]\nhosts = [\"w1\"]\n\
                    require = [\"on-staging\"]\n";
        std::fs::write(&path, text).unwrap();
        let error = super::super::load_playbook(&path, dir.path()).unwrap_err();
        let shown: Vec<String> = error
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect();
        assert_eq!(
            shown,
            [
                "environments.live.require: \"on-staging\" compares with \"staging\" by default, which this playbook lacks; set on_staging = \"ENV\" to one of: qa"
            ]
        );
    }

    #[test]
    fn bad_windows_are_reported_at_their_place() {
        assert_eq!(
            problems(r#"windows = ["Mon-Fri 09:00-17:00", "weekdays 9-5"]"#),
            [
                "environments.live.windows[1]: expected a deploy window like \"Mon-Fri 09:00-17:00\" (days, then UTC times), found \"weekdays 9-5\""
            ]
        );
    }

    #[test]
    fn check_names_round_trip() {
        for check in Check::ALL {
            assert_eq!(Check::parse(check.as_str()), Some(check));
            assert!(
                keys::CHECKS
                    .iter()
                    .any(|(name, c)| *name == check.as_str() && *c == check)
            );
        }
        assert_eq!(keys::CHECKS.len(), Check::ALL.len());
        assert_eq!(Check::parse("onstaging"), None);
    }
}
