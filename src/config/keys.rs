//! Every key bosun accepts, table by table: the one list the loader checks against and the docs
//! are tested against.

use super::checks::Check;
use super::model::{ChangesetSource, DeltaCopy, StagingMode};
use super::tracker::TrackerKind;

// bosun.toml
pub(super) const ROOT: &[&str] = &[
    "bot", "chat", "journal", "tracker", "announce", "web", "redact", "people", "roles",
];
pub(super) const BOT: &[&str] = &["name", "state_dir", "playbooks"];
pub(super) const JOURNAL: &[&str] = &[
    "path",
    "lease",
    "reconcile_every",
    "url",
    "password_env",
    "password_file",
    "tls",
    "ca_file",
];
pub(super) const TRACKER_NONE: &[&str] = &["kind"];
pub(super) const TRACKER_LINKS: &[&str] = &["kind", "changeset_url", "ticket_url"];
pub(super) const TRACKER_TRAC: &[&str] = &[
    "kind",
    "url",
    "user",
    "password_env",
    "password_file",
    "timeout",
];
pub(super) const ANNOUNCE: &[&str] = &["max_changesets", "show_email", "alert", "room"];
pub(super) const WEB: &[&str] = &[
    "listen",
    "public_url",
    "token_env",
    "token_file",
    "user",
    "password_env",
    "password_file",
];
pub(super) const REDACT: &[&str] = &["env", "files"];
/// The keys of a `[[people]]` entry besides one identity per chat network
/// (`crate::chat::NAMES`).
pub(super) const PERSON: &[&str] = &["name", "roles"];
/// The actions a role grants, each on a list of `APP:ENV` patterns.
pub(super) const ROLE: &[&str] = &[
    "read",
    "deploy",
    "rollback",
    "force",
    "lock",
    "unlock_others",
    "admin",
];

// Playbooks
pub(super) const PLAYBOOK: &[&str] = &["app", "vars", "environments", "ssh", "hosts", "pipeline"];
pub(super) const APP: &[&str] = &[
    "name",
    "repo",
    "deploy_to",
    "keep_releases",
    "shared",
    "max_parallel",
    "min_free",
    "rooms",
    "rollback_partial",
    "changesets",
    "tracker_required",
    "staging",
    "delta_max_percent",
    "delta_copy",
    "connect_rate",
];
pub(super) const ENVIRONMENT: &[&str] = &[
    "default_ref",
    "hosts",
    "groups",
    "require",
    "vars",
    "soft",
    "on_staging",
    "branch",
    "ci",
    "verify",
    "verify_timeout",
    "windows",
];
/// `ci = { … }` in an environment.
pub(super) const CI: &[&str] = &["command", "url", "timeout"];
pub(super) const GROUP: &[&str] = &["name", "hosts", "batch"];
pub(super) const HOST: &[&str] = &[
    "root",
    "address",
    "port",
    "user",
    "identity",
    "known_hosts",
    "connect_timeout",
    "keepalive",
    "idle",
    "compression",
    "deploy_to",
];
pub(super) const SSH: &[&str] = &[
    "port",
    "user",
    "identity",
    "known_hosts",
    "connect_timeout",
    "keepalive",
    "idle",
    "compression",
];
pub(super) const PIPELINE: &[&str] = &[
    "build",
    "restart",
    "migrate",
    "health",
    "lb",
    "maintenance",
    "backup",
    "smoke",
    "retries",
    "command_timeout",
];
pub(super) const MAINTENANCE: &[&str] = &["up", "down"];
pub(super) const SMOKE: &[&str] = &["before", "after"];
pub(super) const LB: &[&str] = &["out", "in"];
pub(super) const MIGRATE: &[&str] = &["up", "down", "once"];
pub(super) const HEALTH: &[&str] = &["command", "http", "retries", "interval", "timeout"];

// Values with a closed set of choices.
/// The checks, as `require` and `soft` name them.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("tag", Check::Tag),
    ("on-staging", Check::OnStaging),
    ("pushed", Check::Pushed),
    ("ci", Check::Ci),
    ("verify", Check::Verify),
    ("window", Check::Window),
    ("freeze", Check::Freeze),
];
pub(super) const STAGING_MODES: &[(&str, StagingMode)] =
    &[("auto", StagingMode::Auto), ("full", StagingMode::Full)];
