//! The kill tests: deploys to SSH fleets killed (SIGKILL) with the bot restarted at once. Slow steps (a build of 0.5 s, a migration of 1 s up and down, a restart of 0.3 s) killed at points spread across the whole deploy, and quick deploys killed at the step boundaries a timer cannot hit; after every restart every host runs one complete release, the migrations match it, no lock and no remote process is left, and the room was told.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bosun::journal::{DeployState, Journal, StepState};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::bot::PATIENCE;
use crate::support::process::{BotProcess, processes_mentioning};
use crate::support::ssh_app::{SshApp, SshOptions};

/// Runs one bot process to the end of `lines`, returning everything it said and whether it
/// exited on its own (false: it was killed).
async fn run_bot(config: &Path, env: &[(&str, &str)], lines: &[&str]) -> (Vec<String>, bool) {
    let mut bot = BotProcess::start_with(config, "alice", env);
    for line in lines {
        bot.say(line).await;
    }
    drop(bot.stdin.take());
    let status = tokio::time::timeout(PATIENCE, bot.child.wait())
        .await
        .expect("the bot ends")
        .unwrap();
    // Every line, to the end of the bot's output: the reader forwards its last lines after
    // the process has ended, then lets go of the channel.
    let mut said = bot.transcript.clone();
    let rest = async {
        while let Some(line) = bot.lines.recv().await {
            said.push(line);
        }
    };
    tokio::time::timeout(PATIENCE, rest)
        .await
        .expect("the bot's output ends");
    (said, status.success())
}

/// Starts the bot with nothing to do but recover and reconcile, and reads what it says, with
/// when it said it, until it exits.
async fn restart(config: &Path) -> Vec<(Duration, String)> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--as", "alice"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the bosun binary starts");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = Vec::new();
    let read = async {
        while let Ok(Some(line)) = out.next_line().await {
            said.push((started.elapsed(), line));
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the restarted bot finishes recovering");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the bot ends")
        .unwrap();
    assert!(status.success(), "{said:?}");
    said
}

/// An 8-host SSH fleet whose pipeline takes realistic time; every slow command carries `tag`
/// in its arguments so that a leftover process can be found with `ps`, and migrations leave
/// their trace in `stack` (one revision per line, appended by up, removed by down).
struct SlowFleet {
    ssh: SshApp,
    stack: PathBuf,
    tag: String,
    _marks: tempfile::TempDir,
}

