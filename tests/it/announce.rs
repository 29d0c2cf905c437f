//! The room sees what rolls: changesets, authors and tickets from a real Trac, and a deploy that never waits on a broken tracker.

use std::time::{Duration, Instant};

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::ConsoleBot;
use crate::support::standin::StandIn;
use crate::support::trac::{Trac, TracOptions};

fn with_tracker(tracker: String) -> AppOptions {
    AppOptions {
        config_extra: tracker,
        ..AppOptions::default()
    }
}

fn trac_section(url: &str, timeout: &str) -> String {
    format!("[tracker]\nkind = \"trac\"\nurl = \"{url}\"\ntimeout = \"{timeout}\"\n\n")
}

/// Three commits by two authors naming two tickets, on top of the demo app's history.
fn commit_ticketed_changes(app: &mut DemoApp) -> Vec<String> {
    let repo = &app.repo;
    let a = repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Fix feed pagination, refs #1",
        &[("feed", "2")],
    );
    let b = repo.commit(
        "Carol Coder",
        "carol@example.org",
        "Speed up tag pages\n\nfixes #2",
        &[("tags", "fast")],
    );
    let c = repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Bump version",
        &[("VERSION", "1.1")],
    );
    vec![a, b, c]
}

#[tokio::test]
async fn the_announcement_names_every_changeset_its_author_and_its_tickets_from_trac() {
    let mut app = DemoApp::new(AppOptions::default());
    let trac = Trac::start(&app.path().join("origin"), TracOptions::default());
    trac.create_tickets(&[
        ("Feed skips page 2", "new", ""),
        ("Tag pages are slow", "closed", "fixed"),
    ]);
    std::fs::write(
        &app.config_path,
        trac_section(&trac.url(), "10s") + &std::fs::read_to_string(&app.config_path).unwrap(),
    )
    .unwrap();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;

    let shas = commit_ticketed_changes(&mut app);
    bot.say("diff demo to staging").await;
    bot.expect("would ship").await;
    let diff_lines = bullets(&bot.expect("• ").await, &mut bot, 3).await;

    bot.say("deploy demo to staging").await;
    let head = bot.expect("alice is deploying demo").await;
    assert!(head.contains("3 changesets since"), "{head}");
    let deploy_lines = bullets(&bot.expect("• ").await, &mut bot, 3).await;
    assert_eq!(
        diff_lines, deploy_lines,
        "diff lists exactly what the deploy ships"
    );
    assert_eq!(
        deploy_lines,
        vec![
            format!("• {} Bob Builder: Bump version", &shas[2][..7]),
            format!(
                "• {} Carol Coder: Speed up tag pages · #2 \"Tag pages are slow\" (closed: fixed)",
                &shas[1][..7]
            ),
            format!(
                "• {} Bob Builder: Fix feed pagination, refs #1 · #1 \"Feed skips page 2\" (new)",
                &shas[0][..7]
            ),
        ]
    );
    let result = bot.expect("is live on 2 hosts").await;
    assert!(
        result.contains(&shas[2][..7]),
        "the last line says what is live: {result}"
    );
    bot.finish().await;
}

/// The bullet line already read plus the next `n - 1`.
async fn bullets(first: &str, bot: &mut ConsoleBot, n: usize) -> Vec<String> {
    let mut lines = vec![first.to_string()];
    while lines.len() < n {
        lines.push(bot.expect("• ").await);
    }
    lines
}

#[tokio::test]
async fn a_tracker_that_is_down_failing_refusing_or_slow_never_blocks_the_deploy() {
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let failing = StandIn::answering(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops".into(),
    )
    .await;
    let slow = StandIn::silent().await;
    let cases = [
        (trac_section(&down, "3s"), "could not reach the tracker"),
        (trac_section(&failing.url(), "3s"), "Trac answered 500"),
        (trac_section(&slow.url(), "1s"), "did not answer within 1s"),
    ];
    for (section, why) in cases {
        let mut app = DemoApp::new(with_tracker(section));
        let mut bot = ConsoleBot::start(app.config(), "alice");
        bot.say("deploy demo to staging").await;
        bot.expect("is live on 2 hosts").await;
        commit_ticketed_changes(&mut app);
        let started = Instant::now();
        bot.say("deploy demo to staging").await;
        let notice = bot.expect("ticket details unavailable").await;
        assert!(notice.contains(why), "expected {why:?} in {notice:?}");
        bot.expect("is live on 2 hosts").await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3) + Duration::from_secs(8),
            "the deploy took {took:?}"
        );
        bot.finish().await;
    }
    assert!(slow.connections() >= 1, "the slow tracker was asked");
}

