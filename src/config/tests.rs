//! Tests of loading whole files: the shipped examples, defaults, and the exact report of each kind of mistake.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::keys::{self, Documented};
use super::*;

/// A directory of config files; reports show it as `DIR`.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    fn shown(&self, error: ConfigError) -> String {
        error
            .to_string()
            .replace(&self.dir.path().display().to_string(), "DIR")
    }

    /// The report for a playbook `blog.toml` with this text.
    fn playbook_errors(&self, text: &str) -> String {
        let path = self.write("blog.toml", text);
        match load_playbook(&path, &self.path("var")) {
            Ok(playbook) => panic!("loaded {playbook:#?}"),
            Err(error) => self.shown(error),
        }
    }

    /// The report for a `bosun.toml` with this text (beside a valid `blog.toml`).
    fn config_errors(&self, text: &str) -> String {
        self.write("blog.toml", BLOG);
        let path = self.write("bosun.toml", text);
        match load(&path) {
            Ok(config) => panic!("loaded {config:#?}"),
            Err(error) => self.shown(error),
        }
    }
}

/// A valid playbook.
const BLOG: &str = r#"[app]
name = "blog"
repo = "/srv/git/blog.git"
deploy_to = "/srv/blog"

[environments.staging]
hosts = ["staging1"]
"#;

/// A valid bosun.toml naming `blog.toml`.
const BOSUN: &str = r#"[bot]
playbooks = ["blog.toml"]
"#;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_example_config_and_demo_playbook_load() {
    let root = manifest_dir();
    let config = load(&root.join("config.example.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.bot.name, "bosun");
    assert_eq!(config.bot.state_dir, root.join("var"));
    assert_eq!(config.chat.adapter, "console");
    assert_eq!(config.chat.console.user, None);
    assert_eq!(config.journal.path, root.join("var/journal.sqlite"));
    assert!(matches!(config.tracker, TrackerSection::None));
    assert_eq!(config.announce.max_changesets, 10);
    assert_eq!(config.people.len(), 1);
    assert_eq!(
        config.people[0]
            .identities
            .get("console")
            .map(String::as_str),
        Some("*")
    );
    let role = &config.roles[&config.people[0].roles[0]];
    let everything = vec![Pattern {
        app: "*".into(),
        env: "*".into(),
    }];
    for grant in [
        &role.deploy,
        &role.rollback,
        &role.force,
        &role.lock,
        &role.unlock_others,
        &role.admin,
    ] {
        assert_eq!(grant, &everything);
    }

    let demo = config.playbook("demo").expect("the demo playbook");
    assert_eq!(demo.path, root.join("playbooks/demo.toml"));
    assert_eq!(demo.app.repo, root.display().to_string());
    assert_eq!(demo.app.deploy_to, "/srv/demo");
    assert_eq!(demo.app.keep_releases, 5);
    assert_eq!(demo.app.shared, ["log"]);
    let names: Vec<&str> = demo.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["staging", "live"]);
    let staging = demo.environment("staging").expect("staging");
    assert_eq!(staging.default_ref, "HEAD");
    assert_eq!(staging.groups.len(), 1);
    assert_eq!(staging.groups[0].hosts, ["staging1", "staging2"]);
    assert_eq!(staging.groups[0].batch, Batch::All);
    let live = demo.environment("live").expect("live");
    assert_eq!(live.default_ref, "HEAD");
    let groups: Vec<(&str, &[String], Batch)> = live
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.hosts.as_slice(), g.batch))
        .collect();
    assert_eq!(groups[0], ("static", &["cdn1".to_string()][..], Batch::All));
    assert_eq!(groups[1].0, "app");
    assert_eq!(groups[1].1, ["web1", "web2", "web3"]);
    assert_eq!(groups[1].2, Batch::Count(2));
    assert_eq!(demo.hosts.len(), 6);
    assert_eq!(
        demo.hosts["web2"],
        HostSpec::Local {
            root: root.join("var/hosts/web2")
        }
    );

    let pipeline = &demo.pipeline;
    assert_eq!(
        pipeline.build,
        [CommandSpec::new([
            "sh",
            "-c",
            "echo \"built {revision} for {env}\" > BUILD-INFO"
        ])]
    );
    assert_eq!(pipeline.restart, Some(CommandSpec::new(["true"])));
    let health = pipeline.health.as_ref().expect("a health check");
    assert_eq!(
        health.probe,
        crate::config::HealthProbe::Command(CommandSpec::new(["test", "-f", "REVISION"]))
    );
    assert_eq!(
        (health.retries, health.interval, health.timeout),
        (2, Duration::from_millis(200), Duration::from_secs(5))
    );
    assert_eq!(pipeline.command_timeout, Duration::from_secs(600));
}

