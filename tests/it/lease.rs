//! Locks tied to a live deploy: a live holder's lock is never taken, a dead holder's lock is recovered once its lease runs out, and queued requests go next.

use std::path::Path;

use bosun::journal::Journal;

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::{ConsoleBot, PATIENCE};
use crate::support::postgres::JournalStore;
use crate::support::process::{BotProcess, wait_for_file};

/// Runs each named test on the SQLite journal (`on_sqlite::NAME`) and on PostgreSQL
/// (`on_postgres::NAME`).
macro_rules! on_both_journals {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::support::postgres::JournalStore::Sqlite).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::support::postgres::JournalStore::postgres().await).await
                }
            )*
        }
    };
}

on_both_journals!(
    a_live_holders_lock_is_never_taken_and_the_queue_moves_when_it_finishes,
    a_dead_holders_lock_goes_stale_its_deploy_is_recovered_and_the_queue_moves,
    a_paused_bot_whose_deploy_was_taken_over_is_fenced_and_never_acts_again,
);

/// The restart of a release holding `HOLD` waits (bounded) for the gate file; `reached` marks it.
fn held_app(reached: &Path, gate: &Path, store: &JournalStore) -> DemoApp {
    let app = DemoApp::new(AppOptions {
        restart: format!(
            r#"sh -c 'if [ -e HOLD ]; then touch "$1"; for i in $(seq 600); do [ -e "$2" ] && exit 0; sleep 0.1; done; exit 1; fi' sh {} {}"#,
            reached.display(),
            gate.display()
        ),
        config_extra: format!("[journal]\nlease = \"1s\"\n{}\n", store.keys()),
        ..AppOptions::default()
    });
    store.write_password(app.path());
    app
}

/// Waits until the holder of `env`'s deploy lock has renewed its lease `times` more times.
async fn lease_renewed(journal: &Journal, times: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while seen.len() <= times {
        let beat = journal
            .locks()
            .await
            .unwrap()
            .into_iter()
            .find_map(|l| l.heartbeat_at);
        if let Some(beat) = beat
            && seen.last() != Some(&beat)
        {
            seen.push(beat);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease was renewed only {} times",
            seen.len()
        );
        tokio::task::yield_now().await;
    }
}

async fn a_live_holders_lock_is_never_taken_and_the_queue_moves_when_it_finishes(
    store: JournalStore,
) {
    let marks = tempfile::tempdir().unwrap();
    let (reached, gate) = (marks.path().join("reached"), marks.path().join("gate"));
    let mut app = held_app(&reached, &gate, &store);
    let mut alice = BotProcess::start(&app.config_path, "alice");
    alice.say("deploy demo to staging").await;
    alice.expect("is live on 2 hosts").await;
    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Hold the restart",
        &[("HOLD", "1")],
    );
    alice.say("deploy demo to staging").await;
    wait_for_file(&reached).await;

    let mut bob = ConsoleBot::start(app.config(), "bob");
    bob.say("deploy demo to staging").await;
    let refused = bob.expect("is busy").await;
    assert!(
        refused.contains("alice holds it") && refused.contains("when free"),
        "{refused}"
    );
    bob.say("deploy demo to staging when free").await;
    bob.expect("bob is queued, number 1 in line").await;
    // Well past the lease, alice's bot keeps renewing it, and nobody takes her lock.
    let journal = store.open(&app.journal_path()).await;
    lease_renewed(&journal, 5).await;
    assert_eq!(
        journal.unfinished().await.unwrap().len(),
        1,
        "only alice's deploy runs"
    );

    // Something new lands while alice's deploy runs: bob's queued deploy ships it next.
    let next = app.commit("Carol", "After the hold");
    std::fs::write(&gate, "").unwrap();
    alice.expect("is live on 2 hosts").await;
    bob.expect("the queue moves, starting bob's request").await;
    let second = bob.expect("bob is deploying demo").await;
    assert!(second.contains(&next[..7]), "{second}");
    bob.expect("is live on 2 hosts").await;
    bob.finish().await;
}

