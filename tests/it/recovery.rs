//! Recovery on local hosts: a journal emptied or replaced by an older copy is named and never taken for a first deploy; an undone switch restarts with the old release's variables; `cancel` and SIGTERM stop a slow build at once, undo, and say why.

use std::path::Path;
use std::time::Duration;

use bosun::journal::{DeployState, Journal};

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::{ConsoleBot, PATIENCE};
use crate::support::process::{BotProcess, processes_mentioning, wait_for_file};

/// Copies the journal's files (the database and, if any, its write-ahead log) to `to`.
fn copy_journal(app: &DemoApp, to: &Path) {
    let from = app.journal_path();
    std::fs::copy(&from, to).unwrap();
    let wal = from.with_extension("sqlite-wal");
    if wal.exists() {
        std::fs::copy(&wal, to.with_extension("sqlite-wal")).unwrap();
    }
}

/// Puts `copy` (or an empty file) in place of the journal, as an operator restoring a backup
/// (or a disk losing it) would.
fn replace_journal(app: &DemoApp, copy: Option<&Path>) {
    let path = app.journal_path();
    for extra in ["sqlite-wal", "sqlite-shm"] {
        let _ = std::fs::remove_file(path.with_extension(extra));
    }
    match copy {
        Some(copy) => {
            std::fs::copy(copy, &path).unwrap();
            let wal = copy.with_extension("sqlite-wal");
            if wal.exists() {
                std::fs::copy(&wal, path.with_extension("sqlite-wal")).unwrap();
            }
        }
        None => std::fs::write(&path, "").unwrap(),
    }
}

/// Waits (bounded by `within`) until no process mentions `marker`.
async fn gone_within(marker: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if processes_mentioning(marker).is_empty() {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling ps, with a deadline
    }
}

#[tokio::test]
async fn an_emptied_journal_is_named_and_the_next_deploy_counts_from_what_the_hosts_run() {
    let mut app = DemoApp::new(AppOptions::default());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
    let live = app.current("h1").unwrap();

    replace_journal(&app, None);
    let next = app.commit("Bob", "After the journal was lost");
    let mut bot = ConsoleBot::start(app.config(), "alice");
    let found = bot.expect("demo on staging:").await;
    assert!(
        found.contains("another journal") && found.contains(&live),
        "{found}"
    );
    assert!(found.contains("as live"), "{found}");
    bot.say("deploy demo to staging").await;
    let announced = bot.expect("alice is deploying demo").await;
    assert!(
        !announced.contains("first deploy") && announced.contains("1 changeset since"),
        "{announced}"
    );
    assert!(announced.contains(&next[..7]), "{announced}");
    bot.expect("is live on 2 hosts").await;
    let (_, said) = bot.finish().await;
    assert!(
        !said.iter().any(|l| l.contains("first deploy")),
        "{said:#?}"
    );
    assert_eq!(app.current("h1"), app.current("h2"));
    assert_ne!(app.current("h1").unwrap(), live);
}

#[tokio::test]
async fn an_older_journal_is_named_and_rollback_does_not_jump_to_a_release_it_remembers() {
    let marks = tempfile::tempdir().unwrap();
    let old_copy = marks.path().join("old.sqlite");
    let mut app = DemoApp::new(AppOptions::default());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
    let first = app.current("h1").unwrap();
    copy_journal(&app, &old_copy);

    app.commit("Bob", "Second");
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
    app.commit("Carol", "Third");
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
    let third = app.current("h1").unwrap();

    // The journal goes back to a copy made after the first deploy.
    replace_journal(&app, Some(&old_copy));
    let mut bot = ConsoleBot::start(app.config(), "alice");
    let found = bot.expect("demo on staging:").await;
    assert!(
        found.contains("older than the hosts") && found.contains(&third),
        "{found}"
    );
    // The journal remembers the first release as live; the hosts are two deploys on. Rolling
    // back must not jump there.
    bot.say("rollback demo in staging").await;
    let refused = bot.expect("roll back demo in staging").await;
    assert!(refused.contains("found on the hosts"), "{refused}");
    let (_, said) = bot.finish().await;
    assert!(!said.iter().any(|l| l.contains("is back on")), "{said:#?}");
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(third.as_str()));
    }
    assert_ne!(first, third);
}

#[tokio::test]
async fn an_undone_switch_restarts_with_the_revision_of_the_release_it_returns_to() {
    let marks = tempfile::tempdir().unwrap();
    let log = marks.path().join("restarts");
    let app = DemoApp::new(AppOptions {
        restart: format!(
            r#"sh -c 'echo "$1 $2 $3" >> {}' sh {{host}} {{revision}} {{release}}"#,
            log.display()
        ),
        // A release with a BROKEN file never gets healthy.
        health: "sh -c 'test ! -f BROKEN'".into(),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let old_release = app.current("h1").unwrap();
    let old_sha = app.history[2].clone();

    let new_sha = app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Break it",
        &[("BROKEN", "1")],
    );
    bot.say("deploy demo to staging").await;
    bot.expect("failed —").await;
    bot.finish().await;
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Two restarts of the first deploy, two of the broken one, then the undo's two.
    assert_eq!(lines.len(), 6, "{lines:#?}");
    for line in &lines[4..] {
        assert!(
            line.ends_with(&format!("{old_sha} {old_release}")),
            "the undo restarts with the old release's variables: {lines:#?}"
        );
    }
    assert!(lines[2..4].iter().all(|l| l.contains(&new_sha)));
    assert_eq!(app.current("h1").as_deref(), Some(old_release.as_str()));
    assert_eq!(app.current("h2").as_deref(), Some(old_release.as_str()));
}

/// An app whose build, in releases with a SLOW file, marks `started` and then takes 30 s.
fn slow_build_app(marks: &Path) -> DemoApp {
    let started = marks.join("build-started");
    let marker = marks.join("slow-build");
    DemoApp::new(AppOptions {
        build_extra: vec![format!(
            r#"["sh", "-c", "if [ -e SLOW ]; then touch \"$1\"; sleep 30; fi; true", "{}", "{}"]"#,
            marker.display(),
            started.display()
        )],
        ..AppOptions::default()
    })
}

#[tokio::test]
async fn cancel_stops_a_30_second_build_at_once_and_undoes_the_deploy() {
    let marks = tempfile::tempdir().unwrap();
    let app = slow_build_app(marks.path());
    let marker = marks.path().join("slow-build").display().to_string();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();
    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Slow build",
        &[("SLOW", "1")],
    );
    bot.say("deploy demo to staging").await;
    wait_for_file(&marks.path().join("build-started")).await;
    assert!(!processes_mentioning(&marker).is_empty(), "the build runs");
    bot.say("cancel").await;
    bot.expect("cancelling").await;
    assert!(
        gone_within(&marker, Duration::from_secs(2)).await,
        "the build was still running 2 s after cancel: {:?}",
        processes_mentioning(&marker)
    );
    let stopped = bot.expect("was stopped").await;
    assert!(
        stopped.contains("cancelled by alice") && stopped.contains("undid"),
        "{stopped}"
    );
    bot.finish().await;
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(good.as_str()));
        assert_eq!(
            app.releases(host),
            vec![good.clone()],
            "the new release is gone"
        );
    }
}

