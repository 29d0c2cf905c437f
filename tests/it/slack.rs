//! The Slack story against a local stand-in: commands typed in a channel and a DM deploy, roll back and answer; bots and edits deploy nothing (an edit is answered once, in its thread); rate limits, refreshes, dropped and silent sockets lose nothing; each deploy keeps its own thread; commit text cannot ping.

use std::sync::Arc;
use std::time::Duration;

use bosun::bot::{self, BotOptions, BotReport};
use bosun::config::Config;
use bosun_slack::{SlackAdapter, SlackTiming};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::app::{AppOptions, DemoApp};
use crate::support::slack::{APP_TOKEN, BOT_TOKEN, BOT_USER, PATIENCE, SlackStandIn};

const OPS: &str = "COPS";
/// A configured channel the bot was never invited to: every post there fails.
const LOCKED_OUT: &str = "CLOCKED";
const ALICE: &str = "UALICE";
const ALICE_DM: &str = "DALICE";

/// Points the demo app's bosun.toml at the stand-in: tokens in files, alice by her user id.
fn configure(app: &DemoApp, slack: &SlackStandIn, thread_replies: bool) -> Arc<Config> {
    std::fs::write(app.path().join("slack-bot-token"), format!("{BOT_TOKEN}\n")).unwrap();
    std::fs::write(app.path().join("slack-app-token"), format!("{APP_TOKEN}\n")).unwrap();
    std::fs::write(
        &app.config_path,
        format!(
            r#"[bot]
name = "bosun"
state_dir = "var"
playbooks = ["playbooks/demo.toml"]

[chat]
adapter = "slack"

[chat.slack]
bot_token_file = "slack-bot-token"
app_token_file = "slack-app-token"
channels = ["{OPS}", "{LOCKED_OUT}"]
api_url = "{api}"
thread_replies = {thread_replies}

[[people]]
name = "alice"
slack = "{ALICE}"
roles = ["deployer"]

[roles.deployer]
deploy = ["*:*"]
rollback = ["*:*"]
lock = ["*:*"]
"#,
            api = slack.api_url(),
        ),
    )
    .unwrap();
    app.config()
}

/// The bot on the Slack adapter, built from the config as `bosun run` builds it, with short
/// waits so that tests take seconds.
struct SlackBot {
    handle: JoinHandle<anyhow::Result<BotReport>>,
    shutdown: CancellationToken,
}

impl SlackBot {
    fn start(config: Arc<Config>, pace: Duration) -> SlackBot {
        let section = config.chat.slack.clone().expect("[chat.slack]");
        let mut options = section.options(&config.bot.name).expect("the token files");
        options.timing = SlackTiming {
            pace,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(1),
            hello_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_millis(200),
            silence: Duration::from_secs(2),
            drain: Duration::from_secs(5),
        };
        let adapter = SlackAdapter::new(options);
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(bot::run(
            config,
            adapter,
            BotOptions::default(),
            shutdown.clone(),
        ));
        SlackBot { handle, shutdown }
    }

    async fn stop(mut self) -> BotReport {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, &mut self.handle)
            .await
            .expect("the bot stops")
            .expect("the bot does not panic")
            .expect("the bot ends cleanly")
    }
}

impl Drop for SlackBot {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.handle.abort();
    }
}

