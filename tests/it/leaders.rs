//! Several bots, one journal, one XMPP room on a real Prosody: exactly one of them answers each command; when the leading bot is killed mid-deploy to an SSH fleet, the other takes over, recovers the fleet to one release and says so in the room; a stalled chat server stops no heartbeat, so nobody recovers a deploy whose bot lives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bosun::journal::{DeployState, Journal};
use tokio_xmpp::parsers::message::Message;

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::PATIENCE;
use crate::support::process::{BotProcess, wait_for_file};
use crate::support::prosody::{DOMAIN, PASSWORD, Prosody, TestClient, body, room};
use crate::support::ssh_app::{SshApp, SshOptions};

const ROOM: &str = "leaders";

/// Writes `bosun-<nick>.toml` beside the app's own config: the same playbooks and journal
/// (`state_dir`), the bot as `account` on `server` with nick `nick`, alice and mallory known.
fn bot_config(dir: &Path, server: &Prosody, account: &str, nick: &str, lease: &str) -> PathBuf {
    std::fs::write(dir.join("xmpp-password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::copy(server.ca_file(), dir.join("xmpp-ca.pem")).unwrap();
    let path = dir.join(format!("bosun-{nick}.toml"));
    std::fs::write(
        &path,
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
nick = "{nick}"
ca_file = "xmpp-ca.pem"
keepalive = "10s"

[journal]
lease = "{lease}"

[[people]]
name = "alice"
xmpp = "alice@{DOMAIN}"
roles = ["deployer"]

[[people]]
name = "mallory"
xmpp = "mallory@{DOMAIN}"
roles = ["deployer"]

[roles.deployer]
deploy = ["*:*"]
rollback = ["*:*"]
lock = ["*:*"]
"#,
            port = server.port(),
            room = room(ROOM),
        ),
    )
    .unwrap();
    path
}

/// The nick of the bot that sent `message` in the room, if a bot did.
fn bot_nick(message: &Message) -> Option<String> {
    let from = message.from.as_ref()?.to_string();
    let nick = from.rsplit_once('/')?.1.to_string();
    nick.starts_with("bosun-").then_some(nick)
}

/// The next message a bot says in the room: (nick, text).
async fn next_from_bots(client: &mut TestClient) -> (String, String) {
    loop {
        let message = client
            .message_from(&room(ROOM))
            .await
            .expect("a message in the room");
        if let Some(nick) = bot_nick(&message) {
            return (nick, body(&message).unwrap_or_default().to_string());
        }
    }
}

/// Reads what the bots say until a message contains `needle`; returns (nick, text) of it.
async fn until_said(client: &mut TestClient, needle: &str) -> (String, String) {
    let mut heard = Vec::new();
    loop {
        let (nick, text) = tokio::time::timeout(PATIENCE, next_from_bots(client))
            .await
            .unwrap_or_else(|_| panic!("nobody said {needle:?}; heard:\n{}", heard.join("\n")));
        if text.contains(needle) {
            return (nick, text);
        }
        heard.push(format!("{nick}: {text}"));
    }
}

/// The host of the leader row of the journal at `path`, once there is one.
async fn leader_row(path: &Path) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let path = path.to_path_buf();
        let found = tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open(path).ok()?;
            conn.query_row(
                "SELECT instance FROM leaders WHERE network = 'xmpp'",
                [],
                |r| r.get::<_, String>(0),
            )
            .ok()
        })
        .await
        .unwrap();
        if let Some(instance) = found {
            return instance;
        }
        assert!(tokio::time::Instant::now() < deadline, "no bot leads");
        tokio::time::sleep(Duration::from_millis(50)).await; // allow-sleep: polling the journal the bots write
    }
}

/// A person in the room.
async fn person(server: &Prosody, name: &str) -> TestClient {
    let mut client = TestClient::connect(server, name).await.unwrap();
    client.join(&room(ROOM), name).await.unwrap();
    client
}

/// Starts the bot of `config` and waits until `watcher` sees it in the room as `nick`.
async fn start_bot(config: &Path, nick: &str, watcher: &mut TestClient) -> BotProcess {
    let bot = BotProcess::start(config, "alice");
    watcher
        .sees_occupant(&room(ROOM), nick)
        .await
        .expect("the bot joins the room");
    bot
}

