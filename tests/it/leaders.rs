//! Several bots, one PostgreSQL journal, one XMPP room on a real Prosody: exactly one of them answers each command; when the leading bot is killed mid-deploy to an SSH fleet, or cut off from the database, the other takes over, recovers the fleet to one release and says so in the room, and the cut-off bot acts no more; a stalled chat server stops no heartbeat, so nobody recovers a deploy whose bot lives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bosun::journal::{DeployState, Journal};
use tokio_xmpp::parsers::message::Message;

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::PATIENCE;
use crate::support::postgres::{PASSWORD as PG_PASSWORD, PgDatabase, ROLE, database};
use crate::support::process::{BotProcess, wait_for_file};
use crate::support::prosody::{DOMAIN, PASSWORD, Prosody, TestClient, body, room};
use crate::support::proxy::Proxy;
use crate::support::ssh_app::{SshApp, SshOptions};

const ROOM: &str = "leaders";

/// The bots' shared journal: a fresh PostgreSQL database.
struct Shared {
    db: PgDatabase,
}

impl Shared {
    async fn new() -> Shared {
        Shared {
            db: database().await,
        }
    }

    /// The `[journal]` keys of a bot that reaches the database at `port` on 127.0.0.1 (the
    /// server's own, or a proxy's), its password in a file beside the config in `dir`.
    fn keys(&self, dir: &Path, port: u16) -> String {
        std::fs::write(dir.join("journal-password"), PG_PASSWORD).unwrap();
        format!(
            "url = \"postgres://{ROLE}@127.0.0.1:{port}/{name}\"\npassword_file = \"journal-password\"\n",
            name = self.db.name
        )
    }

    /// The keys of a bot that reaches the database directly.
    fn direct(&self, dir: &Path) -> String {
        self.keys(dir, self.db.port)
    }

    async fn journal(&self) -> Journal {
        Journal::connect(&self.db.location()).await.unwrap()
    }
}

/// Writes `bosun-<nick>.toml` beside the app's own config: the same playbooks, the journal of
/// `journal` (the `[journal]` keys), the bot as `account` on `server` with nick `nick`, alice
/// and mallory known.
fn bot_config(
    dir: &Path,
    server: &Prosody,
    account: &str,
    nick: &str,
    lease: &str,
    journal: &str,
) -> PathBuf {
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
{journal}
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

/// The instance that leads the XMPP network in `journal`, once one does.
async fn leader_row(journal: &Journal) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(leader) = journal.leader("xmpp").await.unwrap() {
            return leader.instance;
        }
        assert!(tokio::time::Instant::now() < deadline, "no bot leads");
        tokio::time::sleep(Duration::from_millis(50)).await; // allow-sleep: polling the journal the bots write
    }
}

/// How deploy `id` ended, once it has: "is live" is said before its clean-up of old
/// releases, so the journal may still have it running when the room hears it.
async fn ended(journal: &Journal, id: i64) -> DeployState {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let state = journal.deploy(id).await.unwrap().state;
        if state != DeployState::Running {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deploy #{id} did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling the journal the bots write
    }
}

/// Waits until the journal has no deploy running.
async fn all_ended(journal: &Journal) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while let Some(running) = journal.unfinished().await.unwrap().pop() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "deploy #{} did not end",
            running.id
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling the journal the bots write
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
    let shared = Shared::new().await;
    let keys = shared.direct(app.path());
    let one = bot_config(app.path(), &server, "bot-one", "bosun-one", "2s", &keys);
    let two = bot_config(app.path(), &server, "bot-two", "bosun-two", "2s", &keys);
    let mut alice = person(&server, "alice").await;
    let mut mallory = person(&server, "mallory").await;
    let _one = start_bot(&one, "bosun-one", &mut alice).await;
    leader_row(&shared.journal().await).await;
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
    let shared = Shared::new().await;
    let keys = shared.direct(&dir);
    let configs = [
        (
            bot_config(&dir, &server, "bot-one", "bosun-one", "5s", &keys),
            "bosun-one",
        ),
        (
            bot_config(&dir, &server, "bot-two", "bosun-two", "5s", &keys),
            "bosun-two",
        ),
    ];
    let mut alice = person(&server, "alice").await;
    let mut bots = [
        Some(start_bot(&configs[0].0, configs[0].1, &mut alice).await),
        None,
    ];
    let journal = shared.journal().await;
    leader_row(&journal).await;
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
        if told.contains("already live on every host") {
            // Killed in its clean-up: the release the room was told is live stays live.
            assert_ne!(current, before, "round {round}: {told}");
            assert!(told.contains(&current), "round {round}: {told}");
        } else if told.contains("was recovered") {
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
    let shared = Shared::new().await;
    let keys = shared.direct(app.path());
    let one = bot_config(app.path(), &server, "bot-one", "bosun-one", "1s", &keys);
    let two = bot_config(app.path(), &server, "bot-two", "bosun-two", "1s", &keys);
    let mut alice = person(&server, "alice").await;
    let _one = start_bot(&one, "bosun-one", &mut alice).await;
    let journal = shared.journal().await;
    leader_row(&journal).await;
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
    let lock = journal
        .locks()
        .await
        .unwrap()
        .pop()
        .expect("the deploy's lock");
    let stalled_at = journal.now_ms().await.unwrap();
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
    assert_eq!(ended(&journal, id).await, DeployState::Succeeded);
    assert_eq!(app.current("h1"), app.current("h2"));
    assert!(journal.locks().await.unwrap().is_empty());
}

