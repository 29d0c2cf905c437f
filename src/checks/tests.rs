//! The checks against real peers: git repositories made here and mirrored, a journal in a temp
//! dir, local commands, and a tiny HTTP server on 127.0.0.1 for CI.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::config::load_playbook;
use crate::journal::{DeployKind, DeployState, NewDeploy, StepState};
use crate::source::Mirror;
use crate::source::testing::TestRepo;

/// Monday 2026-11-23 00:00 UTC.
const MONDAY: i64 = 1_795_392_000_000;
const HOUR: i64 = 3_600_000;
/// Monday 10:00 UTC: inside office hours.
const NOW: i64 = MONDAY + 10 * HOUR;

struct World {
    dir: tempfile::TempDir,
    origin: TestRepo,
    journal: Journal,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let origin = TestRepo::new(&dir.path().join("origin"));
        let journal = Journal::open(&dir.path().join("journal.sqlite"))
            .await
            .unwrap();
        World {
            dir,
            origin,
            journal,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn commit(&self, subject: &str, files: &[(&str, &str)]) -> String {
        self.origin.commit("Ann", "ann@example.org", subject, files)
    }

    /// Fetches the origin into the mirror, as the engine does before the checks.
    fn sync(&self) {
        Mirror::sync(&self.state(), "blog", self.origin.path().to_str().unwrap()).unwrap();
    }

    /// A playbook whose `live` environment has `live` as extra keys.
    fn playbook(&self, live: &str) -> Playbook {
        let text = format!(
            "[app]\nname = \"blog\"\nrepo = {:?}\ndeploy_to = \"/srv/blog\"\n\
             [environments.staging]\nhosts = [\"s1\"]\n\
             [environments.qa]\nhosts = [\"q1\"]\n\
             [environments.live]\nhosts = [\"w1\"]\n{live}\n",
            self.origin.path().display().to_string()
        );
        let path = self.dir.path().join("playbooks/blog.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        load_playbook(&path, &self.state()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn playbook_dir(&self) -> PathBuf {
        self.dir.path().join("playbooks")
    }

    async fn check(
        &self,
        playbook: &Playbook,
        sha: &str,
        tag: Option<&str>,
        force: bool,
        now_ms: i64,
    ) -> CheckReport {
        let env = playbook.environment("live").unwrap();
        let state = self.state();
        evaluate(CheckInput {
            playbook,
            env,
            revision: Candidate {
                sha,
                short: &sha[..7],
                tag,
            },
            state_dir: &state,
            journal: &self.journal,
            force,
            now_ms,
        })
        .await
    }

    /// Records a succeeded deploy of `sha` to `env`.
    async fn deployed(&self, env: &str, sha: &str) {
        let id = self
            .journal
            .begin(NewDeploy {
                kind: DeployKind::Deploy,
                app: "blog".into(),
                env: env.into(),
                reference: Some(sha.into()),
                revision: Some(sha.into()),
                tag: None,
                release: Some(format!("20261123000000-{}", &sha[..7])),
                previous_release: None,
                previous_revision: None,
                requested_by: "alice".into(),
                room: "console".into(),
                plan: "{}".into(),
            })
            .await
            .unwrap()
            .unwrap();
        self.journal
            .finish(id, DeployState::Succeeded, "ok".into())
            .await
            .unwrap();
    }
}

fn failures(report: &CheckReport) -> Vec<String> {
    report.failures.iter().map(ToString::to_string).collect()
}

// ── tag ─────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn tag_passes_a_tagged_commit_and_names_the_newest_tag_otherwise() {
    let world = World::new().await;
    let first = world.commit("First", &[("a", "1")]);
    world.origin.tag("v1.1", &first, true);
    let second = world.commit("Second", &[("a", "2")]);
    world.origin.tag("v1.2", &second, false);
    let third = world.commit("Third", &[("a", "3")]);
    world.sync();
    let playbook = world.playbook("require = [\"tag\"]");

    let report = world
        .check(&playbook, &second, Some("v1.2"), false, NOW)
        .await;
    assert!(report.passed(), "{report}");
    let report = world.check(&playbook, &third, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "tag: {} carries no tag; deploy a tag: deploy blog/v1.2 to live",
            &third[..7]
        )]
    );
}

