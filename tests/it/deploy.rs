//! The core story on the embedded default: chat lines in the console deploy to local hosts, roll back, fail safely, keep N releases.

use bosun::journal::{DeployState, Journal, StepState};

use crate::support::app::{AppOptions, DemoApp, journal_id_in, release_in};
use crate::support::bot::ConsoleBot;

fn short(sha: &str) -> &str {
    &sha[..7]
}

#[tokio::test]
async fn deploy_then_rollback_switches_every_host_and_the_room_reads_what_rolled() {
    let mut app = DemoApp::new(AppOptions::default());
    let mut bot = ConsoleBot::start(app.config(), "alice");

    bot.say("deploy demo to staging").await;
    let announced = bot.expect("alice is deploying demo").await;
    let result = bot.expect("is live on 2 hosts").await;
    let text = bot.since("alice is deploying demo");
    let (c1, c2, c3) = (
        app.history[0].clone(),
        app.history[1].clone(),
        app.history[2].clone(),
    );
    assert!(
        announced.contains(&format!("demo {} to staging", short(&c3))),
        "{announced}"
    );
    assert!(
        announced.contains("first deploy to staging, 3 changesets"),
        "{announced}"
    );
    for line in [
        format!("• {} Alice Liddell: Fix the title", short(&c3)),
        format!("• {} Bob Builder: Add a health page (refs #2)", short(&c2)),
        format!("• {} Alice Liddell: Start the demo app", short(&c1)),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("staging: staged on 2/2 hosts"), "{text}");
    let first_release = release_in(&text);
    let first_id = journal_id_in(&result);
    for host in ["h1", "h2"] {
        assert_eq!(
            app.current(host).as_deref(),
            Some(first_release.as_str()),
            "{host}"
        );
        assert_eq!(app.live_revision(host).as_deref(), Some(c3.as_str()));
        let built = std::fs::read_to_string(app.deploy_root(host).join("current/BUILT")).unwrap();
        assert_eq!(
            built,
            format!("built {c3} for {host}\n"),
            "template variables reach the build step"
        );
        assert!(
            app.deploy_root(host).join("current/log").is_symlink(),
            "shared paths are linked"
        );
    }

    let c4 = app.commit("Bob", "Tune the cache");
    bot.say("deploy demo to staging").await;
    let second = bot.expect("alice is deploying demo").await;
    assert!(
        second.contains(&format!("1 changeset since v1.0 ({})", short(&c3)))
            || second.contains(&format!("1 changeset since {}", short(&c3))),
        "{second}"
    );
    bot.expect(&format!("• {} Bob: Tune the cache", short(&c4)))
        .await;
    bot.expect("is live on 2 hosts").await;
    let second_release = release_in(&bot.since("alice is deploying demo"));
    assert_ne!(second_release, first_release);
    assert_eq!(app.current("h1").as_deref(), Some(second_release.as_str()));

    bot.say("!rollback").await;
    let rolling = bot.expect("is rolling demo on staging back to").await;
    assert!(rolling.contains(short(&c3)), "{rolling}");
    bot.expect(&format!("• {} Bob: Tune the cache", short(&c4)))
        .await;
    bot.expect("demo is back on").await;
    for host in ["h1", "h2"] {
        assert_eq!(
            app.current(host).as_deref(),
            Some(first_release.as_str()),
            "{host} is back on the first release"
        );
    }

    bot.say("history demo staging").await;
    bot.expect("last 3 deploys of demo on staging").await;
    let (_, transcript) = bot.finish().await;
    let history = transcript.join("\n");
    assert!(history.contains("alice rolled back"), "{history}");

    // The journal has every step, each with its intent and its outcome.
    let journal = Journal::open(&app.journal_path()).await.unwrap();
    let steps = journal.steps(first_id).await.unwrap();
    assert!(
        steps.len() >= 2 * 4,
        "stage, build, switch, restart, health, cleanup per host: {steps:?}"
    );
    for step in &steps {
        assert_eq!(step.state, StepState::Done, "{step:?}");
        assert!(
            step.finished_at.is_some_and(|f| f >= step.started_at),
            "{step:?}"
        );
    }
    let labels: Vec<&str> = steps.iter().map(|s| s.label.as_str()).collect();
    assert!(
        labels.contains(&"stage") && labels.iter().any(|l| l.starts_with("switch to ")),
        "{labels:?}"
    );
    assert_eq!(
        journal.deploy(first_id).await.unwrap().state,
        DeployState::Succeeded
    );

    // The export is a readable archive of the whole record.
    let out = app.path().join("deploy.tar.gz");
    bosun::journal::export(&journal, first_id, &out, None)
        .await
        .unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&out).unwrap(),
    ));
    let mut contents = String::new();
    for entry in archive.entries().unwrap() {
        std::io::Read::read_to_string(&mut entry.unwrap(), &mut contents).unwrap();
    }
    assert!(
        contents.contains(&format!("switch to {first_release}")),
        "{contents}"
    );
    assert!(
        contents.contains("index.html") && contents.contains("health"),
        "files shipped are listed"
    );
    assert!(contents.contains("requested by: alice"), "{contents}");
}

