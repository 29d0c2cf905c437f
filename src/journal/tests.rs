//! Journal tests, each run against both backends (SQLite, and PostgreSQL on a real server the
//! tests start): records round-trip, locks exclude, unfinished deploys are found, export is
//! readable, freezes are kept.

use super::*;

#[path = "../../tests/it/support/postgres.rs"]
pub(crate) mod pg;

/// Where a test's journal lives: a SQLite file, or a fresh PostgreSQL database. Every `open`
/// is another handle on the same journal, as another bot sharing it would have.
pub(crate) struct Store {
    pub dir: tempfile::TempDir,
    location: Location,
}

impl Store {
    pub async fn sqlite() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Sqlite(dir.path().join("j.sqlite"));
        Store { dir, location }
    }

    pub async fn postgres() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let location = pg::database().await.location();
        Store { dir, location }
    }

    pub async fn open(&self) -> Journal {
        Journal::connect(&self.location)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Runs each named test once on SQLite (`on_sqlite::NAME`) and once on PostgreSQL (`on_postgres::NAME`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::sqlite().await).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::postgres().await).await
                }
            )*
        }
    };
}

on_both_backends!(
    a_deploy_holds_its_environment_until_it_finishes,
    a_manual_lock_holds_every_app_and_survives_reopening,
    steps_keep_intent_and_outcome_in_order,
    live_is_the_newest_success_and_history_is_newest_first,
    export_writes_a_readable_archive,
    two_deploys_asked_at_once_from_two_bots_exactly_one_runs,
    history_pages_filter_and_never_repeat_or_skip_a_deploy,
    freezes_are_kept_replaced_lifted_and_survive_reopening,
    one_instance_leads_a_network_until_its_lease_runs_out_or_it_resigns,
    bots_claiming_the_lead_at_once_never_both_lead,
    the_when_free_queue_is_kept_in_order_for_the_next_leader,
);

fn new_deploy(app: &str, env: &str, by: &str) -> NewDeploy {
    NewDeploy {
        kind: DeployKind::Deploy,
        app: app.into(),
        env: env.into(),
        reference: Some("main".into()),
        revision: Some("a".repeat(40)),
        tag: None,
        release: Some("20261123000000-aaaaaaa".into()),
        previous_release: None,
        previous_revision: None,
        requested_by: by.into(),
        room: "console".into(),
        plan: "{}".into(),
    }
}

fn step(seq: i64) -> StepIntent {
    StepIntent {
        seq,
        host: Some("h1".into()),
        phase: "stage".into(),
        label: "stage".into(),
        action: r#"{"op":"noop"}"#.into(),
        undo: None,
        undo_of: None,
    }
}