impl SlowFleet {
    fn start() -> SlowFleet {
        let marks = tempfile::tempdir().unwrap();
        let stack = marks.path().join("stack");
        let tag = marks.path().join("slow-step").display().to_string();
        std::fs::write(&stack, "").unwrap();
        let ssh = SshApp::new(SshOptions {
            hosts: 8,
            groups: vec![("web", 8, Some(3))],
            build: format!(r#"[["sh", "-c", "sleep 0.5; true", "{tag}"]]"#),
            restart: format!("sh -c 'sleep 0.3; true' {tag}"),
            pipeline_extra: format!(
                r#"migrate = {{ up = ["sh", "-c", "sleep 1; echo \"$1\" >> \"$2\"", "{tag}", "{{revision}}", "{stack}"], down = ["sh", "-c", "sleep 1; sed -i \"/^$1\\$/d\" \"$2\"", "{tag}", "{{revision}}", "{stack}"], once = true }}"#,
                stack = stack.display()
            ),
            ..SshOptions::default()
        });
        SlowFleet {
            ssh,
            stack,
            tag,
            _marks: marks,
        }
    }

    fn config(&self) -> PathBuf {
        self.ssh.app.config_path.clone()
    }
}

/// What one kill round found wrong, if anything.
struct Round {
    problem: Option<String>,
    /// How long the restarted bot took to say that it recovered the deploy.
    recovery: Option<Duration>,
}

/// One round: a new commit deployed, the bot killed `offset` after it announced the deploy,
/// started again at once; then every host, the migrations, the journal and the processes
/// are checked. `live` is the fleet's (release, revision) before the round, and after it.
async fn kill_round(
    fleet: &mut SlowFleet,
    round: usize,
    offset: Duration,
    live: &mut (String, String),
    stack: &mut Vec<String>,
) -> Round {
    let sha = fleet.ssh.app.commit("Bob", &format!("Kill round {round}"));
    let config = fleet.config();
    let mut bot = BotProcess::start(&config, "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    tokio::time::sleep(offset).await; // allow-sleep: the kill point itself, not a wait for an event
    bot.child.kill().await.unwrap(); // SIGKILL; its remote commands may still run
    drop(bot);
    let said = restart(&config).await;

    // A command the dead bot's master was still opening may reach its host late: its guard
    // finds the host fenced by the recovery and ends at once. Give such stragglers a moment,
    // then check the hosts, so that anything a straggler did would show.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&fleet.tag).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await; // allow-sleep: polling ps, with a deadline
    }
    let journal = Journal::open(&fleet.ssh.app.journal_path()).await.unwrap();
    let deploy = journal
        .history(Some("demo".into()), Some("staging".into()), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.revision.as_deref() == Some(sha.as_str()))
        .expect("the round's deploy is in the journal");
    let mut problems = Vec::new();
    let told = said
        .iter()
        .find(|(_, l)| l.contains(&format!("I was restarted while deploy #{}", deploy.id)));
    match deploy.state {
        DeployState::Succeeded => {
            *live = (deploy.release.clone().unwrap(), sha.clone());
            stack.push(sha.clone());
        }
        DeployState::Recovered if told.is_some() => {}
        DeployState::Recovered => problems.push("the room was not told".to_string()),
        other => problems.push(format!("deploy #{} ended {other:?}", deploy.id)),
    }
    for host in fleet.ssh.fleet.names() {
        let current = fleet.ssh.current(&host);
        let revision = fleet.ssh.live_revision(&host);
        let complete = fleet
            .ssh
            .deploy_root(&host)
            .join("current/index.html")
            .exists();
        if current.as_deref() != Some(live.0.as_str())
            || revision.as_deref() != Some(live.1.as_str())
            || !complete
        {
            problems.push(format!(
                "{host}: current {current:?} revision {revision:?} complete {complete}"
            ));
        }
        let partial: Vec<String> = fleet
            .ssh
            .releases(&host)
            .into_iter()
            .filter(|r| r.ends_with(".partial") || r.starts_with('.'))
            .collect();
        if !partial.is_empty() {
            problems.push(format!("{host}: left {partial:?}"));
        }
    }
    let migrations: Vec<String> = std::fs::read_to_string(&fleet.stack)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    if &migrations != stack {
        problems.push(format!("migrations {migrations:?}, expected {stack:?}"));
    }
    let locks = journal.locks().await.unwrap();
    let unfinished = journal.unfinished().await.unwrap();
    if !locks.is_empty() || !unfinished.is_empty() {
        problems.push(format!(
            "{} locks and {} unfinished deploys left",
            locks.len(),
            unfinished.len()
        ));
    }
    let left = processes_mentioning(&fleet.tag);
    if !left.is_empty() {
        problems.push(format!("processes left running: {left:?}"));
    }
    if !problems.is_empty() {
        // What the restarted bot said about the hosts, for the diagnosis.
        let found: Vec<&str> = said
            .iter()
            .map(|(_, l)| l.as_str())
            .filter(|l| l.contains("found") || l.contains("restarted") || l.contains("busy"))
            .collect();
        problems.push(format!("the restarted bot said {found:?}"));
    }
    Round {
        problem: (!problems.is_empty()).then(|| {
            format!(
                "round {round}, killed {offset:?} after the announcement ({:?}): {}",
                deploy.state,
                problems.join("; ")
            )
        }),
        recovery: told.map(|(at, _)| *at),
    }
}

/// Runs every `stride`-th of `points` kill points, starting at `first`, on its own fleet.
async fn campaign(
    first: usize,
    stride: usize,
    points: usize,
) -> (usize, Vec<String>, Vec<Duration>) {
    let mut fleet = SlowFleet::start();
    // One clean deploy: the fleet's release, and how long a whole deploy takes.
    let (said, clean) = run_bot(&fleet.config(), &[], &["deploy demo to staging"]).await;
    assert!(
        clean && said.iter().any(|l| l.contains("is live on 8 hosts")),
        "{said:#?}"
    );
    let journal = Journal::open(&fleet.ssh.app.journal_path()).await.unwrap();
    let first_deploy = journal.deploy(1).await.unwrap();
    let steps = journal.steps(1).await.unwrap();
    let window_ms =
        steps.iter().filter_map(|s| s.finished_at).max().unwrap() - first_deploy.started_at;
    assert!(
        window_ms >= 2_500,
        "the slow deploy took only {window_ms} ms"
    );
    let mut live = (
        fleet.ssh.current("h1").unwrap(),
        fleet.ssh.live_revision("h1").unwrap(),
    );
    let mut stack = vec![live.1.clone()];
    let (mut done, mut failures, mut recoveries) = (0, Vec::new(), Vec::new());
    for k in (first..points).step_by(stride) {
        // Spread evenly over the whole deploy, from its first step to its last.
        let offset =
            Duration::from_millis(window_ms as u64 * (2 * k as u64 + 1) / (2 * points as u64));
        let round = kill_round(&mut fleet, k, offset, &mut live, &mut stack).await;
        done += 1;
        failures.extend(round.problem);
        recoveries.extend(round.recovery);
    }
    (done, failures, recoveries)
}

#[tokio::test]
async fn a_deploy_killed_inside_slow_steps_leaves_one_release_matching_migrations_and_nothing_processes_mentioning()
 {
    const POINTS: usize = 102;
    let (a, b, c) = tokio::join!(
        campaign(0, 3, POINTS),
        campaign(1, 3, POINTS),
        campaign(2, 3, POINTS)
    );
    let points = a.0 + b.0 + c.0;
    let failures: Vec<String> = [a.1, b.1, c.1].concat();
    let mut recoveries: Vec<Duration> = [a.2, b.2, c.2].concat();
    recoveries.sort();
    println!("kill_points_slow: {points} failures: {}", failures.len());
    if let (Some(max), false) = (recoveries.last(), recoveries.is_empty()) {
        println!(
            "recovery_s (8 hosts, from the restart to the room told): median {:.2} max {:.2} over {} recoveries",
            recoveries[recoveries.len() / 2].as_secs_f64(),
            max.as_secs_f64(),
            recoveries.len()
        );
    }
    assert_eq!(points, POINTS);
    assert!(
        failures.is_empty(),
        "after these kill points the fleet was not consistent:\n{}",
        failures.join("\n")
    );
}

const WHERE: [&str; 2] = ["intent", "after"];

#[tokio::test]
async fn a_deploy_killed_at_step_boundaries_leaves_one_release_matching_migrations_and_no_lock() {
    let db = tempfile::tempdir().unwrap();
    let stack_file = db.path().join("stack");
    std::fs::write(&stack_file, "").unwrap();
    let mut ssh = SshApp::new(SshOptions {
        hosts: 8,
        groups: vec![("web", 8, Some(3))],
        pipeline_extra: format!(
            r#"migrate = {{ up = "sh -c 'echo {{revision}} >> {0}'", down = "sh -c 'sed -i \"$ d\" {0}'", once = true }}"#,
            stack_file.display()
        ),
        ..SshOptions::default()
    });
    let config = ssh.app.config_path.clone();
    let hosts = ssh.fleet.names();

    let (said, clean) = run_bot(&config, &[], &["deploy demo to staging"]).await;
    assert!(
        clean && said.iter().any(|l| l.contains("is live on 8 hosts")),
        "{said:#?}"
    );
    let mut good = ssh.current(&hosts[0]).unwrap();
    let mut stack = vec![ssh.live_revision(&hosts[0]).unwrap()];
    let journal = Journal::open(&ssh.app.journal_path()).await.unwrap();
    let steps: BTreeMap<i64, String> = journal
        .steps(1)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.undo_of.is_none())
        .map(|s| (s.seq, s.label))
        .collect();

