//! The XMPP story on a real Prosody: commands typed in a multi-user chat room deploy, roll back and answer there, a direct message is answered privately; a server restart mid-deploy loses and repeats no milestone, nor do five restarts 10 s apart; corrected lines (XEP-0308) run nothing; room history, a borrowed nick, malformed and huge lines deploy nothing; commit text arrives literal and clipped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bosun::bot::{self, BotOptions, BotReport};
use bosun::config::Config;
use bosun::journal::Journal;
use bosun_chat::{Outbound, Room};
use bosun_xmpp::{MAX_OUTBOUND_CHARS, XmppAdapter};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_xmpp::parsers::message::{Message, MessageType};

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::PATIENCE;
use crate::support::process::wait_for_file;
use crate::support::prosody::bot::Bot;
use crate::support::prosody::{
    DOMAIN, PASSWORD, Prosody, TestClient, USERS, body, is_groupchat, replaces, room,
    shared_prosody,
};

/// XEP-0393 opt-out: clients show the text as written, without styling.
const NS_STYLING: &str = "urn:xmpp:styling:0";

/// Points the demo app's bosun.toml at `server`: the bot as `account`, in `room`, its password
/// and the test CA in files beside the config; alice known by her JID.
fn configure(app: &DemoApp, server: &Prosody, account: &str, room: &str) -> Arc<Config> {
    std::fs::write(app.path().join("xmpp-password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::copy(server.ca_file(), app.path().join("xmpp-ca.pem")).unwrap();
    std::fs::write(
        &app.config_path,
        format!(
            r#"[bot]
name = "bosun"
state_dir = "var"
playbooks = ["playbooks/demo.toml"]

[chat]
adapter = "xmpp"

[chat.xmpp]
jid = "{account}@{DOMAIN}"
password_file = "xmpp-password"
server = "127.0.0.1:{port}"
rooms = ["{room}"]
ca_file = "xmpp-ca.pem"
keepalive = "10s"

[[people]]
name = "alice"
xmpp = "alice@{DOMAIN}"
roles = ["deployer"]

[roles.deployer]
deploy = ["*:*"]
rollback = ["*:*"]
lock = ["*:*"]
"#,
            port = server.port(),
        ),
    )
    .unwrap();
    app.config()
}

/// The bot on the XMPP adapter, built from `[chat.xmpp]` as `bosun run` builds it.
struct XmppBot {
    handle: JoinHandle<anyhow::Result<BotReport>>,
    shutdown: CancellationToken,
}

impl XmppBot {
    fn start(config: Arc<Config>) -> XmppBot {
        let section = config.chat.xmpp.clone().expect("[chat.xmpp]");
        let password = section.password.read().expect("the password file");
        let adapter = XmppAdapter::new(section.adapter_config(&password));
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(bot::run(
            config,
            adapter,
            BotOptions::default(),
            shutdown.clone(),
        ));
        XmppBot { handle, shutdown }
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

impl Drop for XmppBot {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.handle.abort();
    }
}

/// What the bot says in `room`, as its occupant `bosun`.
fn bot_in(room: &str) -> String {
    format!("{room}/bosun")
}

fn text(message: &Message) -> &str {
    body(message).unwrap_or_default()
}

/// The bot's messages in `room` from the next one on, up to and including the first that
/// contains `needle`.
async fn said_until(
    client: &mut TestClient,
    room: &str,
    needle: &str,
) -> anyhow::Result<Vec<Message>> {
    let mut said = Vec::new();
    loop {
        let message = client.message_from(&bot_in(room)).await?;
        let done = text(&message).contains(needle);
        said.push(message);
        if done {
            return Ok(said);
        }
    }
}

/// A progress line of a deploy to staging (the milestones are the rest).
fn is_progress(message: &Message) -> bool {
    let text = text(message);
    text.starts_with("staging: ")
        && !text.contains(" is live on ")
        && !text.contains(" is back on ")
}

fn transcript(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| format!("[{}] {}", replaces(m).unwrap_or("new"), text(m)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A deploy as the room sees it: the announcement, progress edited in place, the result.
fn assert_one_deploy(said: &[Message], first_line: &str, last_line: &str) {
    let shown = transcript(said);
    let (first, rest) = said.split_first().expect("something was said");
    let (last, progress) = rest.split_last().expect("an announcement and a result");
    assert!(text(first).starts_with(first_line), "{shown}");
    assert!(text(last).contains(last_line), "{shown}");
    assert!(!progress.is_empty(), "progress was shown:\n{shown}");
    assert!(progress.iter().all(is_progress), "{shown}");
    let thread = progress[0]
        .id
        .clone()
        .expect("the bot's messages carry ids")
        .0;
    assert_eq!(replaces(&progress[0]), None, "{shown}");
    for correction in &progress[1..] {
        assert_eq!(
            replaces(correction),
            Some(thread.as_str()),
            "later progress corrects the first progress message (XEP-0308):\n{shown}"
        );
    }
    assert_eq!((replaces(first), replaces(last)), (None, None), "{shown}");
    for message in said {
        assert!(is_groupchat(message), "{shown}");
        assert!(
            message
                .payloads
                .iter()
                .any(|p| p.is("unstyled", NS_STYLING)),
            "every message is marked unstyled: {}",
            text(message)
        );
    }
}

/// Waits until the journal has no deploy running: the event that says a deploy has ended.
async fn deploys_finished(journal: &Journal) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !journal.unfinished().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deploy did not finish within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling the journal the bot writes
    }
}

/// A restart command that marks `reached` and waits (bounded) for the test to create `gate`.
fn gated(reached: &Path, gate: &Path) -> AppOptions {
    AppOptions {
        restart: format!(
            r#"sh -c 'touch "$1"; for i in $(seq 1200); do [ -e "$2" ] && exit 0; sleep 0.05; done; exit 1' sh {} {}"#,
            reached.display(),
            gate.display()
        ),
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn a_deploy_in_the_room_is_announced_there_a_rollback_follows_and_a_dm_is_answered_privately()
-> anyhow::Result<()> {
    let server = shared_prosody().await?;
    let room = room("story");
    let mut app = DemoApp::new(AppOptions::default());
    let config = configure(&app, &server, "bot-story", &room);
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = XmppBot::start(config);
    alice.sees_occupant(&room, "bosun").await?;

    alice.say(&room, "deploy demo to staging").await?;
    let said = said_until(&mut alice, &room, "is live on 2 hosts").await?;
    assert_one_deploy(&said, "alice is deploying demo", "is live on 2 hosts");
    let first = app.current("h1").expect("deployed");
    assert_eq!(app.current("h2").as_deref(), Some(first.as_str()));

    app.commit("Bob", "Tune the cache");
    alice.say(&room, "bosun: deploy demo to staging").await?;
    let said = said_until(&mut alice, &room, "is live on 2 hosts").await?;
    assert_one_deploy(&said, "alice is deploying demo", "is live on 2 hosts");
    assert!(
        text(&said[0]).contains("Tune the cache"),
        "{}",
        text(&said[0])
    );
    assert_ne!(app.current("h1").as_deref(), Some(first.as_str()));

    alice.say(&room, "!rollback").await?;
    let said = said_until(&mut alice, &room, "is back on").await?;
    assert_one_deploy(
        &said,
        "alice is rolling demo on staging back to",
        "is back on",
    );
    assert_eq!(app.current("h1").as_deref(), Some(first.as_str()));
    assert_eq!(app.current("h2").as_deref(), Some(first.as_str()));

    // A direct message is answered in the direct conversation only.
    alice.tell(&format!("bot-story@{DOMAIN}"), "status").await?;
    let answer = alice.message_from(&format!("bot-story@{DOMAIN}")).await?;
    assert_eq!(answer.type_, MessageType::Chat);
    assert!(
        text(&answer).contains("demo on staging") && text(&answer).contains("nothing is running"),
        "{}",
        text(&answer)
    );
    alice.say(&room, "bosun: help status").await?;
    let next = alice.message_from(&bot_in(&room)).await?;
    assert!(
        !text(&next).contains("nothing is running"),
        "the status went to the room too: {}",
        text(&next)
    );
    assert!(text(&next).contains("status"), "{}", text(&next));

    let report = bot.stop().await;
    assert_eq!(report.deploys_succeeded, 3);
    Ok(())
}

#[tokio::test]
async fn a_prosody_restart_during_a_deploy_loses_no_milestone_and_repeats_none()
-> anyhow::Result<()> {
    let mut server = Prosody::start(USERS).await?;
    let room = room("restart");
    let marks = tempfile::tempdir()?;
    let (reached, gate) = (marks.path().join("reached"), marks.path().join("gate"));
    let app = DemoApp::new(gated(&reached, &gate));
    let config = configure(&app, &server, "bot-restart", &room);
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = XmppBot::start(config);
    alice.sees_occupant(&room, "bosun").await?;

    alice.say(&room, "deploy demo to staging").await?;
    let mut said = said_until(&mut alice, &room, "alice is deploying demo").await?;
    wait_for_file(&reached).await; // the deploy holds in its restart step
    said.extend(said_until(&mut alice, &room, "switching web batch 1/1").await?);
    alice.close().await?;
    assert_eq!(server.logins("bot-restart")?, 1);

    // The server dies; the deploy finishes while the bot cannot reach the room.
    server.crash();
    std::fs::write(&gate, "")?;
    let journal = Journal::open(&app.journal_path()).await?;
    deploys_finished(&journal).await;
    server.relaunch().await?;

    // Whether alice or the bot is back in the (new) room first, the bot's lines reach alice:
    // live, or as the room's history.
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join_with_history(&room, "alice", 20).await?;
    said.extend(said_until(&mut alice, &room, "is live on 2 hosts").await?);
    // The bot hears the room again; its answer comes after everything it had to say before.
    alice.say(&room, "!status").await?;
    let fence = said_until(&mut alice, &room, "nothing is running").await?;
    let shown = format!("{}\n--\n{}", transcript(&said), transcript(&fence));
    assert_eq!(fence.len(), 1, "nothing came late:\n{shown}");

    let milestones: Vec<&str> = said.iter().filter(|m| !is_progress(m)).map(text).collect();
    assert_eq!(milestones.len(), 2, "{shown}");
    assert!(
        milestones[0].starts_with("alice is deploying demo"),
        "{shown}"
    );
    assert!(milestones[1].contains("is live on 2 hosts"), "{shown}");
    let release = app.current("h1").expect("deployed");
    assert_eq!(app.current("h2"), Some(release));

    let logins = server.logins("bot-restart")?;
    assert!(
        (2..=3).contains(&logins),
        "the bot logged in {logins} times"
    );
    let report = bot.stop().await;
    assert_eq!(report.deploys_succeeded, 1);
    Ok(())
}

#[tokio::test]
async fn commands_in_the_rooms_history_deploy_nothing() -> anyhow::Result<()> {
    let server = shared_prosody().await?;
    let room = room("history");
    let app = DemoApp::new(AppOptions {
        pipeline_extra: r#"
[environments.live]

[[environments.live.groups]]
name = "web"
hosts = ["l1"]

[hosts.l1]
root = "../hosts/l1"
"#
        .into(),
        ..AppOptions::default()
    });
    let config = configure(&app, &server, "bot-history", &room);
    assert!(
        config
            .playbook("demo")
            .unwrap()
            .environment("live")
            .is_some()
    );
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    for line in [
        "deploy demo to live",
        "!deploy demo to live",
        "bosun: deploy demo to staging",
    ] {
        alice.say(&room, line).await?;
        let kept = alice.message_from(&format!("{room}/alice")).await?;
        assert_eq!(body(&kept), Some(line), "the room kept it");
    }

    let bot = XmppBot::start(config);
    alice.sees_occupant(&room, "bosun").await?;
    alice.say(&room, "!status").await?;
    let first = alice.message_from(&bot_in(&room)).await?;
    assert!(
        text(&first).contains("nothing is running"),
        "the first thing the bot says answers the live line: {}",
        text(&first)
    );
    let report = bot.stop().await;
    assert_eq!(report, BotReport::default());
    for host in ["l1", "h1", "h2"] {
        assert_eq!(app.current(host), None, "{host}");
        assert!(app.releases(host).is_empty(), "{host}");
    }
    let journal = Journal::open(&app.journal_path()).await?;
    assert!(journal.history(None, None, 10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn mallory_under_alices_nick_is_refused_and_alice_is_allowed() -> anyhow::Result<()> {
    let server = shared_prosody().await?;
    let room = room("nick");
    let app = DemoApp::new(AppOptions::default());
    let config = configure(&app, &server, "bot-nick", &room);
    let mut mallory = TestClient::connect(&server, "mallory").await?;
    mallory.join(&room, "alice").await?;
    let bot = XmppBot::start(config);
    mallory.sees_occupant(&room, "bosun").await?;

    mallory.say(&room, "deploy demo to staging").await?;
    let refusal = mallory.message_from(&bot_in(&room)).await?;
    assert!(
        text(&refusal).starts_with("I don't know who alice (mallory@localhost) is")
            && text(&refusal).contains("so I can't let them deploy anything"),
        "{}",
        text(&refusal)
    );
    mallory.leave(&room, "alice").await?;
    assert_eq!(app.current("h1"), None);

    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    alice.say(&room, "deploy demo to staging").await?;
    let said = said_until(&mut alice, &room, "is live on 2 hosts").await?;
    assert_one_deploy(&said, "alice is deploying demo", "is live on 2 hosts");
    assert!(app.current("h1").is_some());
    let report = bot.stop().await;
    assert_eq!(report.deploys_succeeded, 1);
    Ok(())
}

#[tokio::test]
async fn a_malformed_command_gets_a_suggestion_and_a_huge_line_a_clean_refusal()
-> anyhow::Result<()> {
    let server = shared_prosody().await?;
    let room = room("lines");
    let app = DemoApp::new(AppOptions::default());
    let config = configure(&app, &server, "bot-lines", &room);
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = XmppBot::start(config);
    alice.sees_occupant(&room, "bosun").await?;

    alice.say(&room, "bosun: deploi demo to staging").await?;
    let reply = alice.message_from(&bot_in(&room)).await?;
    assert!(
        text(&reply).contains("Did you mean \"deploy demo to staging\"?"),
        "{}",
        text(&reply)
    );

    let addressed = format!("!deploy demo to staging {}", "x".repeat(4000 - 24));
    assert_eq!(addressed.chars().count(), 4000);
    alice.say(&room, &addressed).await?;
    let refusal = alice.message_from(&bot_in(&room)).await?;
    assert_eq!(
        text(&refusal),
        "that line is 4000 characters long; commands are at most 500"
    );
    // Unaddressed, the same line is chatter: no answer at all.
    alice.say(&room, &addressed[1..]).await?;
    alice.say(&room, "!status").await?;
    let next = alice.message_from(&bot_in(&room)).await?;
    assert!(
        text(&next).contains("nothing is running"),
        "{}",
        text(&next)
    );

    let report = bot.stop().await;
    assert_eq!(report, BotReport::default());
    assert_eq!(app.current("h1"), None);
    Ok(())
}

#[tokio::test]
async fn commit_subjects_reach_the_room_literal_and_clipped() -> anyhow::Result<()> {
    let server = shared_prosody().await?;
    let room = room("text");
    let mut app = DemoApp::new(AppOptions::default());
    let hostile = "@here <!channel> **bold** _it_ `code` <b>html</b> & \u{1b}[31mred";
    let subject = format!("{hostile} {}", "very long ".repeat(800));
    app.commit("Mallory", &subject);
    let config = configure(&app, &server, "bot-text", &room);
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = XmppBot::start(config);
    alice.sees_occupant(&room, "bosun").await?;

    alice.say(&room, "deploy demo to staging").await?;
    let said = said_until(&mut alice, &room, "is live on 2 hosts").await?;
    assert_one_deploy(&said, "alice is deploying demo", "is live on 2 hosts");
    let announcement = text(&said[0]);
    assert!(announcement.chars().count() <= MAX_OUTBOUND_CHARS);
    let line = announcement
        .lines()
        .find(|l| l.contains("Mallory: "))
        .unwrap_or_else(|| panic!("the changeset line:\n{announcement}"));
    let shown = line.split_once("Mallory: ").unwrap().1;
    let literal = "@here <!channel> **bold** _it_ `code` <b>html</b> & ";
    assert!(shown.starts_with(literal), "{line}");
    assert!(!shown.contains('\u{1b}'), "no control character: {line:?}");
    assert!(shown.contains("[31mred very long"), "{line}");
    assert!(shown.ends_with('…'), "clipped: {line}");
    assert!(shown.chars().count() < 200, "clipped: {line}");

    // The stream survived what it carried: the room is still heard and answered.
    alice.say(&room, "!status").await?;
    let next = alice.message_from(&bot_in(&room)).await?;
    assert!(text(&next).contains("demo on staging"), "{}", text(&next));
    bot.stop().await;
    Ok(())
}

#[tokio::test]
async fn corrected_lines_run_nothing_and_each_is_answered_once_privately() -> anyhow::Result<()> {
    let server = shared_prosody().await?;
    let room = room("edits");
    let app = DemoApp::new(AppOptions::default());
    let config = configure(&app, &server, "bot-edits", &room);
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = XmppBot::start(config);
    alice.sees_occupant(&room, "bosun").await?;
    let bosun = bot_in(&room);

    // A typo, answered; its correction deploys nothing.
    let typo = alice.say(&room, "deploy demo to stagign").await?;
    let answer = alice.message_from(&bosun).await?;
    assert!(
        text(&answer).contains("no environment"),
        "{}",
        text(&answer)
    );
    alice
        .correct(&room, &typo, "deploy demo to staging")
        .await?;
    let private = alice.private_from(&bosun).await?;
    assert!(
        text(&private).starts_with("edits are not run as commands")
            && text(&private).contains("deploy demo to staging"),
        "{}",
        text(&private)
    );
    // A rollback, and its correction with the same text, twice: run once, answered once.
    let rollback = alice.say(&room, "!rollback").await?;
    let first = alice.message_from(&bosun).await?;
    assert!(
        text(&first).contains("nothing was deployed from this room"),
        "{}",
        text(&first)
    );
    for _ in 0..2 {
        alice.correct(&room, &rollback, "!rollback").await?;
    }
    let private = alice.private_from(&bosun).await?;
    assert!(text(&private).contains("!rollback"), "{}", text(&private));
    alice.say(&room, "!status").await?;
    let next = alice.message_from(&bosun).await?;
    assert!(
        text(&next).contains("nothing is running"),
        "{}",
        text(&next)
    );
    // The bot answers in order: had it answered the second correction, that would be here.
    assert_eq!(
        alice.unread_private_from(&bosun)?,
        0,
        "one answer per edited message"
    );
    let report = bot.stop().await;
    // The two originals: an unknown environment and a rollback of nothing; no edit counts.
    assert_eq!(
        report,
        BotReport {
            invalid: 2,
            ..BotReport::default()
        }
    );
    assert_eq!(app.current("h1"), None);
    Ok(())
}

#[tokio::test]
async fn five_prosody_restarts_ten_seconds_apart_lose_and_repeat_no_milestone_and_the_bot_is_back_within_five_seconds()
-> anyhow::Result<()> {
    const RESTARTS: usize = 5;
    const APART: Duration = Duration::from_secs(10);
    const BACK_WITHIN: Duration = Duration::from_secs(5);
    let account = "bot-restarts";
    let mut server = Prosody::start(&["alice", account]).await?;
    let room = room("restarts");
    let bosun = bot_in(&room);
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, account, &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    let mut restarted_at: Option<tokio::time::Instant> = None;
    let mut back_after = Vec::new();
    for restart in 1..=RESTARTS {
        if let Some(at) = restarted_at {
            // allow-sleep: the story spaces the restarts 10 s apart (the old back-off only reset after 30 s up)
            tokio::time::sleep_until(at + APART).await;
        }
        // Once the bot forwards what alice says, it has read everything before it.
        let fence = format!("before restart {restart}");
        alice.say(&room, &fence).await?;
        loop {
            if bot.heard().await?.text == fence {
                break;
            }
        }
        alice.close().await?;
        server.crash();
        restarted_at = Some(tokio::time::Instant::now());
        let queued: Vec<String> = (1..=3)
            .map(|n| format!("restart {restart}: milestone {n} of 3"))
            .collect();
        for text in &queued {
            bot.say(Outbound::milestone(Room::new(&room), text.clone()))
                .await?;
        }
        server.relaunch().await?;
        let up = tokio::time::Instant::now();
        alice = TestClient::connect(&server, "alice").await?;
        alice.join_with_history(&room, "alice", 20).await?;
        alice.sees_occupant(&room, "bosun").await?;
        back_after.push(up.elapsed());
        let mut arrived = Vec::new();
        while arrived.last() != queued.last() {
            let message = alice.message_from(&bosun).await?;
            arrived.push(body(&message).unwrap_or_default().to_string());
        }
        assert_eq!(arrived, queued, "restart {restart}: each once, in order");
    }
    bot.say(Outbound::milestone(Room::new(&room), "after the restarts"))
        .await?;
    let next = alice.message_from(&bosun).await?;
    assert_eq!(body(&next), Some("after the restarts"), "nothing repeated");
    for (n, back) in back_after.iter().enumerate() {
        assert!(
            *back <= BACK_WITHIN,
            "restart {}: back in the room after {back:?}",
            n + 1
        );
    }
    let logins = server.logins(account)?;
    assert!(
        (RESTARTS + 1..=2 * RESTARTS + 1).contains(&logins),
        "the bot logged in {logins} times"
    );
    eprintln!("back in the room after each restart: {back_after:?}");
    bot.stop().await
}