#[tokio::test]
async fn tag_in_a_repository_without_tags_says_to_make_one() {
    let world = World::new().await;
    let only = world.commit("First", &[("a", "1")]);
    world.sync();
    let playbook = world.playbook("require = [\"tag\"]");
    let report = world.check(&playbook, &only, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "tag: {} carries no tag, and the repository has none; tag a release and push the tag, \
             then deploy a tag: deploy blog/TAG to live",
            &only[..7]
        )]
    );
}

// ── on-staging ──────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn on_staging_wants_the_commit_live_on_staging_now() {
    let world = World::new().await;
    let old = world.commit("Old", &[("a", "1")]);
    let new = world.commit("New", &[("a", "2")]);
    world.sync();
    let playbook = world.playbook("require = [\"on-staging\"]");
    let (old7, new7) = (&old[..7], &new[..7]);

    let report = world.check(&playbook, &new, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "on-staging: {new7} is not live on staging (nothing is live on staging yet); \
             deploy it there first: deploy blog/{new7} to staging"
        )]
    );

    world.deployed("staging", &old).await;
    let report = world.check(&playbook, &new, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "on-staging: {new7} is not live on staging (staging runs {old7}); \
             deploy it there first: deploy blog/{new7} to staging"
        )]
    );

    world.deployed("staging", &new).await;
    let report = world.check(&playbook, &new, None, false, NOW).await;
    assert!(report.passed(), "{report}");
    // Only what is live now counts: staging moved on.
    world.deployed("staging", &old).await;
    assert!(
        !world
            .check(&playbook, &new, None, false, NOW)
            .await
            .passed()
    );
}

#[tokio::test]
async fn on_staging_can_name_another_environment() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    world.deployed("staging", &sha).await;
    let playbook = world.playbook("require = [\"on-staging\"]\non_staging = \"qa\"");
    let short = &sha[..7];
    assert_eq!(
        failures(&world.check(&playbook, &sha, None, false, NOW).await),
        [format!(
            "on-staging: {short} is not live on qa (nothing is live on qa yet); \
             deploy it there first: deploy blog/{short} to qa"
        )]
    );
    world.deployed("qa", &sha).await;
    assert!(
        world
            .check(&playbook, &sha, None, false, NOW)
            .await
            .passed()
    );
}

/// A deploy of `sha` to `env` with a stage, a switch and a clean-up step, begun (running) in
/// `journal`; returns its id and the journal ids of its steps' intents.
async fn begun(journal: &Journal, env: &str, sha: &str) -> (i64, Vec<i64>) {
    use crate::engine::action::Action;
    use crate::engine::{Phase, Plan, PlanKind, RevisionInfo, Step};
    let release = format!("20261124000000-{}", &sha[..7]);
    let run = |what: &str| Action::Run {
        what: what.into(),
        argv: vec!["true".into()],
        cwd: String::new(),
        timeout_ms: 1000,
    };
    let steps = vec![
        (Phase::Stage, run("build")),
        (
            Phase::Switch {
                group: "web".into(),
                batch: 1,
                batches: 1,
            },
            run("restart"),
        ),
        (
            Phase::Finish,
            Action::Cleanup {
                deploy_to: "/srv/blog".into(),
                keep: 3,
                protect: vec![release.clone()],
            },
        ),
    ];
    let plan = Plan {
        version: 1,
        kind: PlanKind::Deploy,
        app: "blog".into(),
        env: env.into(),
        reference: None,
        revision: RevisionInfo {
            sha: sha.into(),
            short: sha[..7].into(),
            tag: None,
        },
        previous: None,
        release: release.clone(),
        previous_release: None,
        changesets: vec![],
        hosts: vec![],
        batches: vec![],
        steps: steps
            .into_iter()
            .enumerate()
            .map(|(seq, (phase, action))| Step {
                seq: seq + 1,
                phase,
                host: "s1".into(),
                action,
                undo: vec![],
            })
            .collect(),
        canary: None,
        tickets: Default::default(),
        notices: vec![],
        full_list_url: None,
    };
    let id = journal
        .begin(NewDeploy {
            kind: DeployKind::Deploy,
            app: "blog".into(),
            env: env.into(),
            reference: Some(sha.into()),
            revision: Some(sha.into()),
            tag: None,
            release: Some(release),
            previous_release: None,
            previous_revision: None,
            requested_by: "bob".into(),
            room: "console".into(),
            plan: plan.to_json(),
        })
        .await
        .unwrap()
        .unwrap();
    let mut intents = Vec::new();
    for step in &plan.steps {
        intents.push(
            journal
                .intent(
                    id,
                    crate::journal::StepIntent {
                        seq: step.seq as i64,
                        host: Some(step.host.clone()),
                        phase: step.phase.name().into(),
                        label: step.action.label(),
                        action: serde_json::to_string(&step.action).unwrap(),
                        undo: None,
                        undo_of: None,
                    },
                )
                .await
                .unwrap(),
        );
    }
    (id, intents)
}