#[tokio::test]
async fn a_trac_behind_a_login_is_read_with_its_cookie_and_a_wrong_password_is_named() {
    let mut app = DemoApp::new(AppOptions::default());
    let trac = Trac::start(
        &app.path().join("origin"),
        TracOptions {
            basic_auth: Some(("deployer".into(), "s3cret".into())),
            anonymous: false,
        },
    );
    trac.create_tickets(&[
        ("Feed skips page 2", "new", ""),
        ("Tag pages are slow", "closed", "fixed"),
    ]);
    let secret = app.path().join("trac-password");
    let original = std::fs::read_to_string(&app.config_path).unwrap();
    let with_password = |password: &str| {
        std::fs::write(&secret, format!("{password}\n")).unwrap();
        format!(
            "[tracker]\nkind = \"trac\"\nurl = \"{}\"\nuser = \"deployer\"\npassword_file = \"{}\"\n\n{original}",
            trac.url(),
            secret.display()
        )
    };
    std::fs::write(&app.config_path, with_password("s3cret")).unwrap();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    commit_ticketed_changes(&mut app);
    bot.say("diff demo to staging").await;
    let line = bot.expect("Tag pages are slow").await;
    assert!(line.contains("(closed: fixed)"), "{line}");
    bot.finish().await;
    assert!(
        trac.requests().iter().any(|r| r.contains("/login")),
        "bosun logged in"
    );

    std::fs::write(&app.config_path, with_password("wrong")).unwrap();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let notice = bot.expect("ticket details unavailable").await;
    assert!(
        notice.contains("refused") || notice.contains("login"),
        "{notice}"
    );
    assert!(
        !notice.contains("wrong"),
        "the password never reaches the room"
    );
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
}

#[tokio::test]
async fn a_playbook_that_requires_the_tracker_refuses_without_it() {
    let failing =
        StandIn::answering("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".into())
            .await;
    let mut app = DemoApp::new(AppOptions {
        config_extra: trac_section(&failing.url(), "2s"),
        app_extra: "tracker_required = true".into(),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("cannot deploy demo to staging").await;
    assert!(
        refused.contains("tracker_required = true") && refused.contains("503"),
        "{refused}"
    );
    bot.finish().await;
    assert!(app.current("h1").is_none(), "nothing deployed");
    let _ = &mut app;
}

#[tokio::test]
async fn sixty_changesets_are_cut_to_the_configured_count_and_history_tells_the_story() {
    let mut app = DemoApp::new(AppOptions {
        config_extra: "[announce]\nmax_changesets = 5\n\n".into(),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    for i in 0..60 {
        app.commit("Carol", &format!("Change {i}"));
    }
    bot.say("deploy demo to staging").await;
    bot.expect("60 changesets since").await;
    bot.expect("… and 55 more").await;
    bot.expect("is live on 2 hosts").await;
    app.commit("Bob", "One more");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.say("!rollback").await;
    bot.expect("taking out 1 changeset").await;
    bot.expect("demo is back on").await;
    bot.say("history demo staging").await;
    bot.expect("last 4 deploys of demo on staging").await;
    let h1 = bot.expect("#4 ").await;
    let h2 = bot.expect("#3 ").await;
    let h3 = bot.expect("#2 ").await;
    let h4 = bot.expect("#1 ").await;
    assert!(
        h1.contains("alice rolled back") && h1.contains("succeeded"),
        "{h1}"
    );
    for line in [&h2, &h3, &h4] {
        assert!(
            line.contains("alice deployed") && line.contains("to staging — succeeded"),
            "{line}"
        );
    }
    bot.finish().await;
}

#[tokio::test]
async fn a_playbook_can_take_its_changeset_list_from_the_trac_log() {
    let mut app = DemoApp::new(AppOptions {
        app_extra: "changesets = \"tracker\"".into(),
        ..AppOptions::default()
    });
    let trac = Trac::start(&app.path().join("origin"), TracOptions::default());
    trac.create_tickets(&[
        ("Feed skips page 2", "new", ""),
        ("Tag pages are slow", "closed", "fixed"),
    ]);
    std::fs::write(
        &app.config_path,
        trac_section(&trac.url(), "10s") + &std::fs::read_to_string(&app.config_path).unwrap(),
    )
    .unwrap();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let shas = commit_ticketed_changes(&mut app);
    bot.say("deploy demo to staging").await;
    bot.expect("3 changesets since").await;
    let lines = bullets(&bot.expect("• ").await, &mut bot, 3).await;
    assert_eq!(
        lines[0],
        format!("• {} Bob Builder: Bump version", &shas[2][..7])
    );
    assert!(
        lines[1].contains("Carol Coder: Speed up tag pages · #2"),
        "{lines:?}"
    );
    assert!(
        trac.requests().iter().any(|r| r.contains("/log/")),
        "the list came from Trac's log"
    );
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
}
