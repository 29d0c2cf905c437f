//! The demo app deployed over SSH: a `DemoApp` (repository, bosun.toml) whose playbook reaches a `Fleet` of sshd hosts, in groups and batches.

use std::path::PathBuf;
use std::sync::Arc;

use bosun::config::Config;

use super::app::{AppOptions, DemoApp};
use super::sshd::Fleet;

/// How the SSH playbook deploys.
pub struct SshOptions {
    /// Hosts in the fleet.
    pub hosts: usize,
    /// Groups in order: name, how many hosts (taken in order), batch size.
    pub groups: Vec<(&'static str, usize, Option<usize>)>,
    /// The health check command line.
    pub health: String,
    /// Extra lines for the top of the playbook (e.g. a `[vars]` table).
    pub head: String,
    /// The build commands (a TOML array of commands).
    pub build: String,
    /// Extra `[environments.staging]` lines (e.g. `vars = …`).
    pub env_extra: String,
    /// Extra `[pipeline]` lines (e.g. `migrate = …`).
    pub pipeline_extra: String,
    /// Extra bosun.toml text (e.g. a `[journal]` table).
    pub config_extra: String,
    /// The restart command line.
    pub restart: String,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            hosts: 6,
            groups: vec![("edge", 1, None), ("app", 5, Some(2))],
            health: "test -f REVISION".into(),
            head: String::new(),
            build: r#"[["sh", "-c", "echo built {revision} for {host} > BUILT"]]"#.into(),
            env_extra: String::new(),
            pipeline_extra: String::new(),
            config_extra: String::new(),
            restart: "true".into(),
        }
    }
}

/// A demo app and the sshd fleet it deploys to.
pub struct SshApp {
    pub app: DemoApp,
    pub fleet: Fleet,
}

impl SshApp {
    pub fn new(options: SshOptions) -> SshApp {
        let app = DemoApp::new(AppOptions {
            config_extra: options.config_extra.clone(),
            ..AppOptions::default()
        });
        let fleet = Fleet::start(options.hosts);
        let ssh = SshApp { app, fleet };
        ssh.write_playbook(&options);
        ssh
    }

    fn write_playbook(&self, o: &SshOptions) {
        let root = self.app.path().display().to_string();
        let names = self.fleet.names();
        let mut groups = String::new();
        let mut taken = 0;
        for (name, count, batch) in &o.groups {
            let hosts: Vec<String> = names[taken..taken + count]
                .iter()
                .map(|h| format!("{h:?}"))
                .collect();
            taken += count;
            groups.push_str(&format!(
                "[[environments.staging.groups]]\nname = {name:?}\nhosts = [{}]\n{}\n",
                hosts.join(", "),
                batch.map(|b| format!("batch = {b}\n")).unwrap_or_default()
            ));
        }
        let entries: String = names.iter().map(|h| self.fleet.host_entry(h)).collect();
        let text = format!(
            r#"[app]
name = "demo"
repo = "{root}/origin"
deploy_to = "/srv/demo"
keep_releases = 5
shared = ["log"]

{head}
{ssh}
[environments.staging]
default_ref = "main"
{env_extra}

{groups}
{entries}
[pipeline]
build = {build}
restart = {restart:?}
health = {{ command = {health:?}, retries = 1, interval = "50ms", timeout = "10s" }}
{pipeline_extra}
"#,
            head = o.head,
            ssh = self.fleet.ssh_table(),
            env_extra = o.env_extra,
            build = o.build,
            health = o.health,
            restart = o.restart,
            pipeline_extra = o.pipeline_extra,
        );
        std::fs::write(self.app.path().join("playbooks/demo.toml"), text).unwrap();
    }

    pub fn config(&self) -> Arc<Config> {
        self.app.config()
    }

    pub fn deploy_root(&self, host: &str) -> PathBuf {
        self.fleet.deploy_root(host)
    }

    /// The release `current` points at on `host`.
    pub fn current(&self, host: &str) -> Option<String> {
        let target = std::fs::read_link(self.deploy_root(host).join("current")).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// The release directories on `host` (with any `.partial`), sorted.
    pub fn releases(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.deploy_root(host).join("releases"))
            .map(|dir| {
                dir.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The revision `current` says it is on `host`.
    pub fn live_revision(&self, host: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.deploy_root(host).join("current/REVISION")).ok()?;
        Some(text.trim().to_string())
    }
}
