//! The Discord story against a local stand-in: commands typed in a channel, a thread under it and a DM deploy, roll back and answer; bots and edits deploy nothing (an edit is answered once); 429s, RECONNECT, INVALID_SESSION, a dead gateway, a slow answer and a slow start lose and repeat nothing; close code 4014 says what to fix; commit text cannot ping.

use std::sync::Arc;
use std::time::Duration;

use bosun::bot::{self, BotOptions, BotReport};
use bosun::config::Config;
use bosun_chat::{Adapter, Channels};
use bosun_discord::{DiscordAdapter, DiscordOptions, DiscordTiming, Token};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::app::{AppOptions, DemoApp};
use crate::support::discord::{BOT_USER, DiscordStandIn, GUILD, GatewayOp, PATIENCE, TOKEN};
use crate::support::standin::StandIn;

const OPS: u64 = 1001;
const ALICE: u64 = 501;
const ALICE_DM: u64 = 2001;

/// Points the demo app's bosun.toml at the stand-in: the token in a file, alice by her id.
fn configure(app: &DemoApp, discord: &DiscordStandIn) -> Arc<Config> {
    std::fs::write(app.path().join("discord-token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        &app.config_path,
        format!(
            r#"[bot]
name = "bosun"
state_dir = "var"
playbooks = ["playbooks/demo.toml"]

[chat]
adapter = "discord"

[chat.discord]
token_file = "discord-token"
channels = ["{OPS}"]
api_url = "{api}"

[[people]]
name = "alice"
discord = "{ALICE}"
roles = ["deployer"]

[roles.deployer]
deploy = ["*:*"]
rollback = ["*:*"]
lock = ["*:*"]
"#,
            api = discord.api_url(),
        ),
    )
    .unwrap();
    app.config()
}

/// The adapter as `bosun run` builds it from the config, with short retries.
fn adapter(config: &Config) -> DiscordAdapter {
    let section = config.chat.discord.clone().expect("[chat.discord]");
    let mut options = section.options(&config.bot.name).expect("the token file");
    options.timing = DiscordTiming {
        pace: Duration::ZERO,
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_secs(1),
        call_timeout: Duration::from_secs(1),
        drain: Duration::from_secs(5),
    };
    DiscordAdapter::new(options)
}

struct DiscordBot {
    handle: JoinHandle<anyhow::Result<BotReport>>,
    shutdown: CancellationToken,
}

impl DiscordBot {
    fn start(config: Arc<Config>) -> DiscordBot {
        let adapter = adapter(&config);
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(bot::run(
            config,
            adapter,
            BotOptions::default(),
            shutdown.clone(),
        ));
        DiscordBot { handle, shutdown }
    }

    /// Waits for the bot to end by itself.
    async fn ended(mut self) -> anyhow::Result<BotReport> {
        (&mut self.handle).await.expect("the bot does not panic")
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

impl Drop for DiscordBot {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.handle.abort();
    }
}

fn gated(gate: &std::path::Path) -> AppOptions {
    AppOptions {
        restart: format!(
            r#"sh -c 'for i in $(seq 600); do [ -e "$1" ] && exit 0; sleep 0.05; done; exit 1' sh {}"#,
            gate.display()
        ),
        ..AppOptions::default()
    }
}

async fn alice_says(discord: &DiscordStandIn, text: &str) {
    discord.say(OPS, Some(GUILD), ALICE, "alice", text).await;
}

#[tokio::test]
async fn a_deploy_streams_into_the_channel_a_rollback_follows_and_a_dm_is_answered_in_the_dm() {
    let mut app = DemoApp::new(AppOptions::default());
    let discord = DiscordStandIn::start().await;
    let bot = DiscordBot::start(configure(&app, &discord));

    alice_says(&discord, "deploy demo to staging").await;
    discord
        .wait_for("the result", |v| v.find(OPS, "is live on 2 hosts"))
        .await;
    let view = discord.view();
    assert!(
        view.ops.contains(&GatewayOp::Identify {
            intents: (1 << 9) | (1 << 12) | (1 << 15),
            token_ok: true
        }),
        "{:?}",
        view.ops
    );
    let in_ops = view.in_channel(OPS);
    let shown: Vec<String> = in_ops.iter().map(|p| p.shown()).collect();
    assert_eq!(
        in_ops.len(),
        3,
        "announcement, progress, result:\n{}",
        view.transcript()
    );
    assert!(shown[0].contains("alice is deploying demo"), "{shown:?}");
    assert!(shown[1].starts_with("staging: "), "{shown:?}");
    assert!(shown[2].contains("is live on 2 hosts"), "{shown:?}");
    let edits = view.requests.iter().filter(|r| r.method == "PATCH").count();
    assert_eq!(
        edits,
        in_ops[1].versions.len() - 1,
        "progress is one message, edited"
    );
    for request in &view.requests {
        assert!(request.authorized);
        assert_eq!(request.body["allowed_mentions"], json!({"parse": []}));
    }
    let first_release = app.current("h1").expect("deployed");

    app.commit("Bob", "Tune the cache");
    alice_says(&discord, "deploy demo to staging").await;
    discord
        .wait_for("the second result", |v| {
            (v.count_posted("is live on 2 hosts") == 2).then_some(())
        })
        .await;
    alice_says(&discord, "!rollback").await;
    discord
        .wait_for("the rollback", |v| v.find(OPS, "demo is back on"))
        .await;
    assert_eq!(app.current("h1").as_deref(), Some(first_release.as_str()));

    discord.say(ALICE_DM, None, ALICE, "alice", "status").await;
    discord
        .wait_for("the DM answer", |v| v.find(ALICE_DM, "demo on staging"))
        .await;
    assert!(discord.view().find(OPS, "demo on staging: ").is_none());
    assert_eq!(bot.stop().await.deploys_succeeded, 3);
}

#[tokio::test]
async fn its_own_messages_other_bots_webhooks_and_edits_deploy_nothing() {
    let app = DemoApp::new(AppOptions::default());
    let discord = DiscordStandIn::start().await;
    let bot = DiscordBot::start(configure(&app, &discord));
    let deploy = "deploy demo to staging";
    let me = json!({"id": BOT_USER.to_string(), "username": "bosun", "discriminator": "0", "avatar": null, "bot": true});
    let ci =
        json!({"id": "777", "username": "ci", "discriminator": "0", "avatar": null, "bot": true});
    discord
        .dispatch(
            "MESSAGE_CREATE",
            DiscordStandIn::message(OPS, Some(GUILD), me, deploy, 1),
        )
        .await;
    discord
        .dispatch(
            "MESSAGE_CREATE",
            DiscordStandIn::message(OPS, Some(GUILD), ci, deploy, 2),
        )
        .await;
    let mut hook = DiscordStandIn::message(
        OPS,
        Some(GUILD),
        DiscordStandIn::user(888, "hook"),
        deploy,
        3,
    );
    hook["webhook_id"] = json!("888");
    discord.dispatch("MESSAGE_CREATE", hook).await;
    let mut edited = DiscordStandIn::message(
        OPS,
        Some(GUILD),
        DiscordStandIn::user(ALICE, "alice"),
        deploy,
        4,
    );
    edited["edited_timestamp"] = json!("2026-11-23T10:05:00.000000+00:00");
    discord.dispatch("MESSAGE_UPDATE", edited).await;
    // A channel bosun does not listen in.
    discord.say(9999, Some(GUILD), ALICE, "alice", deploy).await;

    alice_says(&discord, "!status").await;
    discord
        .wait_for("the status answer", |v| v.find(OPS, "nothing is running"))
        .await;
    let view = discord.view();
    assert_eq!(
        view.count_posted("is deploying"),
        0,
        "{}",
        view.transcript()
    );
    assert_eq!(app.current("h1"), None);
    let report = bot.stop().await;
    assert_eq!(report.deploys_succeeded + report.deploys_failed, 0);
}

#[tokio::test]
async fn rate_limits_during_progress_are_waited_out_and_nothing_is_lost() {
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let app = DemoApp::new(gated(&gate));
    let discord = DiscordStandIn::start().await;
    // Two requests per channel per 400 ms, as the headers tell.
    discord.bucket(2, Duration::from_millis(400));
    let bot = DiscordBot::start(configure(&app, &discord));

    alice_says(&discord, "deploy demo to staging").await;
    discord
        .wait_for("the progress message", |v| {
            v.find(OPS, "switching web batch 1/1")
        })
        .await;
    discord.rate_limit(2, Duration::from_millis(700), false);
    std::fs::write(&gate, "").unwrap();
    discord
        .wait_for("the result", |v| v.find(OPS, "is live on 2 hosts"))
        .await;
    discord.rate_limit(1, Duration::from_millis(500), true);
    alice_says(&discord, "!status").await;
    discord
        .wait_for("the status answer", |v| v.find(OPS, "nothing is running"))
        .await;
    assert_eq!(bot.stop().await.deploys_succeeded, 1);

    let view = discord.view();
    assert!(view.too_early.is_empty(), "{:#?}", view.too_early);
    assert_eq!(view.requests.iter().filter(|r| r.status == 429).count(), 3);
    assert_eq!(view.count_posted("alice is deploying demo"), 1);
    assert_eq!(view.count_posted("is live on 2 hosts"), 1);
    assert_eq!(view.progress().len(), 1, "{}", view.transcript());
    assert!(app.current("h1").is_some() && app.current("h2").is_some());
}

#[tokio::test]
async fn reconnect_invalid_session_and_a_dead_gateway_lose_nothing() {
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let app = DemoApp::new(gated(&gate));
    let discord = DiscordStandIn::start().await;
    let bot = DiscordBot::start(configure(&app, &discord));

    alice_says(&discord, "deploy demo to staging").await;
    discord
        .wait_for("the progress message", |v| {
            v.find(OPS, "switching web batch 1/1")
        })
        .await;

    // RECONNECT: serenity resumes the session.
    discord
        .send_op(json!({"op": 7, "d": null, "s": null, "t": null}))
        .await;
    discord
        .wait_for("a RESUME", |v| {
            v.ops
                .iter()
                .any(|op| matches!(op, GatewayOp::Resume { .. }))
                .then_some(())
        })
        .await;
    alice_says(&discord, "!status").await;
    discord
        .wait_for("the status answer", |v| {
            v.find(OPS, "running: demo on staging")
        })
        .await;

    // INVALID_SESSION, resumable.
    discord
        .send_op(json!({"op": 9, "d": true, "s": null, "t": null}))
        .await;
    discord
        .wait_for("a second RESUME", |v| {
            (v.ops
                .iter()
                .filter(|op| matches!(op, GatewayOp::Resume { .. }))
                .count()
                >= 2)
                .then_some(())
        })
        .await;

    // The gateway dies and stays away: the deploy's milestones still go out over REST.
    discord.drop_connection(true).await;
    std::fs::write(&gate, "").unwrap();
    discord
        .wait_for("the result while the gateway is down", |v| {
            v.find(OPS, "is live on 2 hosts")
        })
        .await;
    assert!(!discord.view().ready);
    discord.accept();
    discord.wait_ready().await;
    alice_says(&discord, "!status").await;
    discord
        .wait_for("an answer after the reconnection", |v| {
            v.find(OPS, "nothing is running")
        })
        .await;
    bot.stop().await;

    let view = discord.view();
    let milestones: Vec<String> = view
        .in_channel(OPS)
        .iter()
        .map(|p| crate::support::discord::shown(&p.versions[0]))
        .filter(|t| !t.starts_with("staging: ") || t.contains(" is live on "))
        .collect();
    assert_eq!(milestones.len(), 4, "{}", view.transcript());
    assert!(
        milestones[0].contains("alice is deploying demo"),
        "{milestones:?}"
    );
    assert!(
        milestones[1].contains("running: demo on staging"),
        "{milestones:?}"
    );
    assert!(
        milestones[2].contains("is live on 2 hosts"),
        "{milestones:?}"
    );
    assert!(
        milestones[3].contains("nothing is running"),
        "{milestones:?}"
    );
}

#[tokio::test]
async fn a_commit_subject_cannot_ping_anyone_and_still_reads_as_written() {
    let mut app = DemoApp::new(AppOptions::default());
    let subject = format!(
        "@everyone @here <@&123> **bold** _it_ `code` ||spoiler|| [click](https://evil.example) {}",
        "very long ".repeat(800)
    );
    app.commit("Mallory", &subject);
    let discord = DiscordStandIn::start().await;
    let bot = DiscordBot::start(configure(&app, &discord));
    alice_says(&discord, "deploy demo to staging").await;
    discord
        .wait_for("the result", |v| v.find(OPS, "is live on 2 hosts"))
        .await;
    bot.stop().await;

    let view = discord.view();
    for request in &view.requests {
        let content = request.body["content"].as_str().unwrap();
        assert!(content.chars().count() <= 2_000, "{}", content.len());
        assert!(
            !content.contains("@everyone") && !content.contains("@here"),
            "{content}"
        );
        assert!(!content.replace("\\<", "").contains('<'), "{content}");
        assert!(!content.replace("\\*", "").contains('*'), "{content}");
        assert_eq!(request.body["allowed_mentions"], json!({"parse": []}));
    }
    let announcement = view
        .find(OPS, "alice is deploying demo")
        .expect("the announcement");
    assert!(
        announcement.shown().contains(
            "@everyone @here <@&123> **bold** _it_ `code` ||spoiler|| [click](https://evil.example) very long"
        ),
        "{}",
        announcement.shown()
    );
}

#[tokio::test]
async fn a_base_url_that_is_not_discords_api_fails_loudly_and_a_gateway_url_that_fails_for_a_while_is_waited_for()
 {
    // Something answers, but not as Discord: the adapter must not fall back to Discord's own
    // gateway, and says which URL it asked.
    let not_discord = StandIn::answering(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    let url = not_discord.url();
    let adapter = DiscordAdapter::new(DiscordOptions {
        token: Token::new(TOKEN),
        channels: vec![OPS],
        api_url: url.clone(),
        bot_name: "bosun".into(),
        timing: DiscordTiming::default(),
    });
    let (inbound, _heard) = tokio::sync::mpsc::channel(4);
    let (_say, outbound) = tokio::sync::mpsc::channel(4);
    let result = tokio::time::timeout(
        PATIENCE,
        adapter.run(Channels { inbound, outbound }, CancellationToken::new()),
    )
    .await
    .expect("the adapter gives up instead of waiting");
    let error = format!("{:#}", result.expect_err("no gateway, no adapter"));
    assert!(error.contains(&format!("{url}/api/v10/gateway")), "{error}");

    // Discord having trouble at start-up: the adapter tries again until it can connect.
    let app = DemoApp::new(AppOptions::default());
    let discord = DiscordStandIn::start().await;
    discord.fail_gateway_url(2);
    let bot = DiscordBot::start(configure(&app, &discord));
    discord.wait_ready().await;
    alice_says(&discord, "!status").await;
    discord
        .wait_for("the status answer", |v| v.find(OPS, "nothing is running"))
        .await;
    bot.stop().await;
}

#[tokio::test]
async fn edits_of_commands_run_nothing_and_each_is_answered_once_as_a_reply() {
    let app = DemoApp::new(AppOptions::default());
    let discord = DiscordStandIn::start().await;
    let bot = DiscordBot::start(configure(&app, &discord));
    let typo = discord
        .say(OPS, Some(GUILD), ALICE, "alice", "deploy demo to stagign")
        .await;
    discord
        .wait_for("the typo answered", |v| v.find(OPS, "no environment"))
        .await;
    discord
        .edit(
            OPS,
            Some(GUILD),
            ALICE,
            "alice",
            typo,
            "deploy demo to staging",
        )
        .await;
    let rollback = discord
        .say(OPS, Some(GUILD), ALICE, "alice", "!rolback")
        .await;
    for _ in 0..2 {
        discord
            .edit(OPS, Some(GUILD), ALICE, "alice", rollback, "!rollback")
            .await;
    }
    alice_says(&discord, "!status").await;
    discord
        .wait_for("the status answer", |v| v.find(OPS, "nothing is running"))
        .await;
    bot.stop().await;

    let view = discord.view();
    let answers: Vec<&crate::support::discord::Request> = view
        .requests
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.body["content"].as_str().is_some_and(|c| {
                    crate::support::discord::shown(c).contains("edits are not run as commands")
                })
        })
        .collect();
    assert_eq!(answers.len(), 2, "{}", view.transcript());
    assert_eq!(
        answers[0].body["message_reference"]["message_id"],
        json!(typo.to_string())
    );
    assert_eq!(
        answers[1].body["message_reference"]["message_id"],
        json!(rollback.to_string())
    );
    assert_eq!(
        view.count_posted("is deploying"),
        0,
        "{}",
        view.transcript()
    );
    assert_eq!(view.count_posted("rolling"), 0);
    assert_eq!(view.count_posted("nothing was deployed from this room"), 0);
    assert_eq!(app.current("h1"), None);
}

#[tokio::test]
async fn a_post_that_times_out_and_is_retried_shows_one_message() {
    let app = DemoApp::new(AppOptions::default());
    let discord = DiscordStandIn::start().await;
    let bot = DiscordBot::start(configure(&app, &discord));
    discord.wait_ready().await;
    // Longer than the adapter waits for an answer (1 s here).
    discord.slow_next_post(Duration::from_millis(1500));
    alice_says(&discord, "!status").await;
    discord
        .wait_for("a second POST of the answer", |v| {
            (v.requests.iter().filter(|r| r.method == "POST").count() >= 2).then_some(())
        })
        .await;
    alice_says(&discord, "!help status").await;
    discord
        .wait_for("the next answer", |v| v.find(OPS, "status"))
        .await;
    bot.stop().await;

    let view = discord.view();
    assert_eq!(
        view.count_posted("nothing is running"),
        1,
        "one message:\n{}",
        view.transcript()
    );
    let posts: Vec<&crate::support::discord::Request> = view
        .requests
        .iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(
        posts[0].body["nonce"], posts[1].body["nonce"],
        "the retry carries its nonce"
    );
    assert!(
        posts[0].body["nonce"]
            .as_str()
            .is_some_and(|n| n.len() <= 25)
    );
    for post in &posts {
        assert_eq!(post.body["enforce_nonce"], json!(true));
        assert_eq!(post.body["flags"], json!(4), "SUPPRESS_EMBEDS");
    }
}

#[tokio::test]
async fn a_command_in_a_thread_under_a_channel_is_answered_in_that_thread() {
    const THREAD: u64 = 1500;
    let app = DemoApp::new(AppOptions::default());
    let discord = DiscordStandIn::start().await;
    discord.add_thread(THREAD, OPS);
    discord.add_thread(1600, 9999);
    let bot = DiscordBot::start(configure(&app, &discord));
    // A thread under a channel bosun does not listen in is not heard.
    discord
        .say(1600, Some(GUILD), ALICE, "alice", "!status")
        .await;
    discord
        .say(THREAD, Some(GUILD), ALICE, "alice", "!status")
        .await;
    discord
        .wait_for("the answer in the thread", |v| {
            v.find(THREAD, "nothing is running")
        })
        .await;
    bot.stop().await;
    let view = discord.view();
    assert!(view.in_channel(OPS).is_empty(), "{}", view.transcript());
    assert!(view.in_channel(1600).is_empty(), "{}", view.transcript());
}

#[tokio::test]
async fn a_bot_without_the_message_content_intent_is_told_what_to_turn_on() {
    let app = DemoApp::new(AppOptions::default());
    let discord = DiscordStandIn::start().await;
    discord.disallow_message_content();
    let bot = DiscordBot::start(configure(&app, &discord));
    discord
        .wait_for("a close with 4014", |v| {
            (!v.closed_with.is_empty()).then_some(())
        })
        .await;
    let ended = tokio::time::timeout(PATIENCE, bot.ended())
        .await
        .expect("the bot stops when Discord refuses it");
    let error = format!("{:#}", ended.expect_err("refused"));
    assert!(
        error.contains("4014") && error.contains("Message Content intent"),
        "{error}"
    );
    assert_eq!(discord.view().closed_with, [4014]);
}
