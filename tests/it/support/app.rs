//! A demo app made for one test: a real git repository, a bosun.toml and a playbook, and local hosts in a temp dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bosun::config::{self, Config};
use bosun::source::testing::TestRepo;
use tempfile::TempDir;

/// How the test's playbook deploys.
pub struct AppOptions {
    pub hosts: Vec<&'static str>,
    pub keep_releases: usize,
    /// The health check command line (split into words like a shell would).
    pub health: String,
    /// The restart command line.
    pub restart: String,
    /// Extra `[pipeline]` lines (e.g. `migrate = …`).
    pub pipeline_extra: String,
    /// Batch size of the one group.
    pub batch: Option<usize>,
    /// Replaces the whole `health = …` line when set.
    pub health_line: Option<String>,
    /// Extra `[app]` lines (e.g. `min_free = …`).
    pub app_extra: String,
    /// Extra `build` commands (TOML values) after the default one.
    pub build_extra: Vec<String>,
    /// Extra bosun.toml text (e.g. a `[tracker]` table, an `[announce]` table).
    pub config_extra: String,
    /// Extra playbook text at its end (e.g. another `[environments.NAME]` table); `@ROOT@`
    /// stands for the app's temp dir.
    pub playbook_extra: String,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            hosts: vec!["h1", "h2"],
            keep_releases: 5,
            health: "test -f REVISION".into(),
            restart: "true".into(),
            pipeline_extra: String::new(),
            batch: None,
            health_line: None,
            app_extra: String::new(),
            build_extra: Vec::new(),
            config_extra: String::new(),
            playbook_extra: String::new(),
        }
    }
}

/// A temp dir holding `origin/` (the app's repository), `bosun.toml`, `playbooks/demo.toml`,
/// `var/` (bosun's state) and `hosts/<name>/` (the local hosts).
pub struct DemoApp {
    pub dir: TempDir,
    pub repo: TestRepo,
    pub config_path: PathBuf,
    /// Shas of the three first commits, oldest first; the second is tagged `v1.0`.
    pub history: Vec<String>,
}

impl DemoApp {
    /// Three commits by two authors (alice, bob), the second tagged `v1.0`.
    pub fn new(options: AppOptions) -> DemoApp {
        let dir = tempfile::Builder::new()
            .prefix("bosun-it-")
            .tempdir()
            .expect("a temp dir");
        let repo = TestRepo::new(&dir.path().join("origin"));
        let c1 = repo.commit(
            "Alice Liddell",
            "alice@example.org",
            "Start the demo app",
            &[("index.html", "<h1>demo</h1>\n")],
        );
        let c2 = repo.commit(
            "Bob Builder",
            "bob@example.org",
            "Add a health page (refs #2)",
            &[("health", "ok\n")],
        );
        repo.tag("v1.0", &c2, true);
        let c3 = repo.commit(
            "Alice Liddell",
            "alice@example.org",
            "Fix the title",
            &[("index.html", "<h1>Demo</h1>\n")],
        );
        let app = DemoApp {
            config_path: dir.path().join("bosun.toml"),
            dir,
            repo,
            history: vec![c1, c2, c3],
        };
        app.write_config(&options);
        app
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self, o: &AppOptions) {
        let root = self.path().display().to_string();
        std::fs::create_dir_all(self.path().join("playbooks")).unwrap();
        std::fs::write(
            &self.config_path,
            o.config_extra.clone()
                + r#"[bot]
name = "bosun"
state_dir = "var"
playbooks = ["playbooks/demo.toml"]

[chat]
adapter = "console"

[[people]]
name = "alice"
console = "alice"
roles = ["deployer"]

[[people]]
name = "bob"
console = "bob"
roles = ["deployer"]

[[people]]
name = "carol"
console = "carol"
roles = ["admin"]

[roles.admin]
admin = ["*:*"]

[roles.deployer]
deploy = ["*:*"]
rollback = ["*:*"]
lock = ["*:*"]
"#,
        )
        .unwrap();
        let hosts: Vec<String> = o.hosts.iter().map(|h| format!("{h:?}")).collect();
        let host_entries: String = o
            .hosts
            .iter()
            .map(|h| format!("[hosts.{h}]\nroot = \"{root}/hosts/{h}\"\n\n"))
            .collect();
        let batch = o
            .batch
            .map(|b| format!("batch = {b}\n"))
            .unwrap_or_default();
        std::fs::write(
            self.path().join("playbooks/demo.toml"),
            format!(
                r#"[app]
name = "demo"
repo = "{root}/origin"
deploy_to = "/srv/demo"
keep_releases = {keep}
shared = ["log"]
{app_extra}

[environments.staging]
default_ref = "main"

[[environments.staging.groups]]
name = "web"
hosts = [{hosts}]
{batch}
{host_entries}
[pipeline]
build = [["sh", "-c", "echo built {{revision}} for {{host}} > BUILT"]{build_extra}]
restart = {restart:?}
{health}
{extra}

{playbook_extra}
"#,
                keep = o.keep_releases,
                hosts = hosts.join(", "),
                restart = o.restart,
                health = o.health_line.clone().unwrap_or_else(|| format!(
                    "health = {{ command = {:?}, retries = 1, interval = \"50ms\", timeout = \"10s\" }}",
                    o.health
                )),
                app_extra = o.app_extra,
                playbook_extra = o.playbook_extra.replace("@ROOT@", &root),
                build_extra = o.build_extra.iter().map(|b| format!(", {b}")).collect::<String>(),
                extra = o.pipeline_extra,
            ),
        )
        .unwrap();
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::new(
            config::load(&self.config_path)
                .unwrap_or_else(|e| panic!("the test config loads:\n{e}")),
        )
    }

    /// The deploy root of a host.
    pub fn deploy_root(&self, host: &str) -> PathBuf {
        self.path().join("hosts").join(host).join("srv/demo")
    }

    /// The release `current` points at on `host`.
    pub fn current(&self, host: &str) -> Option<String> {
        let target = std::fs::read_link(self.deploy_root(host).join("current")).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// The release directories on `host`, sorted.
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

    /// The revision the release `current` points at on `host` says it is.
    pub fn live_revision(&self, host: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.deploy_root(host).join("current/REVISION")).ok()?;
        Some(text.trim().to_string())
    }

    /// A new commit on main by `author`.
    pub fn commit(&mut self, author: &str, subject: &str) -> String {
        let sha = self.repo.commit(
            author,
            &format!("{}@example.org", author.to_lowercase()),
            subject,
            &[("CHANGES", subject)],
        );
        self.history.push(sha.clone());
        sha
    }

    /// The journal path of this app's bot.
    pub fn journal_path(&self) -> PathBuf {
        self.path().join("var/journal.sqlite")
    }
}

/// The release name an announcement names (`… · release NAME · journal #N`).
pub fn release_in(text: &str) -> String {
    let after = text
        .split("release ")
        .nth(1)
        .expect("the announcement names the release");
    after.split_whitespace().next().unwrap().to_string()
}

/// The journal id a result line names (`Journal #N.`).
pub fn journal_id_in(text: &str) -> i64 {
    let after = text.rsplit('#').next().expect("a journal id");
    after
        .trim_end_matches('.')
        .trim()
        .parse()
        .expect("a number")
}
