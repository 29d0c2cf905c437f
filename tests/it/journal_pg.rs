//! The journal on a real PostgreSQL: locks taken by many processes at once (exactly one wins
//! each), `bosun check` on good and bad database settings, and `bosun migrate-journal`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use bosun::journal::{DeployKind, Journal, Location, NewDeploy, PgSettings, PgTls};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::app::{AppOptions, DemoApp};
use crate::support::postgres::{self, PASSWORD};

/// Set in a child process of the race: the database URL (with its password) to race on.
const RACE_URL: &str = "BOSUN_RACE_URL";
const CHILDREN: usize = 6;
const ROUNDS: usize = 20;

fn new_deploy(env: &str, by: &str) -> NewDeploy {
    NewDeploy {
        kind: DeployKind::Deploy,
        app: "race".into(),
        env: env.into(),
        reference: None,
        revision: None,
        tag: None,
        release: None,
        previous_release: None,
        previous_revision: None,
        requested_by: by.into(),
        room: "ops".into(),
        plan: "{}".into(),
    }
}

/// One contender of the race, in its own process: connects, says `ready`, waits for `go` on
/// stdin, then asks for every round's lock at once (even rounds: a deploy; odd rounds: a
/// manual lock) and prints `won N` or `lost N` for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_child() {
    let Ok(url) = std::env::var(RACE_URL) else {
        return; // Only a child of `locks_taken_by_many_processes_at_once_go_to_exactly_one`.
    };
    let me = format!("child{}", std::process::id());
    let journal = Journal::connect(&Location::Postgres(PgSettings {
        url,
        password: None,
        tls: PgTls::Disable,
        ca_file: None,
    }))
    .await
    .expect("the child connects");
    println!("ready");
    let mut line = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .unwrap();
    assert_eq!(line.trim(), "go");
    let mut attempts = tokio::task::JoinSet::new();
    for round in 0..ROUNDS {
        let (journal, me) = (journal.clone(), me.clone());
        attempts.spawn(async move {
            let env = format!("env{round}");
            let won = if round % 2 == 0 {
                journal.begin(new_deploy(&env, &me)).await.unwrap().is_ok()
            } else {
                journal
                    .lock(env, me.clone(), "race".into())
                    .await
                    .unwrap()
                    .is_ok()
            };
            (round, won)
        });
    }
    let mut out = String::new();
    while let Some(done) = attempts.join_next().await {
        let (round, won) = done.unwrap();
        out.push_str(&format!("{} {round}\n", if won { "won" } else { "lost" }));
    }
    println!("{out}done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_taken_by_many_processes_at_once_go_to_exactly_one() {
    let db = postgres::database().await;
    // Made once here, so the children only race for locks.
    let journal = Journal::connect(&db.location()).await.unwrap();
    let race = async {
        let mut children = Vec::new();
        for _ in 0..CHILDREN {
            let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "journal_pg::race_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(RACE_URL, db.url_with_password())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .expect("the test binary runs again");
            let lines = BufReader::new(child.stdout.take().unwrap()).lines();
            children.push((child, lines));
        }
        for (_, lines) in &mut children {
            wait_for(lines, "ready").await;
        }
        // Every child is connected: all are told to go at once.
        for (child, _) in &mut children {
            let stdin = child.stdin.as_mut().unwrap();
            stdin.write_all(b"go\n").await.unwrap();
            stdin.flush().await.unwrap();
        }
        let mut winners: BTreeMap<usize, usize> = BTreeMap::new();
        let mut answers = 0;
        for (child, lines) in &mut children {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line == "done" {
                    break;
                }
                if let Some(round) = line.strip_prefix("won ") {
                    *winners.entry(round.parse().unwrap()).or_default() += 1;
                    answers += 1;
                } else if line.starts_with("lost ") {
                    answers += 1;
                }
            }
            assert!(child.wait().await.unwrap().success());
        }
        (winners, answers)
    };
    let (winners, answers) = tokio::time::timeout(Duration::from_secs(180), race)
        .await
        .expect("the race ends (no child hangs)");
    assert_eq!(answers, CHILDREN * ROUNDS, "every attempt was answered");
    for round in 0..ROUNDS {
        assert_eq!(
            winners.get(&round),
            Some(&1),
            "round {round}: exactly one process wins ({winners:?})"
        );
    }
    // The journal agrees: one lock per round, one deploy per deploy round.
    let locks = journal.locks().await.unwrap();
    assert_eq!(locks.len(), ROUNDS);
    assert_eq!(journal.running().await.unwrap().len(), ROUNDS / 2);
}

/// Reads lines until `want` (a child's stderr passes through to the test's output).
async fn wait_for(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    want: &str,
) {
    while let Some(line) = lines.next_line().await.unwrap() {
        // libtest may print `test NAME ... ` before the child's first line.
        if line.ends_with(want) {
            return;
        }
    }
    panic!("a child ended before saying {want:?}");
}

