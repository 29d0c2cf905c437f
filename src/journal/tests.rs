//! Journal tests: records round-trip, locks exclude, unfinished deploys are found, export is readable.

use super::*;

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

#[tokio::test]
async fn a_deploy_holds_its_environment_until_it_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.sqlite")).await.unwrap();
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

#[tokio::test]
async fn a_manual_lock_holds_every_app_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    {
        let j = Journal::open(&path).await.unwrap();
        j.lock("staging".into(), "alice".into(), "deploying by hand".into())
            .await
            .unwrap()
            .unwrap();
    }
    let j = Journal::open(&path).await.unwrap();
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

#[tokio::test]
async fn steps_keep_intent_and_outcome_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.sqlite")).await.unwrap();
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
    assert_eq!(j.unfinished().await.unwrap().len(), 1);
    j.finish(id, DeployState::Undone, "x".into()).await.unwrap();
    assert!(j.unfinished().await.unwrap().is_empty());
}

#[tokio::test]
async fn live_is_the_newest_success_and_history_is_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.sqlite")).await.unwrap();
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

#[tokio::test]
async fn export_writes_a_readable_archive() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.sqlite")).await.unwrap();
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
    let out = dir.path().join("export.tar.gz");
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

#[tokio::test]
async fn two_deploys_asked_at_once_from_two_bots_exactly_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    for _ in 0..20 {
        // Two handles, two connections: as two bots sharing one journal.
        let (a, b) = (
            Journal::open(&path).await.unwrap(),
            Journal::open(&path).await.unwrap(),
        );
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
        let j = Journal::open(&path).await.unwrap();
        j.finish(won[0], DeployState::Succeeded, "ok".into())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn history_pages_filter_and_never_repeat_or_skip_a_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.sqlite"))
        .await
        .unwrap()
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