#[tokio::test]
async fn on_staging_counts_a_deploy_that_went_live_and_only_removes_old_releases() {
    let world = World::new().await;
    let old = world.commit("Old", &[("a", "1")]);
    let new = world.commit("New", &[("a", "2")]);
    world.sync();
    let playbook = world.playbook("require = [\"on-staging\"]");
    world.deployed("staging", &old).await;
    let (_, steps) = begun(&world.journal, "staging", &new).await;
    let done = |step: i64| world.journal.outcome(step, StepState::Done, String::new());

    // Staged, not switched: staging still runs the old commit.
    done(steps[0]).await.unwrap();
    let report = world.check(&playbook, &new, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "on-staging: {} is not live on staging (staging runs {}); \
             deploy it there first: deploy blog/{} to staging",
            &new[..7],
            &old[..7],
            &new[..7]
        )]
    );
    // Switched, its clean-up running: the room was told it is live, and it counts.
    done(steps[1]).await.unwrap();
    let report = world.check(&playbook, &new, None, false, NOW).await;
    assert!(report.passed(), "{report}");
    assert!(
        !world
            .check(&playbook, &old, None, false, NOW)
            .await
            .passed(),
        "the old commit is no longer live on staging"
    );
}

// ── pushed ──────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn pushed_wants_the_commit_on_the_configured_branch() {
    let world = World::new().await;
    let base = world.commit("Base", &[("a", "1")]);
    let on_main = world.commit("On main", &[("a", "2")]);
    world.origin.branch("feature", &base);
    world.origin.set_head("feature");
    let on_feature = world.commit("On feature", &[("b", "1")]);
    world.origin.set_head("main");
    world.sync();

    let playbook = world.playbook("require = [\"pushed\"]\nbranch = \"main\"");
    for sha in [&base, &on_main] {
        let report = world.check(&playbook, sha, None, false, NOW).await;
        assert!(report.passed(), "{report}");
    }
    let report = world.check(&playbook, &on_feature, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "pushed: {} is not on main in the origin; merge it into main and push, then deploy again",
            &on_feature[..7]
        )]
    );

    let playbook = world.playbook("require = [\"pushed\"]\nbranch = \"release\"");
    let report = world.check(&playbook, &on_main, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        ["pushed: the origin has no branch \"release\"; push it, or set branch = \"…\" for live"]
    );
}

// ── ci: a local command ─────────────────────────────────────────────────────────────────────────

/// A CI stand-in: green when the sha it is given is listed in green.txt beside the playbook.
const CI_SCRIPT: &str = r#"grep -qx "$1" green.txt || { echo "build of $1 is red"; exit 1; }"#;