/// Runs the `bosun` binary: whether it succeeded, its stdout and its stderr.
pub(crate) fn bosun(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("bosun runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_connects_to_the_database_and_names_the_key_when_it_cannot() {
    let db = postgres::database().await;
    let app = DemoApp::new(AppOptions::default());
    let mut text = std::fs::read_to_string(&app.config_path).unwrap();
    text.push_str(&format!(
        "\n[journal]\nurl = \"{}\"\npassword_env = \"BOSUN_TEST_JOURNAL_PW\"\n",
        db.url()
    ));
    std::fs::write(&app.config_path, text).unwrap();
    let config = app.config_path.to_str().unwrap().to_string();

    let (ok, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            bosun(
                &["check", "--config", &config],
                &[("BOSUN_TEST_JOURNAL_PW", PASSWORD)],
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("PostgreSQL, empty") && out.contains(&db.url()),
        "{out}"
    );
    // Once a bot has made the tables, check reports their version.
    Journal::connect(&db.location()).await.unwrap();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            bosun(
                &["check", "--config", &config],
                &[("BOSUN_TEST_JOURNAL_PW", PASSWORD)],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        ok && out.contains("schema version 2 (current 2)"),
        "{out}{err}"
    );

    let (ok, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            bosun(
                &["check", "--config", &config],
                &[("BOSUN_TEST_JOURNAL_PW", "wrong")],
            )
        }
    })
    .await
    .unwrap();
    assert!(!ok, "a wrong password fails the check: {out}");
    assert!(
        err.contains("[journal] password_env / password_file")
            && err.contains("password authentication failed"),
        "{err}"
    );

    let (ok, _, err) =
        tokio::task::spawn_blocking(move || bosun(&["check", "--config", &config], &[]))
            .await
            .unwrap();
    assert!(!ok);
    assert!(
        err.contains("[journal] password_env") && err.contains("BOSUN_TEST_JOURNAL_PW"),
        "an unset variable is named: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_journal_copies_a_bots_journal_and_the_bot_goes_on_from_postgres() {
    let db = postgres::database().await;
    let mut app = DemoApp::new(AppOptions::default());
    let config = app.config_path.to_str().unwrap().to_string();
    let sqlite = app.journal_path().to_str().unwrap().to_string();
    let url = db.url();
    let run = |args: Vec<String>, env: Vec<(&'static str, &'static str)>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            bosun(&args, &env)
        })
    };
    let deploy = |by: &str| {
        vec![
            "deploy".to_string(),
            "demo".into(),
            "--to".into(),
            "staging".into(),
            "--config".into(),
            config.clone(),
            "--as".into(),
            by.into(),
        ]
    };
    for by in ["alice", "bob"] {
        let (ok, out, err) = run(deploy(by), vec![]).await.unwrap();
        assert!(ok, "{out}{err}");
        app.commit(by, "Something new to deploy");
    }
    let migrate = vec![
        "migrate-journal".to_string(),
        sqlite.clone(),
        url.clone(),
        "--password-env".into(),
        "BOSUN_TEST_JOURNAL_PW".into(),
    ];
    let pw = vec![("BOSUN_TEST_JOURNAL_PW", PASSWORD)];
    let (ok, out, err) = run(migrate.clone(), pw.clone()).await.unwrap();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("2 deploys") && out.contains("every row compared equal"),
        "{out}"
    );
    let old = Journal::open(&app.journal_path()).await.unwrap();
    let new = Journal::connect(&db.location()).await.unwrap();
    assert_eq!(
        old.history(None, None, 10).await.unwrap(),
        new.history(None, None, 10).await.unwrap()
    );
    assert_eq!(old.identity().await.unwrap(), new.identity().await.unwrap());

    // A second copy is refused: the target is not empty.
    let (ok, out, err) = run(migrate, pw.clone()).await.unwrap();
    assert!(!ok, "{out}");
    assert!(
        err.contains("not empty") && err.contains("2 deploys"),
        "{err}"
    );

    // The bot now keeps its journal in PostgreSQL and goes on from there (deploy #3).
    let mut text = std::fs::read_to_string(&app.config_path).unwrap();
    text.push_str(&format!(
        "\n[journal]\nurl = \"{url}\"\npassword_env = \"BOSUN_TEST_JOURNAL_PW\"\n"
    ));
    std::fs::write(&app.config_path, text).unwrap();
    let (ok, out, err) = run(deploy("carol"), pw.clone()).await.unwrap();
    assert!(ok && out.contains("Journal #3"), "{out}{err}");
    let history = new.history(None, None, 10).await.unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(old.history(None, None, 10).await.unwrap().len(), 2);
}