#[tokio::test]
async fn sigterm_during_a_deploy_undoes_it_and_tells_the_room_why() {
    let marks = tempfile::tempdir().unwrap();
    let app = slow_build_app(marks.path());
    let marker = marks.path().join("slow-build").display().to_string();
    let mut bot = BotProcess::start(&app.config_path, "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();
    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Slow build",
        &[("SLOW", "1")],
    );
    bot.say("deploy demo to staging").await;
    wait_for_file(&marks.path().join("build-started")).await;
    let pid = bot.child.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let said = bot.expect("was stopped").await;
    assert!(
        said.contains("bosun is shutting down") && said.contains("undid"),
        "{said}"
    );
    let status = tokio::time::timeout(PATIENCE, bot.child.wait())
        .await
        .expect("bosun ends after SIGTERM")
        .unwrap();
    assert!(status.code().is_some(), "bosun ended by itself: {status:?}");
    assert!(
        processes_mentioning(&marker).is_empty(),
        "{:?}",
        processes_mentioning(&marker)
    );
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(good.as_str()));
    }
}

#[tokio::test]
async fn hosts_ahead_of_their_journal_with_a_migration_are_brought_back_and_migrated_down() {
    let marks = tempfile::tempdir().unwrap();
    let stack = marks.path().join("stack");
    std::fs::write(&stack, "").unwrap();
    let mut app = DemoApp::new(AppOptions {
        pipeline_extra: format!(
            r#"migrate = {{ up = ["sh", "-c", "echo \"$0\" >> \"$1\"", "{{revision}}", "{s}"], down = ["sh", "-c", "sed -i \"/^$0\\$/d\" \"$1\"", "{{revision}}", "{s}"], once = true }}"#,
            s = stack.display()
        ),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let first = app.current("h1").unwrap();
    let second_sha = app.commit("Bob", "Second");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
    assert_eq!(
        std::fs::read_to_string(&stack).unwrap(),
        format!("{}\n{second_sha}\n", app.history[2])
    );
    // The journal says the second deploy was undone, yet the hosts run it, migrated.
    let journal = Journal::open(&app.journal_path()).await.unwrap();
    journal
        .finish(2, DeployState::Undone, "undone".into())
        .await
        .unwrap();
    drop(journal);

    let mut bot = ConsoleBot::start(app.config(), "alice");
    let repaired = bot.expect("I found that demo on staging").await;
    assert!(
        repaired.contains("has migrated for") && repaired.contains("switched h1, h2 back"),
        "{repaired}"
    );
    bot.finish().await;
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(first.as_str()));
    }
    assert_eq!(
        std::fs::read_to_string(&stack).unwrap(),
        format!("{}\n", app.history[2]),
        "the second release's migration was run down"
    );
}

#[tokio::test]
async fn the_bot_answers_while_it_recovers_a_dead_bots_deploy() {
    let marks = tempfile::tempdir().unwrap();
    let reached = marks.path().join("restarting");
    let app = DemoApp::new(AppOptions {
        // The second release hangs in its restart (the bot is killed there) and takes 3 s to
        // migrate down.
        restart: format!(
            r#"sh -c 'if [ -e HANG ]; then touch {}; sleep 30; fi' sh"#,
            reached.display()
        ),
        pipeline_extra: r#"migrate = { up = "true", down = "sleep 3", once = true }"#.into(),
        ..AppOptions::default()
    });
    let mut bot = BotProcess::start(&app.config_path, "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();
    app.repo
        .commit("Bob Builder", "bob@example.org", "Hang", &[("HANG", "1")]);
    bot.say("deploy demo to staging").await;
    wait_for_file(&reached).await;
    bot.child.kill().await.unwrap();

    let mut bot = BotProcess::start(&app.config_path, "alice");
    bot.say("status").await;
    let running = bot.expect("running: demo on staging").await;
    assert!(running.contains("journal #2"), "{running}");
    assert!(
        !bot.transcript.iter().any(|l| l.contains("I was restarted")),
        "status was answered while the deploy was still being recovered: {:#?}",
        bot.transcript
    );
    bot.expect("I was restarted while deploy #2").await;
    drop(bot.stdin.take());
    let _ = tokio::time::timeout(PATIENCE, bot.child.wait()).await;
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(good.as_str()));
    }
}