/// A restart command that waits (bounded) for the test to create `gate`.
fn gated(gate: &std::path::Path) -> AppOptions {
    AppOptions {
        restart: format!(
            r#"sh -c 'for i in $(seq 600); do [ -e "$1" ] && exit 0; sleep 0.05; done; exit 1' sh {}"#,
            gate.display()
        ),
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn a_deploy_streams_into_the_channel_a_rollback_follows_and_a_dm_is_answered_in_the_dm() {
    let mut app = DemoApp::new(AppOptions::default());
    let slack = SlackStandIn::start().await;
    let bot = SlackBot::start(configure(&app, &slack, true), Duration::from_millis(50));

    let first = slack.say(OPS, ALICE, "deploy demo to staging").await;
    slack
        .wait_for("the first result", |v| v.find(OPS, "is live on 2 hosts"))
        .await;
    let view = slack.view();
    let announcement = view
        .find(OPS, "alice is deploying demo")
        .expect("the announcement");
    let progress = view
        .in_channel(OPS)
        .into_iter()
        .find(|p| p.thread_ts.is_some())
        .expect("a progress message")
        .clone();
    assert_eq!(
        progress.thread_ts.as_deref(),
        Some(announcement.ts.as_str()),
        "progress is threaded under the announcement"
    );
    assert!(progress.text().starts_with("staging: "), "{progress:?}");
    let result = view.find(OPS, "is live on 2 hosts").expect("the result");
    assert_eq!(
        result.thread_ts.as_deref(),
        Some(announcement.ts.as_str()),
        "with thread replies on, the deploy's result goes in the thread under its announcement"
    );
    assert!(
        announcement.thread_ts.is_none(),
        "the announcement itself is in the channel"
    );
    assert_eq!(
        view.progress().len(),
        1,
        "one progress message, edited in place:\n{}",
        view.transcript()
    );
    let updates = view
        .calls
        .iter()
        .filter(|c| c.method == "chat.update" && c.status == 200)
        .count();
    assert_eq!(updates, progress.versions.len() - 1);
    let order: Vec<&str> = view.in_channel(OPS).iter().map(|p| p.ts.as_str()).collect();
    let result = view.find(OPS, "is live on 2 hosts").unwrap();
    let at = |ts: &str| order.iter().position(|t| *t == ts).unwrap();
    assert!(at(&announcement.ts) < at(&progress.ts) && at(&progress.ts) < at(&result.ts));
    let first_release = app.current("h1").expect("deployed");
    assert_eq!(app.current("h2").as_deref(), Some(first_release.as_str()));

    app.commit("Bob", "Tune the cache");
    slack.say(OPS, ALICE, "deploy demo to staging").await;
    slack
        .wait_for("the second result", |v| {
            (v.count_posted("is live on 2 hosts") == 2).then_some(())
        })
        .await;
    assert_ne!(app.current("h1").as_deref(), Some(first_release.as_str()));

    slack.say(OPS, ALICE, "!rollback").await;
    slack
        .wait_for("the rollback", |v| v.find(OPS, "demo is back on"))
        .await;
    assert_eq!(app.current("h1").as_deref(), Some(first_release.as_str()));

    let dm = slack.say(ALICE_DM, ALICE, "status").await;
    let answer = slack
        .wait_for("the DM answer", |v| v.find(ALICE_DM, "demo on staging"))
        .await;
    assert!(answer.thread_ts.is_none());
    let view = slack.view();
    assert!(
        view.find(OPS, "nothing is running").is_none(),
        "the DM is answered in the DM only"
    );
    slack
        .wait_for("the envelopes acknowledged", |v| {
            (v.acks.contains(&first) && v.acks.contains(&dm)).then_some(())
        })
        .await;
    assert!(view.calls.iter().any(|c| c.method == "users.info"));
    let report = bot.stop().await;
    assert_eq!(report.deploys_succeeded, 3);
}

#[tokio::test]
async fn bots_edits_broadcasts_and_other_channels_deploy_nothing_and_a_refused_channel_is_survived()
{
    let app = DemoApp::new(AppOptions::default());
    let slack = SlackStandIn::start().await;
    slack.break_channel(LOCKED_OUT, "not_in_channel");
    let bot = SlackBot::start(configure(&app, &slack, false), Duration::from_millis(20));
    let deploy = "deploy demo to staging";
    let mut envelopes = vec![
        // Its own message.
        slack
            .send_event(json!({"type": "message", "channel": OPS, "user": BOT_USER, "text": deploy, "ts": "1.1", "channel_type": "channel"}))
            .await,
        // Another bot, as a bot_message and as a bot user.
        slack
            .send_event(json!({"type": "message", "subtype": "bot_message", "bot_id": "BCI", "username": "ci", "channel": OPS, "text": deploy, "ts": "1.2", "channel_type": "channel"}))
            .await,
        slack
            .send_event(json!({"type": "message", "user": "UCI", "bot_id": "BCI", "bot_profile": {"id": "BCI", "name": "ci"}, "channel": OPS, "text": deploy, "ts": "1.3", "channel_type": "channel"}))
            .await,
        // Alice edits an old message into a command.
        slack
            .send_event(json!({"type": "message", "subtype": "message_changed", "channel": OPS, "hidden": true, "ts": "1.4", "channel_type": "channel",
                "message": {"type": "message", "user": ALICE, "text": deploy, "ts": "1.0", "edited": {"user": ALICE, "ts": "1.4"}},
                "previous_message": {"type": "message", "user": ALICE, "text": "hello", "ts": "1.0"}}))
            .await,
        slack
            .send_event(json!({"type": "message", "user": ALICE, "channel": OPS, "text": deploy, "ts": "1.0", "edited": {"user": ALICE, "ts": "1.5"}, "channel_type": "channel"}))
            .await,
        // A thread reply broadcast to the channel, and a channel bosun does not listen in.
        slack
            .send_event(json!({"type": "message", "subtype": "thread_broadcast", "user": ALICE, "channel": OPS, "text": deploy, "ts": "1.6", "thread_ts": "1.0", "channel_type": "channel"}))
            .await,
        slack.say("CELSEWHERE", ALICE, deploy).await,
    ];
    // A reply that cannot be delivered is logged and dropped; the bot goes on.
    envelopes.push(slack.say(LOCKED_OUT, ALICE, "!status").await);
    envelopes.push(slack.say(OPS, ALICE, "!status").await);
    slack
        .wait_for("the status answer", |v| v.find(OPS, "nothing is running"))
        .await;
    let view = slack.view();
    assert_eq!(
        view.count_posted("is deploying"),
        0,
        "{}",
        view.transcript()
    );
    assert_eq!(app.current("h1"), None);
    assert_eq!(app.current("h2"), None);
    assert!(
        view.calls
            .iter()
            .any(|c| c.method == "chat.postMessage" && c.body["channel"] == LOCKED_OUT),
        "the refused reply was tried"
    );
    slack
        .wait_for("every envelope acknowledged", |v| {
            envelopes.iter().all(|e| v.acks.contains(e)).then_some(())
        })
        .await;
    let report = bot.stop().await;
    assert_eq!(report.deploys_succeeded + report.deploys_failed, 0);
}

#[tokio::test]
async fn a_rate_limit_storm_during_progress_delays_but_loses_nothing() {
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let app = DemoApp::new(gated(&gate));
    let slack = SlackStandIn::start().await;
    let pace = Duration::from_millis(200);
    let bot = SlackBot::start(configure(&app, &slack, false), pace);

    slack.say(OPS, ALICE, "deploy demo to staging").await;
    slack
        .wait_for("the progress message", |v| {
            v.find(OPS, "switching web batch 1/1")
        })
        .await;
    slack.rate_limit(3, Duration::from_secs(1));
    std::fs::write(&gate, "").unwrap();
    slack
        .wait_for("the result", |v| v.find(OPS, "is live on 2 hosts"))
        .await;
    // Whatever was still on its way arrives too.
    let report = bot.stop().await;
    assert_eq!(report.deploys_succeeded, 1);

    let view = slack.view();
    assert!(view.too_early.is_empty(), "{:#?}", view.too_early);
    let limited = view.calls.iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 3, "the storm was met");
    assert_eq!(view.count_posted("alice is deploying demo"), 1);
    assert_eq!(view.count_posted("is live on 2 hosts"), 1);
    assert_eq!(view.progress().len(), 1, "{}", view.transcript());
    assert!(app.current("h1").is_some() && app.current("h2").is_some());
    // About one request a second per channel in production; `pace` here.
    let sent: Vec<_> = view
        .calls
        .iter()
        .filter(|c| c.method.starts_with("chat.") && c.status == 200)
        .collect();
    for pair in sent.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap + Duration::from_millis(5) >= pace,
            "{gap:?} between {} and {}",
            pair[0].method,
            pair[1].method
        );
    }
}