    // The first step of every kind, between its journal entries and its command: the moments
    // a timer cannot hit.
    let mut points: Vec<(i64, &str)> = Vec::new();
    let mut kinds_seen = Vec::new();
    for (&seq, label) in &steps {
        let kind = label.split([':', ' ']).next().unwrap_or(label).to_string();
        if !kinds_seen.contains(&kind) {
            kinds_seen.push(kind);
            points.extend(WHERE.iter().map(|w| (seq, *w)));
        }
    }
    assert!(kinds_seen.len() >= 5, "{kinds_seen:?}");

    let mut failures = Vec::new();
    for (round, (seq, at)) in points.iter().enumerate() {
        let sha = ssh
            .app
            .commit("Bob", &format!("Change for kill point {round}"));
        let point = format!("{seq}:{at}");
        let (_, finished) = run_bot(
            &config,
            &[("BOSUN_CRASH_AT", &point)],
            &["deploy demo to staging"],
        )
        .await;
        if finished {
            failures.push(format!(
                "{point} ({}): the bot was never killed",
                steps[seq]
            ));
            continue;
        }
        let (said, _) = run_bot(&config, &[], &["status"]).await;
        let told = said
            .iter()
            .any(|l| l.contains("I was restarted while deploy #"));
        // Killed in the clean-up of old releases, the deploy was live everywhere: recovery
        // keeps it (and finishes the clean-up). Killed anywhere before, it is undone.
        let killed = journal
            .history(Some("demo".into()), Some("staging".into()), 1)
            .await
            .unwrap()
            .remove(0);
        let in_cleanup = steps[seq].starts_with("keep ");
        let kept = killed.revision.as_deref() == Some(sha.as_str())
            && killed.state == DeployState::Succeeded;
        if kept && in_cleanup {
            good = killed.release.clone().unwrap();
            stack.push(sha.clone());
        }
        let settled = kept == in_cleanup;
        let currents: Vec<Option<String>> = hosts.iter().map(|h| ssh.current(h)).collect();
        let one_release = currents.iter().all(|c| c.as_deref() == Some(good.as_str()));
        let migrations = std::fs::read_to_string(&stack_file).unwrap();
        let migrations_match = migrations.lines().collect::<Vec<_>>() == stack;
        let hidden: Vec<String> = hosts
            .iter()
            .flat_map(|h| ssh.releases(h))
            .filter(|r| r.starts_with('.') || r.ends_with(".partial"))
            .collect();
        let locks = journal.locks().await.unwrap();
        let unfinished = journal.unfinished().await.unwrap();
        if !(told
            && settled
            && one_release
            && migrations_match
            && hidden.is_empty()
            && locks.is_empty()
            && unfinished.is_empty())
        {
            failures.push(format!(
                "{point} ({}): told={told} {:?} currents={currents:?} migrations={migrations:?} left={hidden:?} locks={} unfinished={}",
                steps[seq],
                killed.state,
                locks.len(),
                unfinished.len()
            ));
        }
    }
    println!("kill_points: {} failures: {}", points.len(), failures.len());
    assert!(
        failures.is_empty(),
        "after these kill points the fleet was not consistent:\n{}",
        failures.join("\n")
    );
}

