//! The validated configuration as the rest of bosun sees it: `Config` (bosun.toml) and `Playbook` (one per app).
//!
//! These are plain values: every path is already resolved against the file that named it, every
//! duration parsed, every cross-reference (a group's hosts, a person's roles) checked. Loading and
//! the file:line:col errors live in `load.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration: bosun.toml plus every playbook it names.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub bot: BotSection,
    /// `[chat]`, each `[chat.NAME]` read by its own adapter.
    pub chat: crate::chat::ChatSection,
    pub journal: JournalSection,
    pub tracker: TrackerSection,
    pub announce: AnnounceSection,
    /// `[web]`: the bot's read-only page; `None` (no section): no page.
    pub web: Option<WebSection>,
    /// `[redact]`: secrets kept out of stored and shown output, besides those named above.
    pub redact: RedactSection,
    pub people: Vec<Person>,
    pub roles: BTreeMap<String, Role>,
    pub playbooks: Vec<Playbook>,
}

impl Config {
    pub fn playbook(&self, app: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.app.name == app)
    }
}

/// `[bot]`
#[derive(Clone, Debug)]
pub struct BotSection {
    /// How people address the bot: `bosun: deploy …`, `@bosun …`. Default `bosun`.
    pub name: String,
    /// Where mirrors, artifacts and local hosts live. Default `var` beside the config file.
    pub state_dir: PathBuf,
}

/// `[journal]`
#[derive(Clone, Debug)]
pub struct JournalSection {
    /// The SQLite file. Default `<state_dir>/journal.sqlite`.
    pub path: PathBuf,
    /// `url = "postgres://…"`: the journal is in PostgreSQL (several bots sharing it), not `path`.
    pub postgres: Option<PostgresJournal>,
    /// How long a deploy lock stays held without its bot renewing it; after that the lock is
    /// stale and its deploy is recovered. Default 30 s.
    pub lease: Duration,
    /// How often every environment's hosts are compared with the journal (and drift brought
    /// back to one release). Default 5 min; also at start and on `repair ENV`.
    pub reconcile_every: Duration,
}

/// `[journal] url`, `password_env`/`password_file`, `tls`, `ca_file`: a PostgreSQL journal.
#[derive(Clone, Debug)]
pub struct PostgresJournal {
    pub url: String,
    pub password: Option<Secret>,
    pub tls: crate::journal::PgTls,
    pub ca_file: Option<PathBuf>,
}

impl JournalSection {
    /// Where the journal is, with the PostgreSQL password read; the error names the config key.
    pub fn location(&self) -> Result<crate::journal::Location, String> {
        let Some(pg) = &self.postgres else {
            return Ok(crate::journal::Location::Sqlite(self.path.clone()));
        };
        let password = match &pg.password {
            None => None,
            Some(secret) => {
                let key = match secret {
                    Secret::Env(_) => "password_env",
                    Secret::File(_) => "password_file",
                };
                let value = secret.read().map_err(|e| format!("[journal] {key}: {e}"))?;
                Some(value.expose().to_string())
            }
        };
        Ok(crate::journal::Location::Postgres(
            crate::journal::PgSettings {
                url: pg.url.clone(),
                password,
                tls: pg.tls,
                ca_file: pg.ca_file.clone(),
            },
        ))
    }
}

/// `[tracker]`: where ticket details and links come from.
#[derive(Clone, Debug, Default)]
pub enum TrackerSection {
    /// `kind = "none"` (the default): changesets come from git alone, no links.
    #[default]
    None,
    /// `kind = "links"`: URL templates with `{sha}` and `{ticket}`, no look-ups.
    Links {
        changeset_url: String,
        ticket_url: String,
    },
    /// `kind = "trac"`: a Trac over HTTP.
    Trac {
        /// The Trac environment's base URL, e.g. `https://trac.example.org/blog`.
        url: String,
        /// Log in through `/login` as this user (anonymous when absent).
        user: Option<String>,
        password: Option<Secret>,
        /// The longest bosun waits for the tracker per deploy. Default 3 s.
        timeout: Duration,
    },
}

/// Where a secret comes from (an environment variable or a file, never the config text).
pub use bosun_chat::Secret;

/// `[announce]`
#[derive(Clone, Debug)]
pub struct AnnounceSection {
    /// Changesets listed in a deploy announcement before "… and N more". Default 10.
    pub max_changesets: usize,
    /// Show each changeset author's e-mail address beside their name. Default false.
    pub show_email: bool,
    /// People named in the room when a deploy is undone after its retries were spent.
    pub alert: Vec<String>,
    /// Where the bot says what it finds on its own (drift, a journal older than the hosts)
    /// when no deploy of that environment names a room. Default: the chat's first room.
    pub room: Option<String>,
}