#[tokio::test]
async fn a_refresh_a_warning_and_a_dropped_socket_mid_deploy_lose_nothing() {
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let app = DemoApp::new(gated(&gate));
    let slack = SlackStandIn::start().await;
    let bot = SlackBot::start(configure(&app, &slack, false), Duration::from_millis(20));

    slack.say(OPS, ALICE, "deploy demo to staging").await;
    slack
        .wait_for("the progress message", |v| {
            v.find(OPS, "switching web batch 1/1")
        })
        .await;

    slack.disconnect("refresh_requested").await;
    slack
        .wait_for("a new connection, the old one closed by bosun", |v| {
            (v.opened == 2 && v.open_now == 1 && v.closed_by_client == 1).then_some(())
        })
        .await;
    slack.disconnect("warning").await;
    slack
        .wait_for("a third connection", |v| {
            (v.opened == 3 && v.open_now == 1 && v.closed_by_client == 2).then_some(())
        })
        .await;
    slack.drop_connection().await;
    slack
        .wait_for("a reconnection", |v| {
            (v.opened == 4 && v.open_now == 1).then_some(())
        })
        .await;

    // Heard on the new connection while the deploy still runs.
    slack.say(OPS, ALICE, "!status").await;
    slack
        .wait_for("the status answer", |v| {
            v.find(OPS, "running: demo on staging")
        })
        .await;
    std::fs::write(&gate, "").unwrap();
    slack
        .wait_for("the result", |v| v.find(OPS, "is live on 2 hosts"))
        .await;
    bot.stop().await;

    let view = slack.view();
    let milestones: Vec<&str> = view
        .in_channel(OPS)
        .iter()
        .map(|p| p.versions[0].as_str())
        .filter(|t| !t.starts_with("staging: ") || t.contains(" is live on "))
        .collect();
    assert_eq!(milestones.len(), 3, "{}", view.transcript());
    assert!(
        milestones[0].contains("alice is deploying demo"),
        "{milestones:?}"
    );
    assert!(milestones[1].contains("demo on staging"), "{milestones:?}");
    assert!(
        milestones[2].contains("is live on 2 hosts"),
        "{milestones:?}"
    );
    assert!(app.current("h1").is_some());
}