#[tokio::test]
async fn ci_command_runs_with_the_revision_and_exit_0_is_green() {
    let world = World::new().await;
    let green = world.commit("Green", &[("a", "1")]);
    let red = world.commit("Red", &[("a", "2")]);
    world.sync();
    // `{revision}` named: substituted; not named: appended.
    for command in [
        format!("[\"sh\", \"-c\", {CI_SCRIPT:?}, \"ci\", \"{{revision}}\"]"),
        format!("[\"sh\", \"-c\", {CI_SCRIPT:?}, \"ci\"]"),
    ] {
        let playbook = world.playbook(&format!(
            "require = [\"ci\"]\nci = {{ command = {command}, timeout = \"20s\" }}"
        ));
        std::fs::write(world.playbook_dir().join("green.txt"), format!("{green}\n")).unwrap();
        let report = world.check(&playbook, &green, None, false, NOW).await;
        assert!(report.passed(), "{command}: {report}");
        let report = world.check(&playbook, &red, None, false, NOW).await;
        assert_eq!(
            failures(&report),
            [format!(
                "ci: {} is not green (sh -c {CI_SCRIPT:?} ci {red} exited with 1: build of {red} is red); \
                 wait for CI to pass, or deploy a revision that did",
                &red[..7]
            )],
            "{command}"
        );
    }
}

#[tokio::test]
async fn ci_command_that_hangs_is_stopped_at_its_timeout() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    let playbook = world.playbook(
        "require = [\"ci\"]\nci = { command = [\"sh\", \"-c\", \"sleep 30\", \"ci\", \"{short}\"], timeout = \"300ms\" }",
    );
    let report = world.check(&playbook, &sha, None, false, NOW).await;
    let short = &sha[..7];
    assert_eq!(
        failures(&report),
        [format!(
            "ci: CI did not answer for {short} within 300 ms (sh -c \"sleep 30\" ci {short}); try again when it does"
        )]
    );
}

// ── ci: a status URL ────────────────────────────────────────────────────────────────────────────

/// How the stand-in CI server answers one request.
enum Answer {
    /// 200 for `/status/<sha>` (whatever the query), 404 for any other path.
    GreenFor(String),
    /// Reads the request and never answers (until the client hangs up).
    Silent,
}

/// Serves exactly one connection, then returns the request line it got.
async fn serve_once(listener: TcpListener, answer: Answer) -> String {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client hung up mid-request");
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    let line = text.lines().next().unwrap_or_default().to_string();
    match answer {
        Answer::GreenFor(sha) => {
            let path = line.split(' ').nth(1).unwrap_or_default();
            let path = path.split('?').next().unwrap_or_default();
            let status = if path == format!("/status/{sha}") {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let response =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(response.as_bytes()).await.unwrap();
        }
        Answer::Silent => {
            // Until the client gives up and closes.
            while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        }
    }
    line
}

async fn ci_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, base)
}

#[tokio::test]
async fn ci_url_is_asked_with_the_revision_and_2xx_is_green() {
    let world = World::new().await;
    let green = world.commit("Green", &[("a", "1")]);
    let red = world.commit("Red", &[("a", "2")]);
    world.sync();

    let (listener, base) = ci_server().await;
    let playbook = world.playbook(&format!(
        "require = [\"ci\"]\nci = {{ url = \"{base}/status/{{revision}}?token=s3cret\", timeout = \"20s\" }}"
    ));
    let (report, line) = tokio::join!(
        world.check(&playbook, &green, None, false, NOW),
        serve_once(listener, Answer::GreenFor(green.clone()))
    );
    assert_eq!(line, format!("GET /status/{green}?token=s3cret HTTP/1.1"));
    assert!(report.passed(), "{report}");

    let (listener, base) = ci_server().await;
    let playbook = world.playbook(&format!(
        "require = [\"ci\"]\nci = {{ url = \"{base}/status/{{revision}}?token=s3cret\", timeout = \"20s\" }}"
    ));
    let (report, _) = tokio::join!(
        world.check(&playbook, &red, None, false, NOW),
        serve_once(listener, Answer::GreenFor(green.clone()))
    );
    assert_eq!(
        failures(&report),
        [format!(
            "ci: CI says {} is not green (GET {base}/status/{red} answered 404 Not Found); \
             wait for CI to pass, or deploy a revision that did",
            &red[..7]
        )]
    );
    assert!(!report.to_string().contains("s3cret"));
}

