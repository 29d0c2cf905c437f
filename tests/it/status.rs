//! `status` says everything: what runs, what waits in the `when free` queue, freezes, locks,
//! and the deploys that failed and need a look (until a later deploy puts them right).

use bosun::engine::action::Action;
use bosun::journal::{DeployKind, DeployState, Journal, NewDeploy, StepIntent, StepState};

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::ConsoleBot;

#[tokio::test]
async fn status_names_the_running_deploy_the_queue_freezes_and_what_needs_a_look() {
    let app = DemoApp::new(AppOptions {
        hosts: vec!["h1"],
        build_extra: vec![r#"["sh", "-c", "read go < {shared_path}/gate"]"#.into()],
        ..AppOptions::default()
    });
    let shared = app.deploy_root("h1").join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let fifo = shared.join("gate");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // An earlier deploy whose undo failed, as a crashed run would leave it.
    let journal = Journal::open(&app.journal_path()).await.unwrap();
    let broken = journal
        .begin(NewDeploy {
            kind: DeployKind::Deploy,
            app: "demo".into(),
            env: "staging".into(),
            reference: Some("main".into()),
            revision: Some(app.history[1].clone()),
            tag: None,
            release: Some("20260101000000-0000000".into()),
            previous_release: None,
            previous_revision: None,
            requested_by: "bob".into(),
            room: "console".into(),
            plan: "{}".into(),
        })
        .await
        .unwrap()
        .unwrap();
    // Its undo is owed to a host that is gone from the playbook: no repair can finish it.
    let switch = |release: &str| Action::Switch {
        deploy_to: "/srv/demo".into(),
        release: release.into(),
    };
    let step = journal
        .intent(
            broken,
            StepIntent {
                seq: 1,
                host: Some("gone".into()),
                phase: "switch".into(),
                label: "switch to 20260101000000-0000000".into(),
                action: serde_json::to_string(&switch("20260101000000-0000000")).unwrap(),
                undo: Some(serde_json::to_string(&vec![switch("20251231000000-0000000")]).unwrap()),
                undo_of: None,
            },
        )
        .await
        .unwrap();
    journal
        .outcome(step, StepState::UndoFailed, "cannot reach gone".into())
        .await
        .unwrap();
    journal
        .finish(broken, DeployState::Failed, "undo failed on gone".into())
        .await
        .unwrap();
    drop(journal);

    let mut bot = ConsoleBot::start(app.config(), "alice");
    // On start the bot tries to finish that undo, and says it cannot.
    let tried = bot.expect("I found that demo on staging").await;
    assert!(tried.contains("waits for gone"), "{tried}");
    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    bot.say("deploy demo to staging when free").await;
    bot.expect("number 1 in line").await;
    bot.say("freeze staging for 2h release week").await;
    bot.expect("staging is frozen by alice").await;
    bot.say("status").await;
    bot.expect("demo on staging: never deployed").await;
    bot.expect("running: demo on staging by alice (journal #2)")
        .await;
    let frozen = bot.expect("frozen: staging by alice").await;
    assert!(frozen.ends_with(": release week"), "{frozen}");
    bot.expect("queued (1 in line): deploy demo to staging for alice")
        .await;
    let look = bot.expect("NEEDS A LOOK: #1").await;
    assert!(look.contains("bob") && look.contains("FAILED"), "{look}");

    bot.say("unfreeze staging").await;
    bot.expect("staging is unfrozen").await;
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut gate = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        gate.write_all(b"go\n").unwrap();
    })
    .await
    .unwrap();
    bot.expect("is live on 1 host").await;
    bot.expect("the queue moves").await;
    bot.expect("is already live on staging").await;
    bot.say("status").await;
    bot.expect("nothing is running").await;
    let (_, transcript) = bot.finish().await;
    let last = transcript
        .iter()
        .rposition(|l| l.contains("nothing is running"))
        .unwrap();
    assert!(
        !transcript[last..]
            .iter()
            .any(|l| l.contains("NEEDS A LOOK")),
        "a later deploy put it right: {transcript:#?}"
    );
}