#[tokio::test]
async fn two_bots_in_one_room_answer_each_of_100_commands_from_two_people_once() {
    let server = Prosody::start(&["alice", "mallory", "bot-one", "bot-two"])
        .await
        .expect("prosody starts");
    let app = DemoApp::new(AppOptions::default());
    let one = bot_config(app.path(), &server, "bot-one", "bosun-one", "2s");
    let two = bot_config(app.path(), &server, "bot-two", "bosun-two", "2s");
    let mut alice = person(&server, "alice").await;
    let mut mallory = person(&server, "mallory").await;
    let _one = start_bot(&one, "bosun-one", &mut alice).await;
    leader_row(&app.journal_path()).await;
    let _two = start_bot(&two, "bosun-two", &mut alice).await;

    let mut answered_by = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..100 {
        let asker = if i % 2 == 0 { &mut alice } else { &mut mallory };
        asker.say(&room(ROOM), "!status").await.unwrap();
        let (nick, text) = tokio::time::timeout(PATIENCE, next_from_bots(&mut alice))
            .await
            .expect("an answer");
        assert!(text.contains("nothing is running"), "{nick}: {text}");
        *answered_by.entry(nick).or_default() += 1;
    }
    // A last question marks the end: an answer doubled by the other bot would have come
    // before the answer to it.
    mallory.say(&room(ROOM), "!help status").await.unwrap();
    let (_, last) = tokio::time::timeout(PATIENCE, next_from_bots(&mut alice))
        .await
        .expect("an answer");
    assert!(
        !last.contains("nothing is running"),
        "an answer came twice: {last}"
    );
    assert_eq!(answered_by.values().sum::<usize>(), 100, "{answered_by:?}");
    assert_eq!(answered_by.len(), 1, "one voice: {answered_by:?}");
    assert_eq!(answered_by.get("bosun-one"), Some(&100), "{answered_by:?}");
}

/// The kill points of the failover test, after the deploy was announced: spread over the
/// staging, migration and switch of a deploy of about three and a half seconds.
const KILL_POINTS_MS: [u64; 10] = [150, 450, 800, 1100, 1400, 1700, 2000, 2300, 2700, 3100];

