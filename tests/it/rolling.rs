//! Rolling deploys on local hosts: canary then continue or rollback, load balancer order, HTTP health, preflight, partial rollback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::ConsoleBot;

fn three_hosts() -> AppOptions {
    AppOptions {
        hosts: vec!["h1", "h2", "h3"],
        batch: Some(1),
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn a_canary_switches_one_host_and_continue_switches_the_rest() {
    let mut app = DemoApp::new(three_hosts());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 3 hosts").await;
    let old = app.current("h1").unwrap();

    app.commit("Bob", "Risky change");
    bot.say("deploy demo to staging canary").await;
    let waiting = bot.expect("the canary h1 is switched and healthy").await;
    assert!(waiting.contains("say \"continue\""), "{waiting}");
    let new = app.current("h1").unwrap();
    assert_ne!(new, old);
    assert_eq!(
        app.current("h2").as_deref(),
        Some(old.as_str()),
        "only the canary switched"
    );
    assert_eq!(app.current("h3").as_deref(), Some(old.as_str()));
    bot.say("status").await;
    bot.expect("running: demo on staging by alice").await;

    bot.say("continue").await;
    bot.expect("alice said continue").await;
    bot.expect("is live on 3 hosts").await;
    for host in ["h1", "h2", "h3"] {
        assert_eq!(app.current(host).as_deref(), Some(new.as_str()), "{host}");
    }
    bot.say("continue").await;
    bot.expect("nothing is waiting for \"continue\"").await;
    bot.finish().await;
}

#[tokio::test]
async fn a_canary_then_rollback_undoes_the_canary_and_the_staged_releases() {
    let mut app = DemoApp::new(three_hosts());
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 3 hosts").await;
    let old = app.current("h1").unwrap();

    app.commit("Bob", "Risky change");
    bot.say("deploy demo to staging canary").await;
    bot.expect("the canary h1 is switched").await;
    bot.say("!rollback").await;
    let undone = bot.expect("failed —").await;
    assert!(
        undone.contains("canary failed on h1: rolled back by alice"),
        "{undone}"
    );
    for host in ["h1", "h2", "h3"] {
        assert_eq!(app.current(host).as_deref(), Some(old.as_str()), "{host}");
        assert_eq!(
            app.releases(host),
            vec![old.clone()],
            "{host}: the staged release is gone"
        );
    }
    bot.finish().await;
}

#[tokio::test]
async fn the_load_balancer_takes_each_host_out_before_its_switch_and_back_after_its_check() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().display().to_string();
    let app = DemoApp::new(AppOptions {
        hosts: vec!["h1", "h2"],
        batch: Some(1),
        restart: format!(r#"sh -c 'echo restart $1 >> {log_path}' sh {{host}}"#),
        pipeline_extra: format!(
            r#"lb = {{ out = "sh -c 'echo out $1 >> {log_path}' sh {{host}}", in = "sh -c 'echo in $1 >> {log_path}' sh {{host}}" }}"#
        ),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.finish().await;
    let order = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(
        order,
        "out h1\nrestart h1\nin h1\nout h2\nrestart h2\nin h2\n"
    );
}

/// A tiny HTTP server that answers 200, or 503 for the host named in `failing`.
async fn health_server(failing: Arc<AtomicBool>) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let failing = failing.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let sick = failing.load(Ordering::SeqCst) && request.starts_with("GET /health/h2 ");
                let status = if sick {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                let body = if sick { "sick" } else { "ok" };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn an_http_health_check_from_the_bot_gates_each_switch() {
    let failing = Arc::new(AtomicBool::new(false));
    let (port, server) = health_server(failing.clone()).await;
    let mut app = DemoApp::new(AppOptions {
        health_line: Some(format!(
            r#"health = {{ http = "http://{{address}}:{port}/health/{{host}}", retries = 1, interval = "50ms", timeout = "2s" }}"#
        )),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h2").unwrap();

    failing.store(true, Ordering::SeqCst);
    app.commit("Bob", "Make h2 sick");
    bot.say("deploy demo to staging").await;
    let failed = bot.expect("failed —").await;
    assert!(
        failed.contains("health: GET http://127.0.0.1:") && failed.contains("failed on h2"),
        "{failed}"
    );
    assert!(
        bot.since("alice is deploying")
            .contains("503 Service Unavailable"),
        "the room sees the answer"
    );
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(good.as_str()), "{host}");
    }
    bot.finish().await;
    server.abort();
}

#[tokio::test]
async fn preflight_names_each_host_that_lacks_disk_or_a_command_and_touches_nothing() {
    let app = DemoApp::new(AppOptions {
        app_extra: r#"min_free = "100000TB""#.into(),
        build_extra: vec![r#""no-such-tool-here --build""#.into()],
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("not every host is ready").await;
    assert!(
        refused.contains("h1: missing commands: no-such-tool-here"),
        "{refused}"
    );
    assert!(
        refused.contains("h2: missing commands: no-such-tool-here"),
        "{refused}"
    );
    bot.finish().await;
    for host in ["h1", "h2"] {
        assert!(
            app.releases(host).is_empty() && app.current(host).is_none(),
            "{host} untouched"
        );
    }

    let app = DemoApp::new(AppOptions {
        app_extra: r#"min_free = "100000TB""#.into(),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("not every host is ready").await;
    assert!(
        refused.contains("MB free in") && refused.contains("the playbook asks for"),
        "{refused}"
    );
    bot.finish().await;
    assert!(app.releases("h1").is_empty());
}

/// Makes a local host unreachable: its deploy root becomes a file.
fn break_host(app: &DemoApp, host: &str) {
    let root = app.deploy_root(host);
    std::fs::rename(&root, root.with_extension("away")).unwrap();
    std::fs::write(&root, "not a directory").unwrap();
}

#[tokio::test]
async fn a_rollback_with_a_host_down_refuses_unless_the_playbook_allows_a_partial_one() {
    for partial in [false, true] {
        let mut app = DemoApp::new(AppOptions {
            hosts: vec!["h1", "h2", "h3"],
            app_extra: format!("rollback_partial = {partial}"),
            ..AppOptions::default()
        });
        let mut bot = ConsoleBot::start(app.config(), "alice");
        bot.say("deploy demo to staging").await;
        bot.expect("is live on 3 hosts").await;
        let first = app.current("h1").unwrap();
        app.commit("Bob", "Second");
        bot.say("deploy demo to staging").await;
        bot.expect("is live on 3 hosts").await;
        let second = app.current("h1").unwrap();
        break_host(&app, "h3");

        bot.say("!rollback").await;
        if partial {
            let skipped = bot.expect("skipping h3").await;
            assert!(skipped.contains("cannot be reached"), "{skipped}");
            bot.expect("demo is back on").await;
            assert_eq!(app.current("h1"), Some(first.clone()));
            assert_eq!(app.current("h2"), Some(first.clone()));
        } else {
            let refused = bot.expect("not every host is ready").await;
            assert!(
                refused.contains("h3:") && refused.contains("rollback_partial = false"),
                "{refused}"
            );
            assert_eq!(app.current("h1"), Some(second.clone()), "nothing switched");
            assert_eq!(app.current("h2"), Some(second.clone()));
        }
        bot.finish().await;
    }
}