#[tokio::test]
async fn a_commit_subject_cannot_ping_the_channel_and_still_reads_as_written() {
    let mut app = DemoApp::new(AppOptions::default());
    let subject = format!(
        "<!channel> <!here> @everyone <@U0BOSS> *bold* _it_ `code` & <https://evil.example|click> {}",
        "very long ".repeat(800)
    );
    app.commit("Mallory", &subject);
    let slack = SlackStandIn::start().await;
    let bot = SlackBot::start(configure(&app, &slack, false), Duration::from_millis(20));
    slack.say(OPS, ALICE, "deploy demo to staging").await;
    slack
        .wait_for("the result", |v| v.find(OPS, "is live on 2 hosts"))
        .await;
    bot.stop().await;

    let view = slack.view();
    for call in view.calls.iter().filter(|c| c.method.starts_with("chat.")) {
        let text = call.body["text"].as_str().unwrap();
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(text.chars().count() <= 4_000 * 5, "{}", text.len());
        assert_eq!(call.body["link_names"], json!(false));
    }
    let announcement = view
        .find(OPS, "alice is deploying demo")
        .expect("the announcement");
    let shown = announcement
        .text()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert!(
        shown.contains("<!channel> <!here> @everyone <@U0BOSS> *bold* _it_ `code` & <https://evil.example|click> very long"),
        "{shown}"
    );
}

#[tokio::test]
async fn edits_of_commands_run_nothing_and_each_is_answered_once_in_its_thread() {
    let app = DemoApp::new(AppOptions::default());
    let slack = SlackStandIn::start().await;
    let bot = SlackBot::start(configure(&app, &slack, false), Duration::from_millis(20));
    let (_, typo) = slack
        .say_at(OPS, ALICE, "deploy demo to stagign", None)
        .await;
    slack
        .wait_for("the typo answered", |v| v.find(OPS, "no environment"))
        .await;
    // Fixing the typo by editing runs nothing; neither does an edited !rollback, twice.
    slack
        .edit(
            OPS,
            ALICE,
            &typo,
            "deploy demo to stagign",
            "deploy demo to staging",
        )
        .await;
    let (_, rollback) = slack.say_at(OPS, ALICE, "!rolback", None).await;
    for _ in 0..2 {
        slack
            .edit(OPS, ALICE, &rollback, "!rolback", "!rollback")
            .await;
    }
    // Chatter edited into other chatter is not answered.
    let (_, chatter) = slack.say_at(OPS, ALICE, "hello", None).await;
    slack.edit(OPS, ALICE, &chatter, "hello", "hello all").await;
    slack.say(OPS, ALICE, "!status").await;
    slack
        .wait_for("the status answer", |v| v.find(OPS, "nothing is running"))
        .await;
    bot.stop().await;

    let view = slack.view();
    let answers: Vec<&crate::support::slack::Posted> = view
        .posted
        .iter()
        .filter(|p| p.text().contains("edits are not run as commands"))
        .collect();
    assert_eq!(answers.len(), 2, "{}", view.transcript());
    assert_eq!(answers[0].thread_ts.as_deref(), Some(typo.as_str()));
    assert_eq!(answers[1].thread_ts.as_deref(), Some(rollback.as_str()));
    assert!(
        answers[1].text().contains("!rollback"),
        "{}",
        answers[1].text()
    );
    assert_eq!(
        view.count_posted("is deploying"),
        0,
        "{}",
        view.transcript()
    );
    assert_eq!(view.count_posted("rolling"), 0, "{}", view.transcript());
    assert_eq!(view.count_posted("nothing was deployed from this room"), 0);
    assert_eq!(app.current("h1"), None);
}