/// A step command that leaves its mark on its host: appends `NAME RELEASE` (the release its
/// working directory is in, or `$3`) to the deploy root's `steps.log`, then takes `$2` seconds.
const STEP_SCRIPT: &str = r#"#!/bin/sh
root=${PWD%/releases/*}
echo "$1 ${3:-$(basename "$PWD")}" >> "$root/steps.log"
sleep "$2"
"#;

/// The lines of `host`'s `steps.log`.
fn step_log(ssh: &SshApp, host: &str) -> Vec<String> {
    std::fs::read_to_string(ssh.deploy_root(host).join("steps.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn a_bot_cut_off_from_postgres_stops_acting_and_the_other_recovers_its_deploy_with_no_step_run_twice()
 {
    let marks = tempfile::tempdir().unwrap();
    let script = marks.path().join("step.sh");
    std::fs::write(&script, STEP_SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let step = |name: &str, seconds: &str| format!("{} {name} {seconds}", script.display());
    let ssh = SshApp::new(SshOptions {
        hosts: 4,
        groups: vec![("web", 4, Some(2))],
        build: format!("[{:?}]", step("build", "0.5")),
        restart: step("restart", "0.3"),
        pipeline_extra: format!(
            "migrate = {{ up = {:?}, down = {:?}, once = true }}\nlb = {{ out = {:?}, in = {:?} }}",
            format!("{} {{revision}}", step("migrate-up", "1")),
            format!("{} {{revision}}", step("migrate-down", "1")),
            step("lb-out", "0.2"),
            step("lb-in", "0.2"),
        ),
        ..SshOptions::default()
    });
    let server = Prosody::start(&["alice", "bot-one", "bot-two"])
        .await
        .expect("prosody starts");
    let dir = ssh.app.path().to_path_buf();
    let shared = Shared::new().await;
    // Bot one reaches PostgreSQL through a proxy the test can cut; bot two directly.
    let proxy = Proxy::start(format!("127.0.0.1:{}", shared.db.port).parse().unwrap()).await;
    let one = bot_config(
        &dir,
        &server,
        "bot-one",
        "bosun-one",
        "3s",
        &shared.keys(&dir, proxy.address().port()),
    );
    let two = bot_config(
        &dir,
        &server,
        "bot-two",
        "bosun-two",
        "3s",
        &shared.direct(&dir),
    );
    let mut alice = person(&server, "alice").await;
    let _one = start_bot(&one, "bosun-one", &mut alice).await;
    let journal = shared.journal().await;
    let first = leader_row(&journal).await;
    let _two = start_bot(&two, "bosun-two", &mut alice).await;
    alice
        .say(&room(ROOM), "!deploy demo to staging")
        .await
        .unwrap();
    let (nick, _) = until_said(&mut alice, "is live on 4 hosts").await;
    assert_eq!(nick, "bosun-one");
    let names = ssh.fleet.names();
    let before = ssh.current(&names[0]).unwrap();
    let logged: Vec<usize> = names.iter().map(|h| step_log(&ssh, h).len()).collect();

    // The next deploy is cut off from the journal once its switch has begun on the first batch.
    let mut ssh = ssh;
    ssh.app.commit("Carol", "Cut off mid-deploy");
    alice
        .say(&room(ROOM), "!deploy demo to staging")
        .await
        .unwrap();
    until_said(&mut alice, "alice is deploying demo").await;
    let deploy = journal
        .running()
        .await
        .unwrap()
        .pop()
        .expect("the deploy runs");
    let release = deploy.release.clone().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !step_log(&ssh, &names[0]).contains(&format!("restart {release}")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the switch never began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling a host's step log
    }
    proxy.cut();
    let cut_at = Instant::now();
    let (nick, told) = until_said(&mut alice, "takes over").await;
    let took = cut_at.elapsed();
    assert_eq!(nick, "bosun-two", "{told}");
    assert!(
        told.contains(&format!("#{} of demo", deploy.id)) && told.contains("was recovered"),
        "{told}"
    );
    // Not before the lease (3 s) ran out, counted from bot one's last renewal (at most a fifth
    // of a lease before the cut).
    assert!(
        took >= Duration::from_millis(2_400),
        "before the lease ran out: {took:?}"
    );
    let leader = journal.leader("xmpp").await.unwrap().unwrap();
    assert_ne!(leader.instance, first, "bot two leads now");
    assert_eq!(
        journal.deploy(deploy.id).await.unwrap().state,
        DeployState::Recovered
    );
    // The fleet is back where it was, on every host; what the hosts logged so far.
    let recovered: Vec<Vec<String>> = names.iter().map(|h| step_log(&ssh, h)).collect();
    for host in &names {
        assert_eq!(ssh.current(host).as_ref(), Some(&before), "{host}: {told}");
    }

    // The partition heals: bot one's held requests reach the journal, and it finds its deploy
    // taken over. A third deploy, by bot two, runs to the end on the same fleet.
    proxy.restore();
    ssh.app.commit("Carol", "After the partition");
    alice
        .say(&room(ROOM), "!deploy demo to staging")
        .await
        .unwrap();
    let (nick, _) = until_said(&mut alice, "is live on 4 hosts").await;
    assert_eq!(nick, "bosun-two");
    let after = ssh.current(&names[0]).unwrap();
    assert_ne!(after, before);
    for ((host, at_recovery), from) in names.iter().zip(&recovered).zip(&logged) {
        assert_eq!(ssh.current(host).as_ref(), Some(&after), "{host}");
        let log = step_log(&ssh, host);
        // No step of the cut-off deploy and its recovery ran twice on any host (each names
        // its step and the release it ran in: forward and undo differ)...
        let window = &log[*from..at_recovery.len()];
        assert!(
            window.iter().any(|l| l.starts_with("build ")),
            "{host}: {window:?}"
        );
        let mut seen = std::collections::BTreeSet::new();
        for line in window {
            assert!(
                seen.insert(line),
                "{host} ran {line:?} twice:\n{}",
                window.join("\n")
            );
        }
        // ...and none of the cut-off deploy's ran after it was recovered.
        let late: Vec<&String> = log[at_recovery.len()..]
            .iter()
            .filter(|line| line.ends_with(&release))
            .collect();
        assert!(late.is_empty(), "{host}: {late:?} after the recovery");
    }
    // The cut-off deploy's steps all ended (done, then undone), none left at its intent.
    let steps = journal.steps(deploy.id).await.unwrap();
    assert!(!steps.is_empty());
    // The third deploy ends after its clean-up of old releases, which follows "is live".
    all_ended(&journal).await;
    assert!(journal.locks().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_when_free_request_said_to_a_bot_that_dies_is_run_by_the_bot_that_takes_over() {
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
    let server = Prosody::start(&["alice", "mallory", "bot-one", "bot-two"])
        .await
        .expect("prosody starts");
    let shared = Shared::new().await;
    let keys = shared.direct(app.path());
    let one = bot_config(app.path(), &server, "bot-one", "bosun-one", "2s", &keys);
    let two = bot_config(app.path(), &server, "bot-two", "bosun-two", "2s", &keys);
    let mut alice = person(&server, "alice").await;
    let mut mallory = person(&server, "mallory").await;
    let mut first = start_bot(&one, "bosun-one", &mut alice).await;
    let journal = shared.journal().await;
    leader_row(&journal).await;
    let _two = start_bot(&two, "bosun-two", &mut alice).await;
    alice
        .say(&room(ROOM), "!deploy demo to staging")
        .await
        .unwrap();
    until_said(&mut alice, "is live on 2 hosts").await;
    let live = app.current("h1").unwrap();
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
    mallory
        .say(&room(ROOM), "!deploy demo to staging when free")
        .await
        .unwrap();
    let (nick, _) = until_said(&mut alice, "mallory is queued, number 1 in line").await;
    assert_eq!(nick, "bosun-one");
    let kept = journal.take_queue("xmpp").await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].who.as_deref(), Some(&*format!("mallory@{DOMAIN}")));
    // Put back as it was (taking it was only to look).
    journal.queue_line("xmpp", kept[0].clone()).await.unwrap();

    // The leading bot dies mid-deploy; the held restart may go on now.
    first.child.kill().await.unwrap();
    std::fs::write(&gate, "").unwrap();
    let (nick, told) = until_said(&mut alice, "takes over").await;
    assert_eq!(nick, "bosun-two");
    assert!(told.contains("was recovered"), "{told}");
    let (nick, _) = until_said(&mut alice, "starting mallory's request").await;
    assert_eq!(nick, "bosun-two");
    let (nick, done) = until_said(&mut alice, "is live on 2 hosts").await;
    assert_eq!(nick, "bosun-two");
    let last = journal.history(None, None, 1).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.requested_by.as_str(), ended(&journal, last.id).await),
        ("mallory", DeployState::Succeeded),
        "{done}"
    );
    assert_ne!(app.current("h1").unwrap(), live);
    assert_eq!(app.current("h1"), app.current("h2"));
    assert!(journal.take_queue("xmpp").await.unwrap().is_empty());
}