/// A fleet whose app is big enough (2,000 files, 16 MB) that staging a small change by delta
/// (a copy of the live release, the changed files, a tree hash of the whole release) takes
/// real time on every host.
struct BigFleet {
    ssh: SshApp,
    tag: String,
    _marks: tempfile::TempDir,
}

impl BigFleet {
    fn start(hosts: usize) -> BigFleet {
        let marks = tempfile::tempdir().unwrap();
        let tag = marks.path().join("delta-step").display().to_string();
        let ssh = SshApp::new(SshOptions {
            hosts,
            groups: vec![("web", hosts, Some(2))],
            // Hard links: the way of staging that shares the live release's files.
            head: "delta_copy = \"link\"\n".into(),
            build: format!(r#"[["sh", "-c", "sleep 0.2; true", "{tag}"]]"#),
            ..SshOptions::default()
        });
        // Many entries, as a real app has: delta staging's cost is per entry (links, stats),
        // and its wave must last long enough to be killed inside.
        let chunk = "0123456789abcdef".repeat(64);
        let contents: Vec<(String, String)> = (0..5_000)
            .map(|i| {
                (
                    format!("assets/{:02}/file-{i}.txt", i % 50),
                    format!("{i}\n{chunk}"),
                )
            })
            .collect();
        let entries: Vec<bosun::source::testing::Entry<'_>> = contents
            .iter()
            .map(|(p, c)| bosun::source::testing::Entry::File(p, c))
            .collect();
        ssh.app
            .repo
            .commit_entries("Ann", "ann@example.org", "Assets", &entries);
        BigFleet {
            ssh,
            tag,
            _marks: marks,
        }
    }
}

/// The kind, mode, content and inode of every entry under `root`.
fn snapshot(root: &Path) -> BTreeMap<String, (u32, u64, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else if meta.is_dir() {
                stack.push(path.clone());
                Vec::new()
            } else {
                std::fs::read(&path).unwrap()
            };
            let name = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(name, (meta.mode(), meta.ino(), content));
        }
    }
    out
}

