//! Guardrails on local hosts: migrations that know about rollbacks, maintenance pages, smoke tests, retries that give up loudly.

use std::path::{Path, PathBuf};

use bosun::journal::Journal;

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::ConsoleBot;

/// A stand-in database: a file listing the revisions whose migrations ran, oldest first.
struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack"), "").unwrap();
        Db { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn migrations(&self) -> Vec<String> {
        std::fs::read_to_string(self.path().join("stack"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `[pipeline]` lines: migrations (up pushes the revision, down pops it; up fails half-way
    /// in a release holding FAILMIGRATE), a maintenance page on each host, a backup.
    fn pipeline(&self, with_down: bool, log: &Path) -> String {
        let db = self.path().display();
        let log = log.display();
        let down = if with_down {
            format!(r#", down = "sh -c 'sed -i \"$ d\" {db}/stack'""#)
        } else {
            String::new()
        };
        format!(
            r#"migrate = {{ up = "sh -c 'echo {{revision}} >> {db}/stack; test ! -e FAILMIGRATE'"{down}, once = true }}
maintenance = {{ up = "sh -c 'echo up $1 >> {log}; touch {{shared_path}}/maintenance' sh {{host}}", down = "sh -c 'echo down $1 >> {log}; rm -f {{shared_path}}/maintenance' sh {{host}}" }}
backup = "sh -c 'cp {db}/stack $1' sh {{backup_path}}"
"#
        )
    }
}

fn maintenance_up(app: &DemoApp, host: &str) -> bool {
    app.deploy_root(host).join("shared/maintenance").exists()
}

#[tokio::test]
async fn a_migration_that_fails_half_way_runs_its_down_and_the_maintenance_page_comes_down() {
    let db = Db::new();
    let log = tempfile::NamedTempFile::new().unwrap();
    let app = DemoApp::new(AppOptions {
        pipeline_extra: db.pipeline(true, log.path()),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let announced = bot.expect("this deploy migrates").await;
    assert!(announced.contains("(undo: migrate down: "), "{announced}");
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();
    let good_revision = app.live_revision("h1").unwrap();
    assert_eq!(db.migrations(), std::slice::from_ref(&good_revision));

    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "A migration that breaks",
        &[("FAILMIGRATE", "1")],
    );
    bot.say("deploy demo to staging").await;
    let failed = bot.expect("failed —").await;
    assert!(
        failed.contains("migrate up") && failed.contains("failed on h2"),
        "{failed}"
    );
    bot.finish().await;
    assert_eq!(
        db.migrations(),
        [good_revision],
        "the half-done migration was taken down"
    );
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(good.as_str()), "{host}");
        assert!(
            !maintenance_up(&app, host),
            "{host}: the maintenance page is down"
        );
    }
    let order = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(
        order.lines().filter(|l| l.starts_with("up ")).count(),
        4,
        "{order}"
    );
    assert_eq!(
        order.lines().filter(|l| l.starts_with("down ")).count(),
        4,
        "{order}"
    );
}

fn backup_paths(steps: &[bosun::journal::StepRecord]) -> Vec<PathBuf> {
    steps
        .iter()
        .filter(|s| s.label.starts_with("backup: "))
        .filter_map(|s| s.label.split_whitespace().last().map(PathBuf::from))
        .collect()
}

#[tokio::test]
async fn a_rollback_across_a_migration_backs_up_then_migrates_down_behind_the_maintenance_page() {
    let db = Db::new();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut app = DemoApp::new(AppOptions {
        pipeline_extra: db.pipeline(true, log.path()),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let first = app.live_revision("h1").unwrap();
    app.commit("Bob", "Add a column");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let second = app.live_revision("h1").unwrap();
    assert_eq!(db.migrations(), [first.clone(), second]);

    bot.say("!rollback").await;
    let announced = bot.expect("this rollback migrates down first").await;
    assert!(announced.contains("migrate down"), "{announced}");
    let done = bot.expect("demo is back on").await;
    let id = crate::support::app::journal_id_in(&done);
    bot.finish().await;
    assert_eq!(db.migrations(), std::slice::from_ref(&first));
    assert_eq!(app.live_revision("h2").as_deref(), Some(first.as_str()));
    let journal = Journal::open(&app.journal_path()).await.unwrap();
    let backups = backup_paths(&journal.steps(id).await.unwrap());
    assert_eq!(backups.len(), 1, "the backup's path is journaled");
    assert_eq!(
        std::fs::read_to_string(&backups[0])
            .unwrap()
            .lines()
            .count(),
        2,
        "the backup holds the schema before the down"
    );
    for host in ["h1", "h2"] {
        assert!(!maintenance_up(&app, host));
    }
}

#[tokio::test]
async fn a_rollback_across_a_migration_without_a_down_is_refused_unless_forced() {
    let db = Db::new();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut app = DemoApp::new(AppOptions {
        pipeline_extra: db.pipeline(false, log.path()),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("a rollback will need \"rollback!\"").await;
    bot.expect("is live on 2 hosts").await;
    let first = app.current("h1").unwrap();
    app.commit("Bob", "Irreversible");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;

    bot.say("!rollback").await;
    let refused = bot.expect("has no down migration recorded").await;
    assert!(refused.contains("say \"rollback!\""), "{refused}");
    assert_ne!(app.current("h1"), Some(first.clone()), "nothing switched");
    bot.finish().await;

    // Forcing needs the force permission: the test config's people do not have it.
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("rollback! demo in staging").await;
    bot.expect("alice may not force demo").await;
    bot.finish().await;

    let mut bot = ConsoleBot::start(app.config(), "carol");
    bot.say("rollback! demo in staging").await;
    bot.expect("carol is rolling demo on staging back to").await;
    bot.expect("demo is back on").await;
    bot.finish().await;
    assert_eq!(app.current("h1"), Some(first));
    assert_eq!(db.migrations().len(), 2, "no down was run: there was none");
}

#[tokio::test]
async fn a_failing_post_condition_rolls_the_fleet_back_and_a_failing_pre_condition_stages_nothing()
{
    let flag = tempfile::tempdir().unwrap();
    let sick = flag.path().join("sick");
    let mut app = DemoApp::new(AppOptions {
        pipeline_extra: format!(
            r#"smoke = {{ before = ["test ! -e {0}.pre"], after = ["test ! -e {0}"] }}"#,
            sick.display()
        ),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();

    std::fs::write(&sick, "").unwrap();
    app.commit("Bob", "Looks fine, is not");
    bot.say("deploy demo to staging").await;
    let failed = bot.expect("failed —").await;
    assert!(failed.contains("post-condition"), "{failed}");
    for host in ["h1", "h2"] {
        assert_eq!(
            app.current(host).as_deref(),
            Some(good.as_str()),
            "{host} is rolled back"
        );
    }

    std::fs::write(sick.with_extension("pre"), "").unwrap();
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("failed —").await;
    assert!(refused.contains("pre-condition"), "{refused}");
    assert_eq!(app.releases("h1"), vec![good.clone()], "nothing was staged");
    bot.finish().await;
}

#[tokio::test]
async fn a_step_that_times_out_is_tried_again_and_people_are_called_when_it_never_passes() {
    let marks = tempfile::tempdir().unwrap();
    let once = marks.path().join("once");
    let app = DemoApp::new(AppOptions {
        // The first restart on h1 hangs past the time limit; the next one passes.
        restart: format!(
            r#"sh -c 'if [ "$1" = h1 ] && [ ! -e {0} ]; then touch {0}; sleep 30; fi' sh {{host}}"#,
            once.display()
        ),
        pipeline_extra: "retries = 2\ncommand_timeout = \"1s\"".into(),
        config_extra: "[announce]\nalert = [\"alice\", \"bob\"]\n\n".into(),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let retry = bot.expect("trying again").await;
    assert!(
        retry.contains("restart") && retry.contains("timed out"),
        "{retry}"
    );
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;

    let app = DemoApp::new(AppOptions {
        restart: r#"sh -c 'if [ "$1" = h2 ]; then sleep 30; fi' sh {host}"#.into(),
        pipeline_extra: "retries = 1\ncommand_timeout = \"1s\"".into(),
        config_extra: "[announce]\nalert = [\"alice\", \"bob\"]\n\n".into(),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let failed = bot.expect("failed —").await;
    assert!(failed.contains("(tried 2 times)"), "{failed}");
    bot.expect("attention alice, bob: restart").await;
    bot.finish().await;
    assert!(
        app.current("h1").is_none() && app.current("h2").is_none(),
        "a first deploy undone leaves nothing"
    );
}