async fn a_deploy_holds_its_environment_until_it_finishes(store: Store) {
    let j = store.open().await;
    let id = j
        .begin(new_deploy("demo", "staging", "alice"))
        .await
        .unwrap()
        .unwrap();
    let held = j
        .begin(new_deploy("demo", "staging", "bob"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((held.holder.as_str(), held.deploy_id), ("alice", Some(id)));
    // Another app in the same environment is free.
    assert!(
        j.begin(new_deploy("blog", "staging", "bob"))
            .await
            .unwrap()
            .is_ok()
    );
    j.finish(id, DeployState::Succeeded, "ok".into())
        .await
        .unwrap();
    assert!(
        j.begin(new_deploy("demo", "staging", "bob"))
            .await
            .unwrap()
            .is_ok()
    );
}

async fn a_manual_lock_holds_every_app_and_survives_reopening(store: Store) {
    {
        let j = store.open().await;
        j.lock("staging".into(), "alice".into(), "deploying by hand".into())
            .await
            .unwrap()
            .unwrap();
    }
    let j = store.open().await;
    let held = j
        .begin(new_deploy("demo", "staging", "bob"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (held.kind.as_str(), held.reason.as_str()),
        ("manual", "deploying by hand")
    );
    assert!(
        j.lock("staging".into(), "bob".into(), "x".into())
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(
        j.unlock("staging".into()).await.unwrap().unwrap().holder,
        "alice"
    );
    assert!(j.unlock("staging".into()).await.unwrap().is_none());
    assert!(
        j.begin(new_deploy("demo", "staging", "bob"))
            .await
            .unwrap()
            .is_ok()
    );
}

async fn steps_keep_intent_and_outcome_in_order(store: Store) {
    let j = store.open().await;
    let id = j
        .begin(new_deploy("demo", "staging", "alice"))
        .await
        .unwrap()
        .unwrap();
    let s1 = j.intent(id, step(1)).await.unwrap();
    let s2 = j.intent(id, step(2)).await.unwrap();
    j.outcome(s1, StepState::Done, "out".into()).await.unwrap();
    let steps = j.steps(id).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| (s.id, s.state)).collect::<Vec<_>>(),
        [(s1, StepState::Done), (s2, StepState::Intent)]
    );
    // A late outcome (from a bot cut off while another settled the step) changes nothing.
    j.mark(s1, StepState::Undone).await.unwrap();
    j.outcome(s1, StepState::Failed, "late".into())
        .await
        .unwrap();
    let late = &j.steps(id).await.unwrap()[0];
    assert_eq!(
        (late.state, late.output.as_deref()),
        (StepState::Undone, Some("out"))
    );
    assert_eq!(j.unfinished().await.unwrap().len(), 1);
    j.finish(id, DeployState::Undone, "x".into()).await.unwrap();
    assert!(j.unfinished().await.unwrap().is_empty());
}

async fn live_is_the_newest_success_and_history_is_newest_first(store: Store) {
    let j = store.open().await;
    let a = j
        .begin(new_deploy("demo", "staging", "alice"))
        .await
        .unwrap()
        .unwrap();
    j.finish(a, DeployState::Succeeded, "".into())
        .await
        .unwrap();
    let b = j
        .begin(new_deploy("demo", "staging", "bob"))
        .await
        .unwrap()
        .unwrap();
    j.finish(b, DeployState::Undone, "".into()).await.unwrap();
    assert_eq!(
        j.live("demo".into(), "staging".into())
            .await
            .unwrap()
            .unwrap()
            .id,
        a
    );
    let h = j.history(Some("demo".into()), None, 10).await.unwrap();
    assert_eq!(h.iter().map(|d| d.id).collect::<Vec<_>>(), [b, a]);
    assert_eq!(
        j.last_in_room("console".into()).await.unwrap().unwrap().id,
        b
    );
}

async fn export_writes_a_readable_archive(store: Store) {
    let j = store.open().await;
    let id = j
        .begin(new_deploy("demo", "staging", "alice"))
        .await
        .unwrap()
        .unwrap();
    let s = j.intent(id, step(1)).await.unwrap();
    j.outcome(s, StepState::Done, "hello from the host".into())
        .await
        .unwrap();
    j.record_files(
        id,
        vec![FileRecord {
            path: "README".into(),
            size: 3,
            sha256: "ab".repeat(32),
        }],
    )
    .await
    .unwrap();
    j.finish(id, DeployState::Succeeded, "demo is live".into())
        .await
        .unwrap();
    let out = store.dir.path().join("export.tar.gz");
    export(&j, id, &out, None).await.unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&out).unwrap(),
    ));
    let mut names = Vec::new();
    let mut all = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        names.push(entry.path().unwrap().display().to_string());
        std::io::Read::read_to_string(&mut entry, &mut all).unwrap();
    }
    assert_eq!(
        names,
        [
            format!("deploy-{id}/README.txt"),
            format!("deploy-{id}/plan.json"),
            format!("deploy-{id}/steps.txt"),
            format!("deploy-{id}/chat.txt"),
            format!("deploy-{id}/files.txt")
        ]
    );
    assert!(
        all.contains("hello from the host")
            && all.contains("demo is live")
            && all.contains("README")
    );
}