#[tokio::test]
async fn a_deploy_killed_inside_delta_staging_leaves_every_host_on_its_untouched_live_release() {
    const POINTS: usize = 12;
    let mut fleet = BigFleet::start(4);
    let config = fleet.ssh.app.config_path.clone();
    let hosts = fleet.ssh.fleet.names();
    let (said, clean) = run_bot(&config, &[], &["deploy demo to staging"]).await;
    assert!(
        clean && said.iter().any(|l| l.contains("is live on 4 hosts")),
        "{said:#?}"
    );
    // A clean delta deploy: where its staging wave lies in time.
    fleet.ssh.app.commit("Bob", "Measure the staging");
    let (said, clean) = run_bot(&config, &[], &["deploy demo to staging"]).await;
    assert!(
        clean && said.iter().any(|l| l.contains("staged: 4 delta, 0 full")),
        "{said:#?}"
    );
    let journal = Journal::open(&fleet.ssh.app.journal_path()).await.unwrap();
    let measured = journal.deploy(2).await.unwrap();
    let stages: Vec<_> = journal
        .steps(2)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.label == "stage")
        .collect();
    let from = stages.iter().map(|s| s.started_at).min().unwrap() - measured.started_at;
    let to = stages.iter().filter_map(|s| s.finished_at).max().unwrap() - measured.started_at;
    assert!(to - from >= 300, "delta staging took only {} ms", to - from);

    let (mut inside, mut failures) = (0, Vec::new());
    for k in 0..POINTS {
        let live = fleet.ssh.current(&hosts[0]).unwrap();
        let revision = fleet.ssh.live_revision(&hosts[0]).unwrap();
        let before: BTreeMap<String, _> = hosts
            .iter()
            .map(|h| {
                let dir = fleet.ssh.deploy_root(h).join("releases").join(&live);
                (h.clone(), snapshot(&dir))
            })
            .collect();
        fleet
            .ssh
            .app
            .commit("Bob", &format!("Delta kill round {k}"));
        // Spread over the staging wave, a little before it to a little after.
        let span = (to - from) as u64 + 400;
        let offset = Duration::from_millis(
            (from as u64).saturating_sub(200) + span * (2 * k as u64 + 1) / (2 * POINTS as u64),
        );
        let mut bot = BotProcess::start(&config, "alice");
        bot.say("deploy demo to staging").await;
        bot.expect("alice is deploying demo").await;
        tokio::time::sleep(offset).await; // allow-sleep: the kill point itself, not a wait for an event
        bot.child.kill().await.unwrap();
        drop(bot);
        let said = restart(&config).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_mentioning(&fleet.tag).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await; // allow-sleep: polling ps, with a deadline
        }
        let killed = journal
            .history(Some("demo".into()), Some("staging".into()), 1)
            .await
            .unwrap()
            .remove(0);
        let stage_steps: Vec<_> = journal
            .steps(killed.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.label == "stage" && s.undo_of.is_none())
            .collect();
        if !stage_steps.is_empty() && stage_steps.iter().any(|s| s.state != StepState::Done) {
            inside += 1;
        }
        let mut problems = Vec::new();
        let (now_live, now_revision) = match killed.state {
            DeployState::Succeeded => (
                killed.release.clone().unwrap(),
                killed.revision.clone().unwrap(),
            ),
            DeployState::Recovered => (live.clone(), revision.clone()),
            other => {
                problems.push(format!("deploy #{} ended {other:?}", killed.id));
                (live.clone(), revision.clone())
            }
        };
        if killed.state == DeployState::Recovered
            && !said
                .iter()
                .any(|(_, l)| l.contains("I was restarted while deploy #"))
        {
            problems.push("the room was not told".into());
        }
        for h in &hosts {
            if fleet.ssh.current(h).as_deref() != Some(now_live.as_str())
                || fleet.ssh.live_revision(h).as_deref() != Some(now_revision.as_str())
            {
                problems.push(format!("{h}: on {:?}", fleet.ssh.current(h)));
            }
            let dir = fleet.ssh.deploy_root(h).join("releases").join(&live);
            if snapshot(&dir) != before[h] {
                problems.push(format!("{h}: release {live} changed"));
            }
            let left: Vec<String> = std::fs::read_dir(fleet.ssh.deploy_root(h).join("releases"))
                .unwrap()
                .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .filter(|n| n.starts_with('.') || n.ends_with(".partial"))
                .collect();
            if !left.is_empty() {
                problems.push(format!("{h}: left {left:?}"));
            }
        }
        if !journal.locks().await.unwrap().is_empty()
            || !journal.unfinished().await.unwrap().is_empty()
        {
            problems.push("a lock or an unfinished deploy is left".into());
        }
        let left = processes_mentioning(&fleet.tag);
        if !left.is_empty() {
            problems.push(format!("processes left running: {left:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "round {k}, killed {offset:?} after the announcement ({:?}): {}",
                killed.state,
                problems.join("; ")
            ));
        }
    }
    println!(
        "kill_points_delta: {POINTS} inside delta staging: {inside} failures: {}",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "after these kill points the fleet was not consistent:\n{}",
        failures.join("\n")
    );
    assert!(
        inside >= POINTS / 2,
        "only {inside} kill points landed inside staging"
    );
}