/// `[web]`: the read-only page the bot serves.
#[derive(Clone, Debug)]
pub struct WebSection {
    /// Where the page listens. Loopback unless access control is configured.
    pub listen: std::net::SocketAddr,
    /// The URL people reach the page at (announcements link to it), without a trailing `/`.
    pub public_url: Option<String>,
    /// A token readers must present (`Authorization: Bearer`, or `?token=` once, then a cookie).
    pub token: Option<Secret>,
    /// Basic auth: this user name with `password`.
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// `[redact]`: more secrets whose values never reach the journal, the page, exports or chat.
#[derive(Clone, Debug, Default)]
pub struct RedactSection {
    pub secrets: Vec<Secret>,
}

/// `[[people]]`: a person, the identities that are theirs in each chat system, and their roles.
#[derive(Clone, Debug)]
pub struct Person {
    pub name: String,
    /// network name (one of `crate::chat::NAMES`) → id in that network.
    /// The id `*` matches anyone on that network (handy for a terminal).
    pub identities: BTreeMap<String, String>,
    pub roles: Vec<String>,
}

/// `[roles.NAME]`: which actions a role grants, on `APP:ENV` patterns (`*` matches any name).
#[derive(Clone, Debug, Default)]
pub struct Role {
    /// Read what is deployed where and what would ship: `status`, `history`, `diff`, `where`.
    /// Every other action on a pattern grants reading it too.
    pub read: Vec<Pattern>,
    pub deploy: Vec<Pattern>,
    pub rollback: Vec<Pattern>,
    pub force: Vec<Pattern>,
    pub lock: Vec<Pattern>,
    pub unlock_others: Vec<Pattern>,
    pub admin: Vec<Pattern>,
}

/// An `APP:ENV` pattern; either side may be `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub app: String,
    pub env: String,
}

impl Pattern {
    pub fn matches(&self, app: &str, env: &str) -> bool {
        (self.app == "*" || self.app == app) && (self.env == "*" || self.env == env)
    }
}

/// One app's playbook: where its code comes from, where it goes, and how.
#[derive(Clone, Debug)]
pub struct Playbook {
    /// The file it was read from.
    pub path: PathBuf,
    pub app: AppSection,
    /// Variables for command templates, for every environment (an environment's own override).
    pub vars: BTreeMap<String, String>,
    /// In the order written.
    pub environments: Vec<Environment>,
    /// Every host named by any environment, with how to reach it.
    pub hosts: BTreeMap<String, HostSpec>,
    pub pipeline: Pipeline,
}

impl Playbook {
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
}

/// `[app]`
#[derive(Clone, Debug)]
pub struct AppSection {
    pub name: String,
    /// A local path (resolved against the playbook's directory) or a URL.
    pub repo: String,
    /// The deploy root on each host, e.g. `/srv/demo`. For a local host it is taken inside the
    /// host's directory.
    pub deploy_to: String,
    /// Releases kept on each host after a deploy (never fewer than 2). Default 5.
    pub keep_releases: usize,
    /// Paths under `shared/` linked into every release (e.g. `log`, `config/database.yml`).
    pub shared: Vec<String>,
    /// How many hosts are staged at once. Default 32.
    pub max_parallel: usize,
    /// The chat rooms this app may be deployed or rolled back from (room ids as the chat system
    /// names them). Empty: any room.
    pub rooms: Vec<String>,
    /// Free disk space each host's deploy root must have before anything is staged. Default 0
    /// (no check).
    pub min_free_bytes: u64,
    /// Where the list of changesets comes from: git (the default; the source of truth for what
    /// ships) or the tracker's log.
    pub changesets: ChangesetSource,
    /// Refuse to deploy when the tracker cannot give ticket details. Default false: the deploy
    /// goes on and the announcement says why details are missing.
    pub tracker_required: bool,
    /// Whether a rollback may go ahead when some hosts cannot be reached (it then switches the
    /// others and names the ones it skipped). Default false: it refuses.
    pub rollback_partial: bool,
    /// How a release is staged: from the host's live release by delta when it can be
    /// (`auto`, the default), or always from the full archive (`full`).
    pub staging: StagingMode,
    /// A delta larger than this share of the full archive (in percent) is not used: the host
    /// gets the full archive. Default 50.
    pub delta_max_percent: u32,
    /// How a delta-staged release starts from the live one: hard links (`link`: unchanged files
    /// are shared, so nothing may rewrite a shipped file in place), a copy (`copy`), or `auto`
    /// (the default: links when the pipeline has no build commands, a copy when it has).
    pub delta_copy: DeltaCopy,
    /// SSH connections started per second at most, across the fleet (a token bucket whose burst
    /// is the rate). Default 30.
    pub connect_rate: u32,
}