#[tokio::test]
async fn ci_url_that_does_not_answer_times_out_and_one_that_refuses_is_named() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    let short = &sha[..7];

    let (listener, base) = ci_server().await;
    let playbook = world.playbook(&format!(
        "require = [\"ci\"]\nci = {{ url = \"{base}/status/{{short}}\", timeout = \"300ms\" }}"
    ));
    let (report, line) = tokio::join!(
        world.check(&playbook, &sha, None, false, NOW),
        serve_once(listener, Answer::Silent)
    );
    assert_eq!(line, format!("GET /status/{short} HTTP/1.1"));
    assert_eq!(
        failures(&report),
        [format!(
            "ci: CI did not answer for {short} within 300 ms (GET {base}/status/{short}); try again when it does"
        )]
    );

    let (listener, base) = ci_server().await;
    drop(listener);
    let playbook = world.playbook(&format!(
        "require = [\"ci\"]\nci = {{ url = \"{base}/status/{{short}}\", timeout = \"5s\" }}"
    ));
    let report = world.check(&playbook, &sha, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "ci: cannot ask CI about {short} (GET {base}/status/{short}: connection refused or unreachable)"
        )]
    );
}

// ── verify ──────────────────────────────────────────────────────────────────────────────────────

/// A linter over every shell file of the tree.
const LINT: &str =
    "for f in *.sh; do sh -n \"$f\" 2>/dev/null || { echo \"$f: syntax error\"; exit 1; }; done\n";

fn scratch_is_empty(state: &Path) -> bool {
    std::fs::read_dir(state.join("checks")).map_or(true, |mut d| d.next().is_none())
}

#[tokio::test]
async fn verify_runs_each_command_on_a_checkout_of_exactly_the_commit() {
    let world = World::new().await;
    let good = world.commit("Good", &[("lint.sh", LINT), ("run.sh", "echo hello\n")]);
    let bad = world.commit("Bad", &[("broken.sh", "if then fi (\n")]);
    world.sync();
    let playbook = world.playbook(
        "require = [\"verify\"]\nverify = [\"test -f run.sh\", \"sh lint.sh\"]\nverify_timeout = \"20s\"",
    );

    let report = world.check(&playbook, &good, None, false, NOW).await;
    assert!(report.passed(), "{report}");
    let report = world.check(&playbook, &bad, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "verify: sh lint.sh failed on {} (exit 1): broken.sh: syntax error; fix it and deploy a new revision",
            &bad[..7]
        )]
    );
    // The good commit still passes: the checkout is of the commit, not of the newest tree.
    assert!(
        world
            .check(&playbook, &good, None, false, NOW)
            .await
            .passed()
    );
    assert!(
        scratch_is_empty(&world.state()),
        "scratch checkouts are removed"
    );
}

#[tokio::test]
async fn verify_stops_a_command_at_its_timeout() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    let playbook = world.playbook(
        "require = [\"verify\"]\nverify = [\"sh -c 'sleep 30'\"]\nverify_timeout = \"300ms\"",
    );
    let report = world.check(&playbook, &sha, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [format!(
            "verify: sh -c \"sleep 30\" took longer than 300 ms on {}; make it faster or raise verify_timeout",
            &sha[..7]
        )]
    );
    assert!(scratch_is_empty(&world.state()));
}

// ── windows and freezes ─────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn windows_refuse_outside_them_with_the_next_opening() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    let playbook = world.playbook("windows = [\"Mon-Fri 09:00-17:00\", \"Sat 10:00-12:00\"]");
    assert!(
        world
            .check(&playbook, &sha, None, false, NOW)
            .await
            .passed()
    );
    let friday_evening = MONDAY + 4 * 24 * HOUR + 18 * HOUR;
    let report = world
        .check(&playbook, &sha, None, false, friday_evening)
        .await;
    assert_eq!(
        failures(&report),
        [
            "window: live takes deploys only Mon-Fri 09:00-17:00, Sat 10:00-12:00 (UTC), and it is \
          Fri 2026-11-27 18:00 UTC; the next window opens Sat 2026-11-28 10:00 UTC"
        ]
    );
    assert_eq!(
        report.to_string(),
        format!(
            "{}\nwindow may be forced past: \"deploy!\" skips it, for someone who may force",
            failures(&report)[0]
        )
    );
}