#[tokio::test]
async fn a_failing_health_check_on_the_second_host_leaves_both_on_the_old_release() {
    let app = DemoApp::new(AppOptions {
        health: r#"sh -c 'test "$1" != h2 || test ! -e BREAK' sh {host}"#.into(),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();

    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Break the health check",
        &[("BREAK", "yes")],
    );
    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    let staged = release_in(&bot.expect("release ").await);
    let failed = bot.expect("failed —").await;
    assert!(failed.contains("failed on h2"), "{failed}");
    assert!(failed.contains("is still on"), "{failed}");
    assert!(
        bot.since("alice is deploying demo").contains("health"),
        "the room is told which step failed"
    );
    for host in ["h1", "h2"] {
        assert_eq!(
            app.current(host).as_deref(),
            Some(good.as_str()),
            "{host} stays on the good release"
        );
        assert!(
            !app.releases(host).contains(&staged),
            "{host}: the staged release {staged} is removed"
        );
    }
    let (report, _) = bot.finish().await;
    assert_eq!((report.deploys_succeeded, report.deploys_failed), (1, 1));
}

#[tokio::test]
async fn keep_releases_two_after_four_deploys_leaves_exactly_two() {
    let mut app = DemoApp::new(AppOptions {
        keep_releases: 2,
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    for round in 0..4 {
        if round > 0 {
            app.commit("Alice", &format!("Round {round}"));
        }
        bot.say("deploy demo to staging").await;
        // "is live" is said before the clean-up of old releases; the next deploy, asked
        // meanwhile, waits for that clean-up and starts after it.
        bot.expect("is live on 2 hosts").await;
    }
    // The bot ends once the last deploy (and so its clean-up) has.
    let (report, _) = bot.finish().await;
    assert_eq!(report.deploys_succeeded, 4, "{report:?}");
    for host in ["h1", "h2"] {
        let releases = app.releases(host);
        assert_eq!(releases.len(), 2, "{host}: {releases:?}");
        assert!(releases.contains(&app.current(host).unwrap()));
    }
}

#[tokio::test]
async fn a_second_deploy_while_one_runs_is_refused_with_the_holders_name() {
    let gate = tempfile::tempdir().unwrap();
    let gate_file = gate.path().join("open");
    let app = DemoApp::new(AppOptions {
        // The restart waits (bounded) for the test to open the gate.
        restart: format!(
            r#"sh -c 'for i in $(seq 600); do [ -e "$1" ] && exit 0; sleep 0.1; done; exit 1' sh {}"#,
            gate_file.display()
        ),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("switching web batch 1/1").await;
    bot.say("deploy demo to staging").await;
    let refusal = bot.expect("is busy").await;
    assert!(
        refusal.contains("demo on staging is busy: alice"),
        "{refusal}"
    );
    std::fs::write(&gate_file, "").unwrap();
    bot.expect("is live on 2 hosts").await;
    let (report, _) = bot.finish().await;
    assert_eq!(report.deploys_succeeded, 1);
}

#[tokio::test]
async fn a_manual_lock_survives_a_restart_and_holds_deploys_until_unlocked() {
    let app = DemoApp::new(AppOptions::default());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("lock staging deploying by hand").await;
    bot.expect("staging is locked by alice: deploying by hand")
        .await;
    bot.finish().await;

    let mut bot = ConsoleBot::start(app.config(), "bob");
    bot.say("deploy demo to staging").await;
    let refusal = bot.expect("staging is locked by alice").await;
    assert!(refusal.contains("deploying by hand"), "{refusal}");
    bot.say("status").await;
    bot.expect("locked: staging by alice").await;
    bot.say("unlock staging").await;
    bot.expect("locked by alice, not you").await;
    bot.finish().await;
    assert!(
        app.current("h1").is_none(),
        "nothing was deployed while locked"
    );

    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("unlock staging").await;
    bot.expect("staging is unlocked").await;
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
}

#[tokio::test]
async fn rollback_is_remembered_per_room_across_restarts() {
    let mut app = DemoApp::new(AppOptions::default());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let first = app.current("h1").unwrap();
    app.commit("Bob", "Another change");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;

    let mut bot = ConsoleBot::start(app.config(), "bob");
    bot.say("!rollback").await;
    bot.expect("bob is rolling demo on staging back to").await;
    bot.expect("demo is back on").await;
    bot.finish().await;
    assert_eq!(app.current("h1"), Some(first.clone()));
    assert_eq!(app.current("h2"), Some(first));
}

#[tokio::test]
async fn hostile_and_malformed_lines_get_a_reply_and_never_an_action() {
    let app = DemoApp::new(AppOptions::default());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo/$(reboot) to staging").await;
    bot.expect("is not a git ref name").await;
    bot.say("deploi demo to staging").await;
    bot.expect("Did you mean \"deploy demo to staging\"?").await;
    bot.say("deploy nosuchapp to staging").await;
    bot.expect("I don't know the app \"nosuchapp\"").await;
    bot.say("deploy demo/nosuchref to staging").await;
    bot.expect("no commit \"nosuchref\"").await;
    bot.finish().await;
    assert!(app.current("h1").is_none() && app.releases("h1").is_empty());
}

#[tokio::test]
async fn a_rollback_asked_the_moment_it_is_live_waits_for_the_clean_up_and_is_never_busy() {
    let mut app = DemoApp::new(AppOptions {
        keep_releases: 2,
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let first = app.current("h1").unwrap();
    for round in 1..3 {
        app.commit("Alice", &format!("Round {round}"));
        bot.say("deploy demo to staging").await;
        bot.expect("is live on 2 hosts").await;
        // Asked at once: the clean-up of old releases may still run; it is not refused.
        bot.say("!rollback").await;
        bot.expect("demo is back on").await;
    }
    let (report, transcript) = bot.finish().await;
    let text = transcript.join("\n");
    assert!(!text.contains("is busy"), "{text}");
    // Nor is it news: the rollback waits for the clean-up without a word, and starts.
    assert!(
        !text.contains("in line") && !text.contains("the queue moves"),
        "{text}"
    );
    assert_eq!(report.refused, 0, "{text}");
    assert_eq!(app.current("h1"), Some(first.clone()));
    assert_eq!(app.current("h2"), Some(first));
    for host in ["h1", "h2"] {
        assert!(
            app.releases(host).len() <= 3,
            "{host}: {:?}",
            app.releases(host)
        );
    }
}

#[tokio::test]
async fn a_rollback_reads_the_mirror_and_works_while_the_git_server_is_gone() {
    let mut app = DemoApp::new(AppOptions::default());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let first = app.current("h1").unwrap();
    let c4 = app.commit("Bob", "Tune the cache");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    assert_ne!(app.current("h1").as_ref(), Some(&first));

    // The git server is gone: a rollback needs nothing the mirror does not already hold.
    std::fs::rename(app.path().join("origin"), app.path().join("origin-gone")).unwrap();
    bot.say("!rollback").await;
    let rolling = bot.expect("is rolling demo on staging back to").await;
    assert!(rolling.contains(short(&app.history[2])), "{rolling}");
    bot.expect(&format!("• {} Bob: Tune the cache", short(&c4)))
        .await;
    bot.expect("demo is back on").await;
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_ref(), Some(&first), "{host}");
    }
    // Forward again to the newer release, named by its commit: the mirror knows it.
    bot.say(&format!("rollback demo in staging to {}", short(&c4)))
        .await;
    bot.expect("demo is back on").await;
    let newer = app.current("h1").unwrap();
    assert_ne!(newer, first);
    assert_eq!(app.current("h2").as_ref(), Some(&newer));
    assert_eq!(app.live_revision("h1").as_ref(), Some(&c4));
    // A deploy does need the server, and says why it cannot go on.
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("origin").await;
    assert!(refused.contains("fetching"), "{refused}");
    bot.finish().await;
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_ref(), Some(&newer), "{host}");
    }
}