/// `staging = "auto" | "full"`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StagingMode {
    #[default]
    Auto,
    Full,
}

/// `delta_copy = "auto" | "link" | "copy"`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeltaCopy {
    #[default]
    Auto,
    Link,
    Copy,
}

/// `changesets = "git" | "tracker"`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChangesetSource {
    #[default]
    Git,
    Tracker,
}

/// `[environments.NAME]`
#[derive(Clone, Debug)]
pub struct Environment {
    pub name: String,
    /// The ref deployed when none is named. Default `main`.
    pub default_ref: String,
    /// Checks the deployed revision must pass, by name (`tag`, `on-staging`, `pushed`, `ci`,
    /// `verify`); every name is a valid `Check`. `window` and `freeze` need no listing.
    pub require: Vec<String>,
    /// The settings of those checks, which of them `deploy!` may skip, and the deploy windows.
    pub checks: super::checks::CheckSettings,
    /// Variables for command templates, over the playbook's `[vars]`.
    pub vars: BTreeMap<String, String>,
    /// Host groups in deploy order. `hosts = [...]` alone makes one group named `default`.
    pub groups: Vec<HostGroup>,
}

impl Environment {
    /// The same environment with only the hosts `keep` keeps (groups left empty dropped), in
    /// the same order: a partial rollback's reachable hosts, a repair's drifted ones.
    pub fn only(&self, keep: impl Fn(&str) -> bool) -> Environment {
        Environment {
            groups: self
                .groups
                .iter()
                .map(|g| HostGroup {
                    hosts: g.hosts.iter().filter(|h| keep(h)).cloned().collect(),
                    ..g.clone()
                })
                .filter(|g| !g.hosts.is_empty())
                .collect(),
            ..self.clone()
        }
    }
}

/// `[[environments.NAME.groups]]`
#[derive(Clone, Debug)]
pub struct HostGroup {
    pub name: String,
    pub hosts: Vec<String>,
    pub batch: Batch,
}

/// How many hosts of a group switch at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// The whole group at once (the default).
    All,
    Count(usize),
    /// A percentage of the group, rounded up, at least one host.
    Percent(u8),
}

impl Batch {
    /// The batch size for a group of `n` hosts (at least 1 when `n > 0`).
    pub fn size_for(self, n: usize) -> usize {
        let size = match self {
            Batch::All => n,
            Batch::Count(c) => c,
            Batch::Percent(p) => (n * p as usize).div_ceil(100),
        };
        size.clamp(1, n.max(1))
    }
}

/// `[hosts.NAME]`: how to reach a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostSpec {
    /// A directory on this machine; `deploy_to` is taken inside it. Default
    /// `<state_dir>/hosts/<name>` for a host with no entry.
    Local { root: PathBuf },
    /// `address = "…"`: a host reached over SSH, through one multiplexed master connection.
    Ssh(SshSpec),
}

impl HostSpec {
    /// The host's network address, for `{address}` in templates (`127.0.0.1` for a local host).
    pub fn address(&self) -> String {
        match self {
            HostSpec::Local { .. } => "127.0.0.1".to_string(),
            HostSpec::Ssh(ssh) => ssh.address.clone(),
        }
    }
}

/// An SSH host: its own `[hosts.NAME]` keys over the playbook's `[ssh]` defaults.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SshSpec {
    /// A host name or IP address (never starting with `-`).
    pub address: String,
    /// Default 22.
    pub port: u16,
    /// The remote user; default: ssh's own (the local user name).
    pub user: Option<String>,
    /// The private key (unencrypted, or held by an agent); default: ssh's own.
    pub identity: Option<PathBuf>,
    /// The only known_hosts file consulted; default: ssh's own (`~/.ssh/known_hosts`).
    /// Host keys are always checked strictly: an unknown or changed key refuses the host.
    pub known_hosts: Option<PathBuf>,
    /// The longest the TCP connection and SSH handshake may take. Default 10 s.
    pub connect_timeout: Duration,
    /// Keep-alive interval on an idle connection (`ServerAliveInterval`). Default 15 s.
    pub keepalive: Duration,
    /// How long the master connection stays open unused, for the next deploy or rollback.
    /// Default 10 minutes.
    pub idle: Duration,
    /// Compress the connection (helps on slow links, costs CPU on fast ones). Default false.
    pub compression: bool,
    /// This host's deploy root when it is not the playbook's `deploy_to`.
    pub deploy_to: Option<String>,
}