async fn a_dead_holders_lock_goes_stale_its_deploy_is_recovered_and_the_queue_moves(
    store: JournalStore,
) {
    let marks = tempfile::tempdir().unwrap();
    let (reached, gate) = (marks.path().join("reached"), marks.path().join("gate"));
    let app = held_app(&reached, &gate, &store);
    let mut alice = BotProcess::start(&app.config_path, "alice");
    alice.say("deploy demo to staging").await;
    alice.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();
    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Hold the restart",
        &[("HOLD", "1")],
    );
    alice.say("deploy demo to staging").await;
    wait_for_file(&reached).await;

    let mut bob = ConsoleBot::start(app.config(), "bob");
    bob.say("deploy demo to staging when free").await;
    bob.expect("bob is queued").await;
    alice.child.kill().await.unwrap(); // SIGKILL: the lease stops being renewed
    std::fs::write(&gate, "").unwrap(); // lets the orphaned restart end

    let told = bob.expect("went stale").await;
    assert!(
        told.contains("deploy #2 (demo to staging by alice)"),
        "{told}"
    );
    bob.expect("the queue moves, starting bob's request").await;
    let second = bob.expect("bob is deploying demo").await;
    assert!(
        second.contains(&good[good.len() - 7..]) || second.contains("since"),
        "{second}"
    );
    bob.expect("is live on 2 hosts").await;
    bob.finish().await;
    assert_eq!(
        app.current("h1"),
        app.current("h2"),
        "one release across the fleet"
    );
    let journal = store.open(&app.journal_path()).await;
    assert!(journal.locks().await.unwrap().is_empty(), "no lock is left");
    assert!(journal.unfinished().await.unwrap().is_empty());
}

async fn a_paused_bot_whose_deploy_was_taken_over_is_fenced_and_never_acts_again(
    store: JournalStore,
) {
    let marks = tempfile::tempdir().unwrap();
    let started = marks.path().join("build-started");
    let switched = marks.path().join("switched");
    let app = DemoApp::new(AppOptions {
        // In a release with a SLOW file the build takes 30 s; every restart leaves a trace.
        build_extra: vec![format!(
            r#"["sh", "-c", "if [ -e SLOW ]; then touch \"$0\"; sleep 30; fi", "{}"]"#,
            started.display()
        )],
        restart: format!("touch {}", switched.display()),
        config_extra: format!("[journal]\nlease = \"1s\"\n{}\n", store.keys()),
        ..AppOptions::default()
    });
    store.write_password(app.path());
    let mut alice = BotProcess::start(&app.config_path, "alice");
    alice.say("deploy demo to staging").await;
    alice.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();
    std::fs::remove_file(&switched).unwrap();
    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Slow build",
        &[("SLOW", "1")],
    );
    alice.say("deploy demo to staging").await;
    wait_for_file(&started).await;
    let pid = alice.child.id().unwrap().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    // Alice's bot is paused: its lease runs out while it lives. It is paused between two of its
    // journal writes: one stopped inside a write (SQLite's write lock, an open PostgreSQL
    // transaction) holds up every other bot's writes until it runs again, which no takeover
    // can get past.
    let mut pauses = 0;
    loop {
        signal("-STOP");
        pauses += 1;
        if store.no_write_in_progress(&app.journal_path()).await {
            break;
        }
        assert!(
            pauses < 100,
            "alice's bot was inside a journal write {pauses} times"
        );
        signal("-CONT");
        tokio::task::yield_now().await;
    }

    let mut bob = ConsoleBot::start(app.config(), "bob");
    let told = bob.expect("went stale").await;
    assert!(told.contains("deploy #2"), "{told}");
    assert!(told.contains("staging is back on"), "{told}");
    signal("-CONT");
    // Alice's bot wakes up before its next step, finds its deploy taken over, and stops.
    let stopped = alice.expect("Another bot has taken it over").await;
    assert!(stopped.contains("I stopped the deploy"), "{stopped}");
    bob.say("status").await;
    bob.expect("nothing is running").await;
    bob.finish().await;
    drop(alice.stdin.take());
    let _ = tokio::time::timeout(PATIENCE, alice.child.wait()).await;
    assert!(!switched.exists(), "the paused bot switched nothing");
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_deref(), Some(good.as_str()));
        assert_eq!(app.releases(host), vec![good.clone()]);
    }
    let journal = store.open(&app.journal_path()).await;
    assert!(journal.locks().await.unwrap().is_empty());
    assert_eq!(
        journal.deploy(2).await.unwrap().state,
        bosun::journal::DeployState::Recovered
    );
}