async fn two_deploys_asked_at_once_from_two_bots_exactly_one_runs(store: Store) {
    for _ in 0..20 {
        // Two handles, two connections: as two bots sharing one journal.
        let (a, b) = (store.open().await, store.open().await);
        let (first, second) = tokio::join!(
            tokio::spawn(async move { a.begin(new_deploy("demo", "staging", "alice")).await }),
            tokio::spawn(async move { b.begin(new_deploy("demo", "staging", "bob")).await })
        );
        let outcomes = [first.unwrap().unwrap(), second.unwrap().unwrap()];
        let won: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().copied())
            .collect();
        assert_eq!(won.len(), 1, "{outcomes:?}");
        let lost = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
        assert_eq!(
            lost.deploy_id,
            Some(won[0]),
            "the loser is told who holds it"
        );
        let j = store.open().await;
        j.finish(won[0], DeployState::Succeeded, "ok".into())
            .await
            .unwrap();
    }
}

async fn history_pages_filter_and_never_repeat_or_skip_a_deploy(store: Store) {
    let j = store
        .open()
        .await
        .with_redactor(crate::redact::Redactor::new(["s3cret-pw".to_string()]));
    let mut ids = Vec::new();
    for i in 0..7 {
        let by = if i % 2 == 0 { "alice" } else { "bob" };
        let id = j
            .begin(new_deploy("demo", "staging", by))
            .await
            .unwrap()
            .unwrap();
        let state = if i == 3 {
            DeployState::Failed
        } else {
            DeployState::Succeeded
        };
        j.finish(id, state, String::new()).await.unwrap();
        ids.push(id);
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = j
            .history_page(HistoryFilter {
                before,
                limit: 3,
                ..HistoryFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 7);
        seen.extend(page.deploys.iter().map(|d| d.id));
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);

    let bob = j
        .history_page(HistoryFilter {
            person: Some("bob".into()),
            state: Some(DeployState::Succeeded),
            limit: 50,
            ..HistoryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        bob.deploys.iter().map(|d| d.id).collect::<Vec<_>>(),
        [ids[5], ids[1]]
    );
    assert_eq!((bob.total, bob.next_before), (2, None));

    // The failed one needs a look only until a later deploy of the same place succeeds; here
    // later ones did.
    assert!(j.need_a_look().await.unwrap().is_empty());
    let last = j
        .begin(new_deploy("demo", "staging", "carol"))
        .await
        .unwrap()
        .unwrap();
    j.finish(last, DeployState::Failed, String::new())
        .await
        .unwrap();
    let look: Vec<i64> = j
        .need_a_look()
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(look, [last]);

    // Chat messages are kept in order, secrets hidden; one about no known deploy is dropped.
    let said = |deploy_id, text: &str| NewMessage {
        deploy_id,
        at: 1,
        room: "ops".into(),
        kind: "milestone",
        text: text.into(),
    };
    j.record_messages(vec![
        said(last, "first"),
        said(9999, "lost"),
        said(last, "pw s3cret-pw"),
    ])
    .await
    .unwrap();
    let texts: Vec<String> = j
        .messages(last)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["first", "pw [redacted]"]);
    // Step output is kept with secrets hidden too.
    let step_id = j.intent(last, step(1)).await.unwrap();
    j.outcome(step_id, StepState::Failed, "using s3cret-pw".into())
        .await
        .unwrap();
    assert_eq!(
        j.steps(last).await.unwrap()[0].output.as_deref(),
        Some("using [redacted]")
    );
}

async fn freezes_are_kept_replaced_lifted_and_survive_reopening(store: Store) {
    let journal = store.open().await;
    assert!(journal.freezes().await.unwrap().is_empty());

    let before = crate::clock::now_ms();
    let replaced = journal
        .freeze("live".into(), "alice".into(), "release week".into(), None)
        .await
        .unwrap();
    assert_eq!(replaced, None);
    journal
        .freeze("staging".into(), "bob".into(), "demo".into(), Some(5_000))
        .await
        .unwrap();
    let replaced = journal
        .freeze(
            "live".into(),
            "carol".into(),
            "incident".into(),
            Some(9_000),
        )
        .await
        .unwrap()
        .expect("alice's freeze was replaced");
    assert_eq!(
        (
            replaced.holder.as_str(),
            replaced.reason.as_str(),
            replaced.until
        ),
        ("alice", "release week", None)
    );
    assert!(replaced.since >= before);
    drop(journal);

    let journal = store.open().await;
    let all = journal.freezes().await.unwrap();
    let summary: Vec<(&str, &str, Option<i64>)> = all
        .iter()
        .map(|f| (f.env.as_str(), f.holder.as_str(), f.until))
        .collect();
    assert_eq!(
        summary,
        [
            ("live", "carol", Some(9_000)),
            ("staging", "bob", Some(5_000))
        ]
    );

    let lifted = journal.unfreeze("live".into()).await.unwrap();
    assert_eq!(lifted.map(|f| f.holder), Some("carol".to_string()));
    assert_eq!(journal.unfreeze("live".into()).await.unwrap(), None);
    assert_eq!(journal.freezes().await.unwrap().len(), 1);
}

#[test]
fn a_freeze_holds_until_its_end() {
    let freeze = |until| FreezeRecord {
        env: "live".into(),
        holder: "alice".into(),
        reason: String::new(),
        since: 0,
        until,
    };
    assert!(freeze(None).holds_at(i64::MAX));
    assert!(freeze(Some(100)).holds_at(99));
    assert!(!freeze(Some(100)).holds_at(100));
}

/// Fills a SQLite journal fast, with direct batched inserts: `deploys` deploys of several apps,
/// kinds and states, each with steps, files and chat messages, plus locks and freezes.
fn fill_sqlite(path: &std::path::Path, deploys: i64) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    sqlite::schema::prepare(&mut conn).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut deploy = tx
            .prepare(
                "INSERT INTO deploys (id, kind, app, env, reference, revision, tag, release, previous_release,
                   previous_revision, requested_by, room, state, plan, summary, started_at, finished_at,
                   owner_pid, generation, owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, NULL, ?9, 'ops', ?10, '{\"hosts\":[\"h1\"]}',
                   ?11, ?12, ?13, ?14, ?1, ?15)",
            )
            .unwrap();
        let mut step = tx
            .prepare(
                "INSERT INTO steps (deploy_id, seq, host, phase, label, action, undo, state, output,
                   started_at, finished_at, undo_of)
                 VALUES (?1, ?2, 'h1', 'switch', ?3, '{\"op\":\"switch\"}', ?4, ?5, ?6, ?7, ?8, NULL)",
            )
            .unwrap();
        let mut file = tx
            .prepare("INSERT INTO files (deploy_id, path, size, sha256) VALUES (?1, ?2, ?3, ?4)")
            .unwrap();
        let mut message = tx
            .prepare(
                "INSERT INTO messages (deploy_id, at, room, kind, text) VALUES (?1, ?2, 'ops', 'milestone', ?3)",
            )
            .unwrap();
        let kinds = ["deploy", "rollback", "repair"];
        let states = ["succeeded", "undone", "failed", "recovered", "running"];
        for id in 1..=deploys {
            let running = id > deploys - 2;
            let state = if running {
                "running"
            } else {
                states[(id % 4) as usize]
            };
            deploy
                .execute(rusqlite::params![
                    id,
                    kinds[(id % 3) as usize],
                    format!("app{}", id % 7),
                    if running {
                        format!("live{id}")
                    } else {
                        format!("env{}", id % 3)
                    },
                    "main",
                    format!("{id:040x}"),
                    format!("2026120{}-{id:07}", id % 10),
                    (id > 1).then(|| format!("prev-{id}")),
                    ["alice", "bob", "carol ünïcode"][(id % 3) as usize],
                    state,
                    (!running)
                        .then(|| format!("summary of #{id}: \"quoted\", 'single'\nsecond line")),
                    1_700_000_000_000 + id * 1_000,
                    (!running).then_some(1_700_000_000_500 + id * 1_000),
                    4_000 + id,
                    format!("host{}/0000{:04x}", id % 2, id),
                ])
                .unwrap();
            for seq in 0..3 {
                step.execute(rusqlite::params![
                    id,
                    seq,
                    format!("step {seq} of {id}"),
                    (seq != 2).then_some("{\"op\":\"switch back\"}"),
                    ["done", "undone", "intent"][seq as usize],
                    (seq != 2).then(|| "output\n".repeat(seq as usize + 1)),
                    1_700_000_000_000 + id * 1_000 + seq,
                    (seq != 2).then_some(1_700_000_000_100 + id * 1_000 + seq),
                ])
                .unwrap();
            }
            file.execute(rusqlite::params![
                id,
                format!("dir/file{id}.txt"),
                id * 10,
                "ab".repeat(32)
            ])
            .unwrap();
            message
                .execute(rusqlite::params![
                    id,
                    1_700_000_000_000 + id,
                    format!("said about #{id} ✓")
                ])
                .unwrap();
        }
        for id in [deploys - 1, deploys] {
            tx.execute(
                "INSERT INTO locks (app, env, kind, holder, reason, since, deploy_id, owner_pid, heartbeat_at, generation, owner)
                 SELECT app, env, 'deploy', requested_by, 'deploy #' || id, started_at, id, owner_pid, started_at, generation, owner
                 FROM deploys WHERE id = ?1",
                [id],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO locks (app, env, kind, holder, reason, since) VALUES ('*', 'qa', 'manual', 'dave', 'testing', 5)",
            [],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO freezes (env, holder, reason, since, until) VALUES ('live', 'erin', 'release week', 6, NULL), ('staging', 'erin', 'demo', 7, 9000)",
            [],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO leaders (network, instance, since, heartbeat_at) VALUES ('xmpp', 'host0/0000abcd', 8, 10)",
            [],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO queued (network, app, env, room, who, display, line, direct)
             VALUES ('xmpp', 'app1', 'live', 'ops', 'bob@example.org', 'bob', 'deploy app1 to live when free', 0),
                    ('xmpp', 'app2', 'live', 'bob@example.org', NULL, 'anonymous ✓', 'deploy app2 to live when free', 1)",
            [],
        )
        .unwrap();
        tx.execute(
            "UPDATE meta SET value = CAST(?1 AS TEXT) WHERE key = 'generation'",
            [deploys + 10],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_journal_of_1000_deploys_is_copied_into_postgres_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    fill_sqlite(&path, 1000);
    let db = pg::database().await;
    let report = copy_sqlite_to_postgres(&path, &db.settings())
        .await
        .unwrap();
    assert_eq!(
        (
            report.count("deploys"),
            report.count("steps"),
            report.count("files"),
            report.count("locks"),
            report.count("freezes"),
            report.count("messages"),
            report.count("leaders"),
            report.count("queued"),
            report.count("meta"),
        ),
        (1000, 3000, 1000, 3, 2, 1000, 1, 2, 2),
        "{report}"
    );

    // Both journals answer every question the same.
    let old = Journal::open(&path).await.unwrap();
    let new = Journal::connect(&db.location()).await.unwrap();
    assert_eq!(old.identity().await.unwrap(), new.identity().await.unwrap());
    let all_old = old.history(None, None, 5000).await.unwrap();
    assert_eq!(all_old.len(), 1000);
    assert_eq!(all_old, new.history(None, None, 5000).await.unwrap());
    for d in &all_old {
        assert_eq!(
            old.steps(d.id).await.unwrap(),
            new.steps(d.id).await.unwrap()
        );
        assert_eq!(
            old.files(d.id).await.unwrap(),
            new.files(d.id).await.unwrap()
        );
        assert_eq!(
            old.messages(d.id).await.unwrap(),
            new.messages(d.id).await.unwrap()
        );
        assert_eq!(
            old.owner(d.id).await.unwrap(),
            new.owner(d.id).await.unwrap()
        );
    }
    assert_eq!(old.locks().await.unwrap(), new.locks().await.unwrap());
    assert_eq!(old.freezes().await.unwrap(), new.freezes().await.unwrap());
    assert_eq!(old.running().await.unwrap(), new.running().await.unwrap());
    assert_eq!(
        old.leader("xmpp").await.unwrap(),
        new.leader("xmpp").await.unwrap()
    );
    // A request queued after the copy comes after the copied ones.
    let later = QueuedLine {
        app: "app3".into(),
        env: "live".into(),
        room: "ops".into(),
        who: None,
        display: "carol".into(),
        line: "deploy app3 to live when free".into(),
        direct: false,
    };
    new.queue_line("xmpp", later.clone()).await.unwrap();
    let kept = old.take_queue("xmpp").await.unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(
        new.take_queue("xmpp").await.unwrap(),
        [kept, vec![later]].concat()
    );

    // The copy goes on where the old one stopped: new ids and generations above the old ones.
    new.finish(999, DeployState::Succeeded, "done".into())
        .await
        .unwrap();
    let next = new
        .begin(NewDeploy {
            env: "fresh".into(),
            ..new_deploy("demo", "fresh", "alice")
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, 1001);
    assert_eq!(new.generation(next).await.unwrap(), Some(1011));

    // A second copy into the same, now non-empty, journal is refused.
    match copy_sqlite_to_postgres(&path, &db.settings()).await {
        Err(CopyError::NotEmpty(what)) => assert!(what.contains("1001 deploys"), "{what}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_is_made_once_and_reported() {
    let db = pg::database().await;
    let location = db.location();
    assert!(
        Journal::check(&location)
            .await
            .unwrap()
            .contains("PostgreSQL, empty")
    );
    // Two bots starting at once make the tables once.
    let (a, b) = tokio::join!(Journal::connect(&location), Journal::connect(&location));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.schema_version().await.unwrap(), postgres::schema::VERSION);
    assert_eq!(a.identity().await.unwrap(), b.identity().await.unwrap());
    assert!(
        Journal::check(&location)
            .await
            .unwrap()
            .contains(&format!("schema version {}", postgres::schema::VERSION))
    );
    // The database's clock: close to this machine's here.
    let now = a.now_ms().await.unwrap();
    assert!((now - crate::clock::now_ms()).abs() < 5_000, "{now}");
}

/// A bot cut off from the server in the middle of a leader claim leaves its transaction open
/// there, holding the network's advisory lock. The server ends that transaction once it has
/// been idle for `IDLE_IN_TRANSACTION`, so the other bot's claims wait seconds, not until the
/// dead connection is noticed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_open_by_a_cut_off_bot_holds_nobody_up_for_long() {
    let store = Store::postgres().await;
    let cut_off = store.open().await.as_instance("machine-a/0000000a".into());
    let other = store.open().await.as_instance("machine-b/0000000b".into());
    let Backend::Postgres(db) = &cut_off.backend else {
        unreachable!("a PostgreSQL store")
    };
    let mut session = db.pool().get().await.unwrap();
    let shown: String = session
        .query_one("SHOW idle_in_transaction_session_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, "2s");
    // Half a claim: the transaction and its lock, then nothing more from this session.
    let tx = session.transaction().await.unwrap();
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&"bosun.leader/xmpp"],
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let claim = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        other.claim_leader("xmpp", std::time::Duration::from_secs(5)),
    )
    .await
    .expect("the claim is not held up by the idle transaction for long")
    .unwrap();
    let waited = started.elapsed();
    assert!(matches!(claim, LeaderClaim::Leads { .. }), "{claim:?}");
    assert!(
        waited >= std::time::Duration::from_millis(1500),
        "the claim waited for the lock ({waited:?})"
    );
    // The server ended the cut-off session: its transaction is gone, and so is its lock.
    assert!(tx.execute("SELECT 1", &[]).await.is_err());
}

#[tokio::test]
async fn a_lease_is_renewed_by_its_owner_only_and_taken_over_by_another_instance() {
    for store in [Store::sqlite().await, Store::postgres().await] {
        let a = store.open().await.as_instance("machine-a/0000000a".into());
        let b = store.open().await.as_instance("machine-b/0000000b".into());
        let id = a
            .begin(new_deploy("demo", "live", "alice"))
            .await
            .unwrap()
            .unwrap();
        let lock = &a.locks().await.unwrap()[0];
        assert_eq!(lock.owner.as_deref(), Some("machine-a/0000000a"));
        let owner = b.owner(id).await.unwrap().unwrap();
        assert_eq!(
            (owner.instance.as_str(), owner.host()),
            ("machine-a/0000000a", "machine-a")
        );
        assert_eq!(a.heartbeat().await.unwrap(), 1);
        assert_eq!(b.heartbeat().await.unwrap(), 0, "b holds no lease");
        let seen = a.generation(id).await.unwrap();
        let taken = b
            .take_over(id, seen)
            .await
            .unwrap()
            .expect("b takes it over");
        assert!(!a.still_holds(id, seen.unwrap()).await.unwrap());
        assert!(b.still_holds(id, taken).await.unwrap());
        assert_eq!(a.take_over(id, seen).await.unwrap(), None, "too late for a");
        assert_eq!(
            a.locks().await.unwrap()[0].owner.as_deref(),
            Some("machine-b/0000000b")
        );
        assert_eq!(a.heartbeat().await.unwrap(), 0);
        assert_eq!(b.heartbeat().await.unwrap(), 1);
    }
}

async fn one_instance_leads_a_network_until_its_lease_runs_out_or_it_resigns(store: Store) {
    let a = store.open().await.as_instance("machine-a/0000000a".into());
    let b = store.open().await.as_instance("machine-b/0000000b".into());
    let lease = std::time::Duration::from_millis(400);
    assert_eq!(a.leader("xmpp").await.unwrap(), None);
    assert_eq!(
        a.claim_leader("xmpp", lease).await.unwrap(),
        LeaderClaim::Leads { from: None }
    );
    let held = b.leader("xmpp").await.unwrap().unwrap();
    assert_eq!(held.instance, "machine-a/0000000a");
    assert_eq!(held.since, held.heartbeat_at);
    match b.claim_leader("xmpp", lease).await.unwrap() {
        LeaderClaim::Follows {
            instance,
            expires_in_ms,
        } => {
            assert_eq!(instance_host(&instance), "machine-a");
            assert!((1..=400).contains(&expires_in_ms), "{expires_in_ms}");
        }
        other => panic!("b should follow: {other:?}"),
    }
    // Another network has a leader of its own.
    assert_eq!(
        b.claim_leader("slack", lease).await.unwrap(),
        LeaderClaim::Leads { from: None }
    );
    // Renewing keeps the lead and moves the lease, not the start.
    assert_eq!(
        a.claim_leader("xmpp", lease).await.unwrap(),
        LeaderClaim::Leads { from: None }
    );
    let renewed = a.leader("xmpp").await.unwrap().unwrap();
    assert_eq!(renewed.since, held.since);
    assert!(renewed.heartbeat_at >= held.heartbeat_at);
    // a stops renewing: b takes the lead once a's lease ran out by the journal's clock (and not
    // before), and says from whom.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = b.now_ms().await.unwrap();
        match b.claim_leader("xmpp", lease).await.unwrap() {
            LeaderClaim::Leads { from } => {
                assert_eq!(from.as_deref(), Some("machine-a/0000000a"));
                let taken = b.leader("xmpp").await.unwrap().unwrap();
                assert!(
                    taken.since >= renewed.heartbeat_at + 400,
                    "{taken:?} {renewed:?}"
                );
                break;
            }
            LeaderClaim::Follows { expires_in_ms, .. } => {
                assert!(
                    now < renewed.heartbeat_at + 400 + 50,
                    "lease ran out at {now}"
                );
                assert!(tokio::time::Instant::now() < deadline, "b never leads");
                // Waits out what the journal says is left of a's lease.
                tokio::time::sleep(std::time::Duration::from_millis(expires_in_ms as u64)).await; // allow-sleep: a lease running out
            }
        }
    }
    assert!(matches!(
        a.claim_leader("xmpp", lease).await.unwrap(),
        LeaderClaim::Follows { instance, .. } if instance == "machine-b/0000000b"
    ));
    // Giving up: only the holder can, and the other leads at once.
    assert!(!a.resign_leader("xmpp").await.unwrap());
    assert!(b.resign_leader("xmpp").await.unwrap());
    assert_eq!(a.leader("xmpp").await.unwrap(), None);
    assert_eq!(
        a.claim_leader("xmpp", lease).await.unwrap(),
        LeaderClaim::Leads { from: None }
    );
}