/// `[pipeline]`: what runs, in which order, on each host.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    /// Run in the new release directory on every host while staging.
    pub build: Vec<CommandSpec>,
    pub migrate: Option<Migrate>,
    /// Run in the release directory after each switch.
    pub restart: Option<CommandSpec>,
    pub health: Option<HealthCheck>,
    pub lb: Option<LoadBalancer>,
    /// `maintenance = { up = "...", down = "..." }`: run on every host around migrations.
    pub maintenance: Option<Maintenance>,
    /// Run on one host before a rollback migrates down; `{backup_path}` names where its output
    /// goes, and that path is journaled.
    pub backup: Option<CommandSpec>,
    /// `smoke = { before = [...], after = [...] }`: commands run on the bot's machine before
    /// anything is staged (pre-conditions) and after the switch (post-conditions; a failure
    /// rolls the fleet back).
    pub smoke_before: Vec<CommandSpec>,
    pub smoke_after: Vec<CommandSpec>,
    /// How many times a step that failed for a passing reason (a timeout, a dropped
    /// connection) is tried again, with back-off, before the deploy is undone. Default 2.
    pub retries: u32,
    /// The longest any one pipeline command may run. Default 10 minutes.
    pub command_timeout: Duration,
}

/// `migrate = { up = "...", down = "...", once = true }`
#[derive(Clone, Debug)]
pub struct Migrate {
    pub up: CommandSpec,
    pub down: Option<CommandSpec>,
    /// Run on the first host only (the usual case: one database). Default true.
    pub once: bool,
}

/// `health = { command = "...", retries = 3, interval = "1s", timeout = "10s" }`
#[derive(Clone, Debug)]
pub struct HealthCheck {
    /// What is checked: a command on the host, or an HTTP GET from the bot.
    pub probe: HealthProbe,
    /// Attempts after the first failure. Default 3.
    pub retries: u32,
    /// Wait between attempts. Default 1 s.
    pub interval: Duration,
    /// The longest one attempt may take. Default 10 s.
    pub timeout: Duration,
}

/// How a health check looks at a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthProbe {
    /// `command = "..."`: run in the new release directory on the host; exit 0 is healthy.
    Command(CommandSpec),
    /// `http = "http://{address}:8080/health"`: a GET from the bot; a 2xx answer is healthy.
    /// `{host}` and `{address}` are substituted.
    Http(String),
}

/// `maintenance = { up = "...", down = "..." }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Maintenance {
    pub up: CommandSpec,
    pub down: CommandSpec,
}

/// `lb = { out = "...", in = "..." }`: take a host out of the load balancer before its switch
/// and put it back after a healthy check. Run on the host, in the release directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    pub out: CommandSpec,
    pub into: CommandSpec,
}

/// A command as the playbook wrote it: an argument vector whose words may hold template variables
/// such as `{release_path}`. A string in the file is split into words like a shell would split
/// it (quotes group, nothing is expanded); an array is taken word for word. Substitution replaces
/// text inside one word and never re-splits it, so no value can become a second argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    pub argv: Vec<String>,
}

impl CommandSpec {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CommandSpec {
            argv: argv.into_iter().map(Into::into).collect(),
        }
    }

    /// The words with `{name}` replaced by `vars[name]`; unknown names are left as written.
    pub fn render(&self, vars: &BTreeMap<String, String>) -> Vec<String> {
        self.argv
            .iter()
            .map(|word| render_word(word, vars))
            .collect()
    }
}

fn render_word(word: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if vars.contains_key(&after[..close]) => {
                out.push_str(&vars[&after[..close]]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes() {
        assert_eq!(Batch::All.size_for(5), 5);
        assert_eq!(Batch::Count(2).size_for(5), 2);
        assert_eq!(Batch::Count(9).size_for(5), 5);
        assert_eq!(Batch::Percent(25).size_for(5), 2);
        assert_eq!(Batch::Percent(1).size_for(5), 1);
    }

    #[test]
    fn render_substitutes_inside_one_word_only() {
        let vars = BTreeMap::from([
            ("release_path".to_string(), "/srv/x/releases/1".to_string()),
            ("evil".to_string(), "a b; $(reboot)".to_string()),
        ]);
        let cmd = CommandSpec::new(["echo", "{release_path}/bin", "{evil}", "{unknown}", "{"]);
        assert_eq!(
            cmd.render(&vars),
            vec![
                "echo",
                "/srv/x/releases/1/bin",
                "a b; $(reboot)",
                "{unknown}",
                "{"
            ]
        );
    }
}