pub(super) const DELTA_COPIES: &[(&str, DeltaCopy)] = &[
    ("auto", DeltaCopy::Auto),
    ("link", DeltaCopy::Link),
    ("copy", DeltaCopy::Copy),
];
pub(super) const CHANGESET_SOURCES: &[(&str, ChangesetSource)] = &[
    ("git", ChangesetSource::Git),
    ("tracker", ChangesetSource::Tracker),
];
pub(super) const TRACKER_KINDS: &[(&str, TrackerKind)] = &[
    ("none", TrackerKind::None),
    ("links", TrackerKind::Links),
    ("trac", TrackerKind::Trac),
];

/// Which file documents a table.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Documented {
    /// `config.example.toml`
    Config,
    /// `playbooks/demo.toml`
    Playbook,
}

/// Every table above, and every chat system's section, named as a reader would look it up,
/// with the file that documents it.
#[cfg(test)]
pub(super) fn all() -> Vec<(Documented, String, Vec<&'static str>)> {
    let chat = crate::chat::NAMES;
    let mut all: Vec<(Documented, String, Vec<&'static str>)> = ALL
        .iter()
        .map(|(doc, table, keys)| (*doc, table.to_string(), keys.to_vec()))
        .collect();
    all.push((
        Documented::Config,
        "chat".into(),
        std::iter::once("adapter")
            .chain(chat.iter().copied())
            .collect(),
    ));
    for name in chat {
        all.push((
            Documented::Config,
            format!("chat.{name}"),
            crate::chat::keys(name).to_vec(),
        ));
    }
    all.push((
        Documented::Config,
        "people".into(),
        PERSON.iter().chain(chat).copied().collect(),
    ));
    all
}

#[cfg(test)]
const ALL: &[(Documented, &str, &[&str])] = &[
    (Documented::Config, "(top level)", ROOT),
    (Documented::Config, "bot", BOT),
    (Documented::Config, "journal", JOURNAL),
    (
        Documented::Config,
        "tracker (kind = \"none\")",
        TRACKER_NONE,
    ),
    (
        Documented::Config,
        "tracker (kind = \"links\")",
        TRACKER_LINKS,
    ),
    (
        Documented::Config,
        "tracker (kind = \"trac\")",
        TRACKER_TRAC,
    ),
    (Documented::Config, "announce", ANNOUNCE),
    (Documented::Config, "web", WEB),
    (Documented::Config, "redact", REDACT),
    (Documented::Config, "roles.NAME", ROLE),
    (Documented::Playbook, "(top level)", PLAYBOOK),
    (Documented::Playbook, "app", APP),
    (Documented::Playbook, "environments.NAME", ENVIRONMENT),
    (Documented::Playbook, "environments.NAME.groups", GROUP),
    (Documented::Playbook, "environments.NAME.ci", CI),
    (Documented::Playbook, "hosts.NAME", HOST),
    (Documented::Playbook, "ssh", SSH),
    (Documented::Playbook, "pipeline", PIPELINE),
    (Documented::Playbook, "pipeline.migrate", MIGRATE),
    (Documented::Playbook, "pipeline.health", HEALTH),
    (Documented::Playbook, "pipeline.lb", LB),
    (Documented::Playbook, "pipeline.maintenance", MAINTENANCE),
    (Documented::Playbook, "pipeline.smoke", SMOKE),
];

/// The closed sets of values, with the key that takes them.
#[cfg(test)]
pub(super) fn choices() -> Vec<(Documented, &'static str, Vec<&'static str>)> {
    fn words<T>(table: &[(&'static str, T)]) -> Vec<&'static str> {
        table.iter().map(|(word, _)| *word).collect()
    }
    vec![
        (Documented::Config, "adapter", crate::chat::NAMES.to_vec()),
        (Documented::Config, "kind", words(TRACKER_KINDS)),
        (Documented::Playbook, "changesets", words(CHANGESET_SOURCES)),
        (Documented::Playbook, "staging", words(STAGING_MODES)),
        (Documented::Playbook, "delta_copy", words(DELTA_COPIES)),
        (Documented::Playbook, "require", words(CHECKS)),
    ]
}