#[test]
fn paths_in_reports_are_the_config_path_joined_with_the_playbook_as_named() {
    // Cargo runs tests in the package's directory.
    let config = load(Path::new("config.example.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.path, PathBuf::from("config.example.toml"));
    assert_eq!(
        config.playbooks[0].path,
        PathBuf::from("playbooks/demo.toml")
    );

    let files = Files::new();
    files.write("sub/.keep", "");
    files.write("other/blog.toml", "[app]\nname = 5\n");
    let config = files.write(
        "bosun.toml",
        "[bot]\nplaybooks = [\"sub/../other/blog.toml\"]\n",
    );
    let error = load(&config).unwrap_err();
    assert_eq!(error.problems[0].file, files.path("sub/../other/blog.toml"));
}

#[test]
fn docs_cannot_rot_every_key_is_in_the_examples() {
    let root = manifest_dir();
    let config =
        std::fs::read_to_string(root.join("config.example.toml")).expect("config.example.toml");
    let playbook =
        std::fs::read_to_string(root.join("playbooks/demo.toml")).expect("playbooks/demo.toml");
    let text = |documented| match documented {
        Documented::Config => (&config, "config.example.toml"),
        Documented::Playbook => (&playbook, "playbooks/demo.toml"),
    };
    let mut missing = Vec::new();
    for (documented, table, names) in keys::all() {
        let (text, file) = text(documented);
        for name in names {
            if !mentions_key(text, name) {
                missing.push(format!("{file}: {table}.{name}"));
            }
        }
    }
    for (documented, key, words) in keys::choices() {
        let (text, file) = text(documented);
        for word in words {
            if !text.contains(&format!("{key} = \"{word}\""))
                && !text.contains(&format!("\"{word}\""))
            {
                missing.push(format!("{file}: {key} = {word:?}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

#[test]
fn the_docs_check_finds_keys_and_headers_only() {
    assert!(mentions_key("name = 1", "name"));
    assert!(mentions_key("# name = 1", "name"));
    assert!(mentions_key("x = { name = 1 }", "name"));
    assert!(mentions_key("[[environments.live.groups]]", "groups"));
    assert!(mentions_key("[chat.console]", "console"));
    assert!(mentions_key("[bot]", "bot"));
    assert!(!mentions_key("username = 1", "name"));
    assert!(!mentions_key("names = 1", "name"));
    assert!(!mentions_key("the name of it", "name"));
    assert!(!mentions_key("console = \"*\"", "consol"));
}

/// Whether `text` has `name` as a key: `name =`, or inside a header: `[name]`, `[name.`, `.name]`.
fn mentions_key(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = &text[at + name.len()..];
        let word_start = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let in_header =
            matches!(before, Some('[' | '.')) && (after.starts_with(']') || after.starts_with('.'));
        word_start && (after.starts_with(" =") || in_header)
    })
}

#[test]
fn defaults_fill_in_what_is_not_written() {
    let files = Files::new();
    files.write("blog.toml", BLOG);
    let config = load(&files.write("bosun.toml", BOSUN)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.bot.name, "bosun");
    assert_eq!(config.bot.state_dir, files.path("var"));
    assert_eq!(config.journal.path, files.path("var/journal.sqlite"));
    assert!(config.people.is_empty() && config.roles.is_empty());
    let blog = &config.playbooks[0];
    assert_eq!((blog.app.keep_releases, blog.app.max_parallel), (5, 32));
    assert!(blog.vars.is_empty() && blog.app.shared.is_empty());
    let staging = &blog.environments[0];
    assert_eq!(staging.default_ref, "main");
    assert_eq!(staging.groups[0].name, "default");
    assert_eq!(
        blog.hosts["staging1"],
        HostSpec::Local {
            root: files.path("var/hosts/staging1")
        }
    );
    assert!(blog.pipeline.build.is_empty() && blog.pipeline.health.is_none());
    assert_eq!(blog.pipeline.command_timeout, Duration::from_secs(600));
}

#[test]
fn a_full_config_fills_every_section() {
    let files = Files::new();
    files.write("blog.toml", BLOG);
    let text = r#"
[bot]
name = "shipit"
state_dir = "/var/lib/bosun"
playbooks = ["blog.toml"]
[chat.console]
user = "carol"
[journal]
path = "journal.db"
[tracker]
kind = "trac"
url = "https://trac.example.org/blog"
user = "bosun"
password_file = "secrets/trac"
timeout = "2s"
[[people]]
name = "alice"
xmpp = "alice@example.org"
slack = "U024BE7LH"
roles = ["deployer"]
[roles.deployer]
deploy = ["*:staging", "blog:live"]
"#;
    let config = load(&files.write("bosun.toml", text)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.bot.name, "shipit");
    assert_eq!(config.bot.state_dir, PathBuf::from("/var/lib/bosun"));
    assert_eq!(config.chat.console.user.as_deref(), Some("carol"));
    assert_eq!(config.journal.path, files.path("journal.db"));
    match &config.tracker {
        TrackerSection::Trac {
            url,
            user,
            password,
            timeout,
        } => {
            assert_eq!(url, "https://trac.example.org/blog");
            assert_eq!(user.as_deref(), Some("bosun"));
            assert_eq!(password, &Some(Secret::File(files.path("secrets/trac"))));
            assert_eq!(*timeout, Duration::from_secs(2));
        }
        other => panic!("{other:?}"),
    }
    let alice = &config.people[0];
    assert_eq!(alice.identities.len(), 2);
    assert_eq!(alice.identities["slack"], "U024BE7LH");
    assert_eq!(
        config.roles["deployer"].deploy,
        [
            Pattern {
                app: "*".into(),
                env: "staging".into()
            },
            Pattern {
                app: "blog".into(),
                env: "live".into()
            }
        ]
    );
}

#[test]
fn a_playbook_reads_every_option() {
    let files = Files::new();
    let text = r#"
[app]
name = "blog"
repo = "https://git.example.org/blog.git"
deploy_to = "/srv/blog"
keep_releases = 2
shared = ["log", "config/database.yml"]
max_parallel = 4
[vars]
port = "8080"
[environments.staging]
hosts = ["s1"]
require = ["tag"]
vars = { port = "9090" }
[[environments.live.groups]]
name = "app"
hosts = ["web1", "web2", "web3", "web4"]
batch = "25%"
[hosts.web1]
root = "hosts/w1"
[hosts.unused]
root = "/nowhere"
[pipeline]
build = ["make 'all assets'", ["npm", "run", "build"]]
migrate = { up = "bin/migrate up", down = "bin/migrate down", once = false }
health = { command = ["curl", "-f", "http://127.0.0.1/health"] }
command_timeout = "90s"
"#;
    let path = files.write("blog.toml", text);
    let blog = load_playbook(&path, &files.path("state")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(blog.app.repo, "https://git.example.org/blog.git");
    assert_eq!(blog.app.shared, ["log", "config/database.yml"]);
    assert_eq!((blog.app.keep_releases, blog.app.max_parallel), (2, 4));
    assert_eq!(blog.vars["port"], "8080");
    let staging = blog.environment("staging").expect("staging");
    assert_eq!(
        (staging.require.as_slice(), staging.vars["port"].as_str()),
        (&["tag".to_string()][..], "9090")
    );
    assert_eq!(
        blog.environment("live").expect("live").groups[0].batch,
        Batch::Percent(25)
    );
    assert_eq!(
        blog.hosts["web1"],
        HostSpec::Local {
            root: files.path("hosts/w1")
        }
    );
    assert_eq!(
        blog.hosts["web2"],
        HostSpec::Local {
            root: files.path("state/hosts/web2")
        }
    );
    assert_eq!(
        blog.hosts["unused"],
        HostSpec::Local {
            root: PathBuf::from("/nowhere")
        }
    );
    let pipeline = &blog.pipeline;
    assert_eq!(
        pipeline.build,
        [
            CommandSpec::new(["make", "all assets"]),
            CommandSpec::new(["npm", "run", "build"])
        ]
    );
    let migrate = pipeline.migrate.as_ref().expect("migrate");
    assert_eq!(migrate.up, CommandSpec::new(["bin/migrate", "up"]));
    assert_eq!(
        migrate.down,
        Some(CommandSpec::new(["bin/migrate", "down"]))
    );
    assert!(!migrate.once);
    let health = pipeline.health.as_ref().expect("health");
    assert_eq!(
        (health.retries, health.interval, health.timeout),
        (3, Duration::from_secs(1), Duration::from_secs(10))
    );
    assert_eq!(pipeline.command_timeout, Duration::from_secs(90));
}

#[test]
fn a_missing_key_points_at_the_table_that_lacks_it() {
    let files = Files::new();
    let text = "[app]\nrepo = \"/r\"\ndeploy_to = \"/srv/blog\"\n[environments.staging]\nhosts = [\"s1\"]\n";
    assert_eq!(
        files.playbook_errors(text),
        "DIR/blog.toml:1:1: app.name: missing; expected a string"
    );
    assert_eq!(
        files.playbook_errors("[environments.staging]\nhosts = [\"s1\"]\n"),
        "DIR/blog.toml:1:1: app: missing; expected a table"
    );
    assert_eq!(
        files.config_errors("[chat]\n"),
        "DIR/bosun.toml:1:1: bot.playbooks: missing; expected an array of playbook files"
    );
}

#[test]
fn a_wrong_type_names_both_types() {
    let files = Files::new();
    let text = BLOG.replace("name = \"blog\"", "name = 5");
    assert_eq!(
        files.playbook_errors(&text),
        "DIR/blog.toml:2:8: app.name: expected a string, found an integer"
    );
    let text = format!("{BLOG}[pipeline]\nbuild = \"make\"\n");
    assert_eq!(
        files.playbook_errors(&text),
        "DIR/blog.toml:9:9: pipeline.build: expected an array, found a string"
    );
}

#[test]
fn an_unknown_key_gets_a_did_you_mean_or_the_allowed_keys() {
    let files = Files::new();
    let text = format!(
        "{BLOG}[[environments.live.groups]]\nname = \"app\"\nhosts = [\"web1\"]\nbacth = 2\ncolour = \"red\"\n"
    );
    assert_eq!(
        files.playbook_errors(&text),
        "DIR/blog.toml:11:1: environments.live.groups[0].bacth: unknown key \"bacth\"; did you mean \"batch\"?\n\
         DIR/blog.toml:12:1: environments.live.groups[0].colour: unknown key \"colour\"; expected one of: name, hosts, batch"
    );
}

#[test]
fn bad_batches_are_all_reported_in_one_pass() {
    let files = Files::new();
    let mut text = BLOG.to_string();
    for (i, batch) in ["0", "-1", "\"150%\"", "\"abc\"", "\"0%\"", "1.5"]
        .iter()
        .enumerate()
    {
        text.push_str(&format!(
            "[[environments.live.groups]]\nname = \"g{i}\"\nhosts = [\"h{i}\"]\nbatch = {batch}\n"
        ));
    }
    let expected = r#"expected a positive number or a percentage like "25%""#;
    assert_eq!(
        files.playbook_errors(&text),
        format!(
            "DIR/blog.toml:11:9: environments.live.groups[0].batch: {expected}, found 0\n\
             DIR/blog.toml:15:9: environments.live.groups[1].batch: {expected}, found -1\n\
             DIR/blog.toml:19:9: environments.live.groups[2].batch: {expected}, found \"150%\"\n\
             DIR/blog.toml:23:9: environments.live.groups[3].batch: {expected}, found \"abc\"\n\
             DIR/blog.toml:27:9: environments.live.groups[4].batch: {expected}, found \"0%\"\n\
             DIR/blog.toml:31:9: environments.live.groups[5].batch: {expected}, found 1.5"
        )
    );
}

#[test]
fn the_brief_example_is_reported_word_for_word() {
    let files = Files::new();
    let blog = "[app]\nname = \"blog\"\nrepo = \"/r\"\ndeploy_to = \"/srv/blog\"\n\n\
                [[environments.live.groups]]\nname = \"static\"\nhosts = [\"cdn1\"]\n\n\
                [[environments.live.groups]]\nname = \"app\"\nhosts = [\"web1\", \"web2\"]\n\n\
                batch = -1\n";
    files.write("playbooks/blog.toml", blog);
    let config = files.write(
        "bosun.toml",
        "[bot]\nplaybooks = [\"playbooks/blog.toml\"]\n",
    );
    let error = load(&config).unwrap_err();
    assert_eq!(
        files.shown(error),
        "DIR/playbooks/blog.toml:14:9: environments.live.groups[1].batch: \
         expected a positive number or a percentage like \"25%\", found -1"
    );
}

#[test]
fn bad_durations() {
    let files = Files::new();
    let text = format!(
        "{BLOG}[pipeline]\ncommand_timeout = \"0s\"\nhealth = {{ command = \"true\", interval = \"3 parsecs\", timeout = 10 }}\n"
    );
    assert_eq!(
        files.playbook_errors(&text),
        "DIR/blog.toml:9:19: pipeline.command_timeout: expected a duration longer than zero like \"3s\" or \"500ms\", found \"0s\"\n\
         DIR/blog.toml:10:41: pipeline.health.interval: expected a duration like \"3s\" or \"500ms\", found \"3 parsecs\"\n\
         DIR/blog.toml:10:64: pipeline.health.timeout: expected a duration like \"3s\" or \"500ms\", found 10"
    );
}

#[test]
fn a_missing_playbook_points_at_its_entry() {
    let files = Files::new();
    let text = "[bot]\nplaybooks = [\"blog.toml\", \"playbooks/nope.toml\"]\n";
    assert_eq!(
        files.config_errors(text),
        "DIR/bosun.toml:2:27: bot.playbooks[1]: no such file: playbooks/nope.toml"
    );
    assert_eq!(
        files.config_errors("[bot]\nplaybooks = []\n"),
        "DIR/bosun.toml:2:13: bot.playbooks: expected at least one playbook file, found an empty array"
    );
}

#[test]
fn a_playbook_named_twice_points_at_the_second_entry() {
    let files = Files::new();
    let text = "[bot]\nplaybooks = [\"blog.toml\", \"./blog.toml\"]\n";
    assert_eq!(
        files.config_errors(text),
        "DIR/bosun.toml:2:27: bot.playbooks[1]: ./blog.toml is already named by bot.playbooks[0]"
    );
}

#[test]
fn an_unreadable_config_is_reported_without_a_position() {
    let files = Files::new();
    let error = load(&files.path("absent.toml")).unwrap_err();
    assert_eq!(files.shown(error), "DIR/absent.toml: no such file");
}

#[test]
fn syntax_errors_are_reported_with_their_position() {
    let files = Files::new();
    assert_eq!(
        files.config_errors("[bot]\nplaybooks = [\"blog.toml\"]\nname = \n"),
        "DIR/bosun.toml:3:8: string values must be quoted, expected literal string"
    );
}

#[test]
fn hosts_and_groups_pointing_nowhere_are_fine_but_roles_must_exist() {
    let files = Files::new();
    let text = r#"[bot]
playbooks = ["blog.toml"]
[[people]]
name = "alice"
console = "alice"
roles = ["deployer", "deployr", "ops"]
[roles.deployer]
deploy = ["*:staging"]
"#;
    assert_eq!(
        files.config_errors(text),
        "DIR/bosun.toml:6:22: people[0].roles[1]: unknown role \"deployr\"; did you mean \"deployer\"?\n\
         DIR/bosun.toml:6:33: people[0].roles[2]: unknown role \"ops\"; expected one of: deployer"
    );
}

#[test]
fn people_need_a_unique_name_and_identity() {
    let files = Files::new();
    let text = r#"[bot]
playbooks = ["blog.toml"]
[[people]]
name = "alice"
console = "*"
[[people]]
name = "alice"
console = "*"
[[people]]
name = "bob"
"#;
    assert_eq!(
        files.config_errors(text),
        "DIR/bosun.toml:7:8: people[1].name: another person is already named \"alice\"\n\
         DIR/bosun.toml:8:11: people[1].console: \"*\" is already the console identity of \"alice\"\n\
         DIR/bosun.toml:9:1: people[2]: no chat identity; give at least one of console, xmpp, slack, discord"
    );
}

#[test]
fn bad_role_patterns_and_role_names() {
    let files = Files::new();
    let text = "[bot]\nplaybooks = [\"blog.toml\"]\n[roles.Ops]\ndeploy = [\"blog\", \"*:*\", \"a:b:c\"]\nrolback = []\nreboot = []\n";
    let expected = r#"expected an APP:ENV pattern like "blog:live" or "*:staging""#;
    assert_eq!(
        files.config_errors(text),
        format!(
            "DIR/bosun.toml:3:8: roles.Ops: expected a name like \"blog\" (lowercase letters, digits, \".\", \"_\" or \"-\", \
             starting with a letter or digit, at most 63 characters), found \"Ops\"\n\
             DIR/bosun.toml:4:11: roles.Ops.deploy[0]: {expected}, found \"blog\"\n\
             DIR/bosun.toml:4:26: roles.Ops.deploy[2]: {expected}, found \"a:b:c\"\n\
             DIR/bosun.toml:5:1: roles.Ops.rolback: unknown key \"rolback\"; did you mean \"rollback\"?\n\
             DIR/bosun.toml:6:1: roles.Ops.reboot: unknown key \"reboot\"; \
             expected one of: read, deploy, rollback, force, lock, unlock_others, admin"
        )
    );
}

#[test]
fn a_duplicate_app_name_points_at_the_second_playbook() {
    let files = Files::new();
    files.write("again.toml", BLOG);
    let text = "[bot]\nplaybooks = [\"blog.toml\", \"again.toml\"]\n";
    assert_eq!(
        files.config_errors(text),
        "DIR/again.toml:2:8: app.name: duplicate app \"blog\"; DIR/blog.toml defines it too"
    );
}

#[test]
fn an_environment_needs_hosts_or_groups_but_not_both() {
    let files = Files::new();
    let text = BLOG.to_string()
        + "[environments.empty]\ndefault_ref = \"main\"\n\
           [environments.both]\nhosts = [\"a\"]\n[[environments.both.groups]]\nname = \"g\"\nhosts = [\"b\"]\n\
           [environments.none]\nhosts = []\n";
    assert_eq!(
        files.playbook_errors(&text),
        "DIR/blog.toml:8:1: environments.empty: no hosts; give hosts = [\"…\"] or [[environments.empty.groups]]\n\
         DIR/blog.toml:12:1: environments.both.groups: give either hosts or groups, not both\n\
         DIR/blog.toml:16:9: environments.none.hosts: expected at least one host, found an empty array"
    );
}

#[test]
fn a_host_appears_once_per_environment() {
    let files = Files::new();
    let text = BLOG.to_string()
        + "[[environments.live.groups]]\nname = \"a\"\nhosts = [\"web1\"]\n\
           [[environments.live.groups]]\nname = \"a\"\nhosts = [\"web2\", \"web1\", \"Web3\"]\n";
    assert_eq!(
        files.playbook_errors(&text),
        "DIR/blog.toml:12:8: environments.live.groups[1].name: another group is already named \"a\"\n\
         DIR/blog.toml:13:18: environments.live.groups[1].hosts[1]: host \"web1\" is already in this environment \
         (environments.live.groups[0].hosts[0])\n\
         DIR/blog.toml:13:26: environments.live.groups[1].hosts[2]: expected a name like \"blog\" (lowercase letters, \
         digits, \".\", \"_\" or \"-\", starting with a letter or digit, at most 63 characters), found \"Web3\""
    );
}

#[test]
fn app_and_environment_names_must_be_names() {
    let files = Files::new();
    let text = "[app]\nname = \"My Blog\"\nrepo = \"/r\"\ndeploy_to = \"/srv/blog\"\n[environments.Live]\nhosts = [\"a\"]\n";
    let rule = r#"expected a name like "blog" (lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters)"#;
    assert_eq!(
        files.playbook_errors(text),
        format!(
            "DIR/blog.toml:2:8: app.name: {rule}, found \"My Blog\"\n\
             DIR/blog.toml:5:15: environments.Live: {rule}, found \"Live\""
        )
    );
}

#[test]
fn app_limits_and_paths() {
    let files = Files::new();
    let text = "[app]\nname = \"blog\"\nrepo = \"/r\"\ndeploy_to = \"srv/blog\"\nkeep_releases = 1\n\
                shared = [\"log\", \"../etc\", \"/tmp\"]\nmax_parallel = 0\n[environments.s]\nhosts = [\"a\"]\n";
    assert_eq!(
        files.playbook_errors(text),
        "DIR/blog.toml:4:13: app.deploy_to: expected an absolute path like \"/srv/demo\", found \"srv/blog\"\n\
         DIR/blog.toml:5:17: app.keep_releases: expected a whole number of at least 2, found 1\n\
         DIR/blog.toml:6:18: app.shared[1]: expected a relative path without \"..\" like \"log\", found \"../etc\"\n\
         DIR/blog.toml:6:28: app.shared[2]: expected a relative path without \"..\" like \"log\", found \"/tmp\"\n\
         DIR/blog.toml:7:16: app.max_parallel: expected a whole number of at least 1, found 0"
    );
}

#[test]
fn a_local_repo_is_stored_as_an_absolute_path() {
    let files = Files::new();
    let path = files.write(
        "playbooks/blog.toml",
        &BLOG.replace("\"/srv/git/blog.git\"", "\"../code/./blog\""),
    );
    let blog = load_playbook(&path, &files.path("var")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(blog.app.repo, files.path("code/blog").display().to_string());
}

#[test]
fn an_unknown_adapter_or_tracker_kind() {
    let files = Files::new();
    let text = "[bot]\nplaybooks = [\"blog.toml\"]\n[chat]\nadapter = \"irc\"\n[tracker]\nkind = \"trak\"\n";
    assert_eq!(
        files.config_errors(text),
        "DIR/bosun.toml:4:11: chat.adapter: unknown adapter \"irc\"; expected one of: console, xmpp, slack, discord\n\
         DIR/bosun.toml:6:8: tracker.kind: unknown tracker kind \"trak\"; did you mean \"trac\"?"
    );
}

#[test]
fn tracker_keys_depend_on_the_kind() {
    let files = Files::new();
    let text = "[bot]\nplaybooks = [\"blog.toml\"]\n[tracker]\nkind = \"links\"\nurl = \"https://x\"\n\
                changeset_url = \"https://git.example.org/c\"\n";
    assert_eq!(
        files.config_errors(text),
        "DIR/bosun.toml:3:1: tracker.ticket_url: missing; expected a URL template with {ticket}\n\
         DIR/bosun.toml:5:1: tracker.url: only used with kind = \"trac\"; this tracker has kind = \"links\"\n\
         DIR/bosun.toml:6:17: tracker.changeset_url: expected a URL containing {sha} like \
         \"https://git.example.org/blog/commit/{sha}\", found \"https://git.example.org/c\""
    );
}

#[test]
fn a_trac_password_comes_from_one_place_and_needs_a_user() {
    let files = Files::new();
    let text = "[bot]\nplaybooks = [\"blog.toml\"]\n[tracker]\nkind = \"trac\"\nurl = \"https://trac.example.org\"\n\
                password_env = \"TRAC_PW\"\npassword_file = \"pw\"\n";
    assert_eq!(
        files.config_errors(text),
        "DIR/bosun.toml:6:1: tracker.password_env: a password needs a user; add user = \"…\"\n\
         DIR/bosun.toml:7:1: tracker.password_file: give password_env or password_file, not both\n\
         DIR/bosun.toml:7:1: tracker.password_file: a password needs a user; add user = \"…\""
    );
}

#[test]
fn a_plain_password_is_refused_anywhere_without_echoing_it() {
    let files = Files::new();
    let text = "[bot]\nplaybooks = [\"blog.toml\"]\n[tracker]\nkind = \"trac\"\nurl = \"https://trac.example.org\"\n\
                user = \"bosun\"\npassword = \"hunter2\"\n[chat.console]\npassword = \"hunter3\"\n";
    let report = files.config_errors(text);
    let message = "secrets are not written in the config; name where to read it with \
                   password_env = \"VARIABLE\" or password_file = \"path\"";
    assert_eq!(
        report,
        format!(
            "DIR/bosun.toml:7:1: tracker.password: {message}\nDIR/bosun.toml:9:1: chat.console.password: {message}"
        )
    );

    let playbook = format!("{BLOG}[vars]\npassword = \"hunter4\"\n");
    assert_eq!(
        files.playbook_errors(&playbook),
        format!("DIR/blog.toml:9:1: vars.password: {message}")
    );

    // A syntax error on the secret's line shows the parser's message, not the line.
    let broken = files
        .config_errors("[bot]\nplaybooks = [\"blog.toml\"]\n[tracker]\npassword = \"hunter5\n");
    for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
        assert!(
            !report.contains(secret) && !broken.contains(secret),
            "{report}\n{broken}"
        );
    }
    assert!(broken.starts_with("DIR/bosun.toml:4:"), "{broken}");
}

#[test]
fn commands_are_split_like_a_shell_and_bad_ones_reported() {
    let files = Files::new();
    let text = format!(
        "{BLOG}[pipeline]\nrestart = \"bin/restart 'a b\"\nbuild = [\"\", [], 5]\n\
         migrate = {{ down = \"x\" }}\n"
    );
    assert_eq!(
        files.playbook_errors(&text),
        "DIR/blog.toml:9:11: pipeline.restart: unterminated single quote in \"bin/restart 'a b\"\n\
         DIR/blog.toml:10:10: pipeline.build[0]: expected a command, found \"\"\n\
         DIR/blog.toml:10:14: pipeline.build[1]: expected a command, found an array\n\
         DIR/blog.toml:10:18: pipeline.build[2]: expected a command (a string or an array of strings), found an integer\n\
         DIR/blog.toml:11:11: pipeline.migrate.up: missing; expected a command"
    );
}

#[test]
fn every_problem_of_every_file_is_reported_together() {
    let files = Files::new();
    files.write("a.toml", &BLOG.replace("/srv/blog", "srv"));
    files.write(
        "b.toml",
        &BLOG.replace("blog", "b").replace("staging1", "S"),
    );
    let text = "[bot]\nplaybooks = [\"a.toml\", \"b.toml\", \"c.toml\"]\nnmae = \"x\"\n";
    let report = files.config_errors(text);
    let lines: Vec<&str> = report
        .lines()
        .map(|line| line.split(": ").next().unwrap_or(line))
        .collect();
    assert_eq!(
        lines,
        [
            "DIR/bosun.toml:2:34",
            "DIR/bosun.toml:3:1",
            "DIR/a.toml:4:13",
            "DIR/b.toml:7:10"
        ]
    );
}