#[tokio::test]
async fn a_socket_that_goes_silent_is_replaced_and_the_next_command_is_heard() {
    let app = DemoApp::new(AppOptions::default());
    let slack = SlackStandIn::start().await;
    let bot = SlackBot::start(configure(&app, &slack, false), Duration::from_millis(20));
    slack
        .wait_for("bosun pinging Slack", |v| {
            (v.client_pings > 0).then_some(())
        })
        .await;
    slack.go_silent().await;
    let silent_at = tokio::time::Instant::now();
    slack
        .wait_for("a second connection", |v| (v.opened == 2).then_some(()))
        .await;
    let replaced_after = silent_at.elapsed();
    // The test timing: pings every 200 ms, a connection silent for 2 s is replaced.
    assert!(
        replaced_after >= Duration::from_millis(1500) && replaced_after < Duration::from_secs(6),
        "{replaced_after:?}"
    );
    slack.say(OPS, ALICE, "!status").await;
    slack
        .wait_for("the status answer on the new connection", |v| {
            v.find(OPS, "nothing is running")
        })
        .await;
    bot.stop().await;
}

#[tokio::test]
async fn two_deploys_in_one_channel_each_keep_their_progress_in_their_own_thread() {
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let app = DemoApp::new(AppOptions {
        playbook_extra: r#"
[environments.qa]
default_ref = "main"

[[environments.qa.groups]]
name = "web"
hosts = ["q1"]

[hosts.q1]
root = "@ROOT@/hosts/q1"
"#
        .into(),
        ..gated(&gate)
    });
    let slack = SlackStandIn::start().await;
    let bot = SlackBot::start(configure(&app, &slack, true), Duration::from_millis(20));

    slack.say(OPS, ALICE, "deploy demo to staging").await;
    slack
        .wait_for("the staging progress", |v| {
            v.find(OPS, "staging: switching web batch 1/1")
        })
        .await;
    slack.say(OPS, ALICE, "deploy demo to qa").await;
    let qa_progress = slack
        .wait_for("the qa progress", |v| {
            v.find(OPS, "qa: switching web batch 1/1")
        })
        .await;
    // A question asked in a deploy's thread is answered there.
    let (_, _) = slack
        .say_at(OPS, ALICE, "!status", qa_progress.thread_ts.as_deref())
        .await;
    let status = slack
        .wait_for("the status answer", |v| v.find(OPS, "running: demo on"))
        .await;
    assert_eq!(
        status.thread_ts, qa_progress.thread_ts,
        "answered in the thread"
    );
    // Slack stops taking edits: progress is posted anew, in its own thread still.
    slack.refuse_updates();
    std::fs::write(&gate, "").unwrap();
    slack
        .wait_for("both results", |v| {
            (v.count_posted("is live on") == 2).then_some(())
        })
        .await;
    bot.stop().await;

    let view = slack.view();
    for env in ["staging", "qa"] {
        let announcement = view
            .find(OPS, &format!("to {env} —"))
            .unwrap_or_else(|| panic!("the {env} announcement:\n{}", view.transcript()));
        assert!(announcement.thread_ts.is_none(), "{announcement:?}");
        let own: Vec<&crate::support::slack::Posted> = view
            .posted
            .iter()
            .filter(|p| p.versions[0].starts_with(&format!("{env}: ")))
            .collect();
        // Progress, progress posted anew once Slack refused its edit, and the result.
        assert!(own.len() >= 3, "{}", view.transcript());
        for message in own {
            assert_eq!(
                message.thread_ts.as_deref(),
                Some(announcement.ts.as_str()),
                "{env}: every later message under its own announcement:\n{}",
                view.transcript()
            );
        }
    }
    assert!(
        view.calls
            .iter()
            .any(|c| c.method == "chat.update" && c.body["parse"] == json!("none")),
        "updates carry parse: none"
    );
    assert!(app.current("q1").is_some() && app.current("h1").is_some());
}