async fn bots_claiming_the_lead_at_once_never_both_lead(store: Store) {
    let lease = std::time::Duration::from_secs(30);
    for round in 0..5 {
        let network = format!("net{round}");
        let mut claims = tokio::task::JoinSet::new();
        for i in 0..8 {
            let journal = store
                .open()
                .await
                .as_instance(format!("machine-{i}/0000000{i}"));
            let network = network.clone();
            claims.spawn(async move { journal.claim_leader(&network, lease).await.unwrap() });
        }
        let claims = claims.join_all().await;
        let leading = claims
            .iter()
            .filter(|c| matches!(c, LeaderClaim::Leads { .. }))
            .count();
        assert_eq!(leading, 1, "round {round}: {claims:?}");
        let leader = store.open().await.leader(&network).await.unwrap().unwrap();
        assert!(claims.iter().all(|c| match c {
            LeaderClaim::Follows { instance, .. } => *instance == leader.instance,
            LeaderClaim::Leads { from } => from.is_none(),
        }));
    }
}

async fn the_when_free_queue_is_kept_in_order_for_the_next_leader(store: Store) {
    let a = store.open().await;
    let line = |app: &str, who: Option<&str>| QueuedLine {
        app: app.into(),
        env: "live".into(),
        room: "ops@conference.example.org".into(),
        who: who.map(String::from),
        display: who.unwrap_or("someone").into(),
        line: format!("!deploy {app} to live when free"),
        direct: who.is_none(),
    };
    a.queue_line("xmpp", line("blog", Some("bob@example.org")))
        .await
        .unwrap();
    a.queue_line("xmpp", line("blog", None)).await.unwrap();
    a.queue_line("xmpp", line("shop", Some("bob@example.org")))
        .await
        .unwrap();
    a.queue_line("slack", line("blog", Some("U024BE7LH")))
        .await
        .unwrap();
    // The anonymous request for blog started: only it is forgotten.
    assert_eq!(
        a.dequeue_line("xmpp", "blog", "live", None).await.unwrap(),
        1
    );
    assert_eq!(
        a.dequeue_line("xmpp", "blog", "staging", None)
            .await
            .unwrap(),
        0
    );
    // The next leader (another handle) takes them, in order, once.
    let b = store.open().await.as_instance("machine-b/0000000b".into());
    assert_eq!(
        b.take_queue("xmpp").await.unwrap(),
        vec![
            line("blog", Some("bob@example.org")),
            line("shop", Some("bob@example.org"))
        ]
    );
    assert_eq!(b.take_queue("xmpp").await.unwrap(), vec![]);
    assert_eq!(
        a.take_queue("slack").await.unwrap(),
        vec![line("blog", Some("U024BE7LH"))]
    );
}

#[test]
fn an_instance_id_is_the_host_name_and_8_hex_digits() {
    let id = new_instance_id();
    let (host, random) = id.rsplit_once('/').unwrap();
    assert_eq!(host, host_name());
    assert_eq!(random.len(), 8);
    assert!(random.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(id, new_instance_id());
}