#[tokio::test]
async fn a_freeze_from_the_journal_refuses_until_it_ends() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    let playbook = world.playbook("");
    let five_pm = MONDAY + 17 * HOUR;
    world
        .journal
        .freeze(
            "live".into(),
            "carol".into(),
            "release week".into(),
            Some(five_pm),
        )
        .await
        .unwrap();
    world
        .journal
        .freeze("staging".into(), "dave".into(), "other".into(), None)
        .await
        .unwrap();
    let report = world.check(&playbook, &sha, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [
            "freeze: live is frozen by carol until 2026-11-23 17:00 UTC: release week; \"unfreeze live\" lifts it"
        ]
    );
    assert!(
        world
            .check(&playbook, &sha, None, false, five_pm)
            .await
            .passed()
    );
    world.journal.unfreeze("live".into()).await.unwrap();
    assert!(
        world
            .check(&playbook, &sha, None, false, NOW)
            .await
            .passed()
    );
}

// ── force ───────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn force_passes_soft_checks_only_and_names_them() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    world
        .journal
        .freeze("live".into(), "carol".into(), "release week".into(), None)
        .await
        .unwrap();
    let playbook = world.playbook(
        "require = [\"tag\", \"ci\"]\nsoft = [\"ci\", \"freeze\"]\n\
         ci = { command = [\"sh\", \"-c\", \"exit 1\"] }",
    );
    let short = &sha[..7];
    let tag_failure = format!(
        "tag: {short} carries no tag, and the repository has none; tag a release and push the tag, then deploy a tag: deploy blog/TAG to live"
    );
    let freeze_failure = "freeze: live is frozen by carol until someone unfreezes it: release week; \"unfreeze live\" lifts it";

    // Not forced: the freeze and the tag fail, and CI is not asked while they do.
    let report = world.check(&playbook, &sha, None, false, NOW).await;
    assert_eq!(
        failures(&report),
        [freeze_failure.to_string(), tag_failure.clone()]
    );
    assert_eq!(report.not_run, [Check::Ci]);
    assert!(report.skipped.is_empty());
    assert_eq!(
        report.to_string(),
        format!(
            "{freeze_failure}\n{tag_failure}\n(not run while the above fail: ci)\n\
             freeze may be forced past: \"deploy!\" skips it, for someone who may force; the others must be fixed"
        )
    );

    // Forced: the hard tag check still fails; the freeze and CI are passed, and named.
    let report = world.check(&playbook, &sha, None, true, NOW).await;
    assert_eq!(failures(&report), [tag_failure]);
    assert_eq!(
        report.skipped,
        [freeze_failure.to_string(), "ci (not run)".to_string()]
    );
    assert_eq!(
        report.notices(),
        [
            format!("forced past the check {freeze_failure}"),
            "forced past the check ci (not run)".to_string()
        ]
    );

    // With a tag, a forced deploy goes ahead.
    let report = world.check(&playbook, &sha, Some("v1"), true, NOW).await;
    assert!(report.passed(), "{report}");
    assert_eq!(report.skipped.len(), 2);
}

#[tokio::test]
async fn hard_freezes_and_windows_hold_even_when_forced() {
    let world = World::new().await;
    let sha = world.commit("One", &[("a", "1")]);
    world.sync();
    world
        .journal
        .freeze("live".into(), "carol".into(), "audit".into(), None)
        .await
        .unwrap();
    let playbook = world.playbook("soft = []\nwindows = [\"Sat 10:00-12:00\"]");
    let report = world.check(&playbook, &sha, None, true, NOW).await;
    let checks: Vec<Check> = report.failures.iter().map(|f| f.check).collect();
    assert_eq!(checks, [Check::Freeze, Check::Window]);
    assert!(report.failures.iter().all(|f| !f.soft));
    assert!(report.skipped.is_empty());
    assert!(!report.to_string().contains("deploy!"));
}