#[tokio::test]
async fn the_leading_bot_killed_mid_deploy_is_taken_over_and_its_fleet_recovered_within_10_s() {
    let marks = tempfile::tempdir().unwrap();
    let stack = marks.path().join("stack");
    std::fs::write(&stack, "").unwrap();
    let mut ssh = SshApp::new(SshOptions {
        hosts: 8,
        groups: vec![("web", 8, Some(3))],
        build: r#"[["sh", "-c", "sleep 0.5; true"]]"#.into(),
        restart: "sh -c 'sleep 0.3; true'".into(),
        pipeline_extra: format!(
            r#"migrate = {{ up = ["sh", "-c", "sleep 1; echo \"$0\" >> \"$1\"", "{{revision}}", "{stack}"], down = ["sh", "-c", "sleep 1; sed -i \"/^$0\\$/d\" \"$1\"", "{{revision}}", "{stack}"], once = true }}"#,
            stack = stack.display()
        ),
        ..SshOptions::default()
    });
    let server = Prosody::start(&["alice", "bot-one", "bot-two"])
        .await
        .expect("prosody starts");
    let dir = ssh.app.path().to_path_buf();
    let configs = [
        (
            bot_config(&dir, &server, "bot-one", "bosun-one", "5s"),
            "bosun-one",
        ),
        (
            bot_config(&dir, &server, "bot-two", "bosun-two", "5s"),
            "bosun-two",
        ),
    ];
    let mut alice = person(&server, "alice").await;
    let mut bots = [
        Some(start_bot(&configs[0].0, configs[0].1, &mut alice).await),
        None,
    ];
    leader_row(&ssh.app.journal_path()).await;
    bots[1] = Some(start_bot(&configs[1].0, configs[1].1, &mut alice).await);
    // A first deploy, so that there is a release to come back to.
    alice
        .say(&room(ROOM), "!deploy demo to staging")
        .await
        .unwrap();
    let (first, _) = until_said(&mut alice, "is live on 8 hosts").await;
    let mut leader = configs.iter().position(|(_, n)| *n == first).unwrap();

    let mut times = Vec::new();
    for (round, kill_ms) in KILL_POINTS_MS.iter().enumerate() {
        let before = ssh.current(&ssh.fleet.names()[0]).unwrap();
        ssh.app.commit("Carol", &format!("Round {round}"));
        alice
            .say(&room(ROOM), "!deploy demo to staging")
            .await
            .unwrap();
        let (nick, _) = until_said(&mut alice, "alice is deploying demo").await;
        assert_eq!(nick, configs[leader].1, "the leader deploys");
        tokio::time::sleep(Duration::from_millis(*kill_ms)).await; // allow-sleep: the kill point
        let mut killed = bots[leader].take().unwrap();
        killed.child.kill().await.unwrap(); // SIGKILL
        let killed_at = Instant::now();
        let (nick, told) = until_said(&mut alice, "takes over").await;
        let took = killed_at.elapsed();
        let follower = 1 - leader;
        assert_eq!(nick, configs[follower].1, "{told}");
        times.push(took.as_secs_f64());
        eprintln!("round {round}: kill at {kill_ms} ms, told after {took:.2?}: {told}");
        // Every host on one release, with its release directories the same.
        let names = ssh.fleet.names();
        let current = ssh.current(&names[0]).unwrap();
        let releases = ssh.releases(&names[0]);
        for host in &names {
            assert_eq!(
                ssh.current(host).as_ref(),
                Some(&current),
                "round {round} on {host}: {told}"
            );
            assert_eq!(
                ssh.releases(host),
                releases,
                "round {round} on {host}: {told}"
            );
        }
        assert!(releases.contains(&current), "{releases:?}");
        assert!(
            releases.iter().all(|r| !r.ends_with(".partial")),
            "{releases:?}"
        );
        if told.contains("was recovered") {
            assert_eq!(
                current, before,
                "round {round}: recovered to where it was: {told}"
            );
        } else {
            assert!(told.contains("nothing was running"), "{told}");
        }
        assert!(
            took < Duration::from_secs(10),
            "round {round} (kill at {kill_ms} ms): the room was told after {took:?}: {told}"
        );
        // The killed bot comes back, and follows.
        bots[leader] = Some(start_bot(&configs[leader].0, configs[leader].1, &mut alice).await);
        leader = follower;
    }
    times.sort_by(f64::total_cmp);
    let median = (times[4] + times[5]) / 2.0;
    println!(
        "failover_s: {median:.2} {:.2} (all: {times:.2?})",
        times[times.len() - 1]
    );
    let journal = Journal::open(&ssh.app.journal_path()).await.unwrap();
    assert!(journal.unfinished().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_stalled_chat_server_stops_no_heartbeat_and_nobody_recovers_a_deploy_whose_bot_lives() {
    let marks = tempfile::tempdir().unwrap();
    let (reached, gate) = (marks.path().join("reached"), marks.path().join("gate"));
    let app = DemoApp::new(AppOptions {
        restart: format!(
            r#"sh -c 'if [ -e HOLD ]; then touch "$1"; for i in $(seq 600); do [ -e "$2" ] && exit 0; sleep 0.1; done; exit 1; fi' sh {} {}"#,
            reached.display(),
            gate.display()
        ),
        ..AppOptions::default()
    });
    let server = Prosody::start(&["alice", "bot-one", "bot-two"])
        .await
        .expect("prosody starts");
    let one = bot_config(app.path(), &server, "bot-one", "bosun-one", "1s");
    let two = bot_config(app.path(), &server, "bot-two", "bosun-two", "1s");
    let mut alice = person(&server, "alice").await;
    let _one = start_bot(&one, "bosun-one", &mut alice).await;
    leader_row(&app.journal_path()).await;
    let _two = start_bot(&two, "bosun-two", &mut alice).await;
    alice
        .say(&room(ROOM), "!deploy demo to staging")
        .await
        .unwrap();
    until_said(&mut alice, "is live on 2 hosts").await;
    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Hold the restart",
        &[("HOLD", "1")],
    );
    alice
        .say(&room(ROOM), "!deploy demo to staging")
        .await
        .unwrap();
    wait_for_file(&reached).await;

    // The chat server stalls for three leases while the deploy waits.
    server.signal("-STOP").unwrap();
    let journal = Journal::open(&app.journal_path()).await.unwrap();
    let lock = journal
        .locks()
        .await
        .unwrap()
        .pop()
        .expect("the deploy's lock");
    let stalled_at = bosun::clock::now_ms();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = journal
            .locks()
            .await
            .unwrap()
            .pop()
            .expect("the lock is held");
        assert_eq!(
            now.generation, lock.generation,
            "nobody took the deploy over"
        );
        if now.heartbeat_at.unwrap_or(0) > stalled_at + 3_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease was not renewed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // allow-sleep: polling the journal the bot writes
    }
    let id = lock.deploy_id.unwrap();
    assert_eq!(
        journal.deploy(id).await.unwrap().state,
        DeployState::Running
    );
    server.signal("-CONT").unwrap();
    std::fs::write(&gate, "").unwrap();
    let (nick, _) = until_said(&mut alice, "is live on 2 hosts").await;
    assert_eq!(nick, "bosun-one");
    assert_eq!(
        journal.deploy(id).await.unwrap().state,
        DeployState::Succeeded
    );
    assert_eq!(app.current("h1"), app.current("h2"));
    assert!(journal.locks().await.unwrap().is_empty());
}
