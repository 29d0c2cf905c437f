//! The kill test: a deploy to 8 SSH hosts killed (SIGKILL) at every step boundary and in the middle of steps; after each restart the fleet is on one release, migrations match it, no lock is left, and the room was told.

use std::collections::BTreeMap;
use std::path::Path;

use bosun::journal::Journal;

use crate::support::bot::PATIENCE;
use crate::support::process::BotProcess;
use crate::support::ssh_app::{SshApp, SshOptions};

const WHERE: [&str; 4] = ["before", "intent", "during", "after"];

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
    let mut said = bot.transcript.clone();
    while let Ok(line) = bot.lines.try_recv() {
        said.push(line);
    }
    (said, status.success())
}

#[tokio::test]
async fn a_deploy_killed_at_every_step_leaves_one_release_matching_migrations_and_no_lock() {
    let db = tempfile::tempdir().unwrap();
    let stack = db.path().join("stack");
    std::fs::write(&stack, "").unwrap();
    let mut ssh = SshApp::new(SshOptions {
        hosts: 8,
        groups: vec![("web", 8, Some(3))],
        pipeline_extra: format!(
            r#"migrate = {{ up = "sh -c 'echo {{revision}} >> {0}'", down = "sh -c 'sed -i \"$ d\" {0}'", once = true }}"#,
            stack.display()
        ),
        ..SshOptions::default()
    });
    let config = ssh.app.config_path.clone();
    let hosts = ssh.fleet.names();

    // One clean deploy: the fleet's release, and the journal's step list to choose kill points from.
    let (said, clean) = run_bot(&config, &[], &["deploy demo to staging"]).await;
    assert!(
        clean && said.iter().any(|l| l.contains("is live on 8 hosts")),
        "{said:#?}"
    );
    let good = ssh.current(&hosts[0]).unwrap();
    let good_revision = ssh.live_revision(&hosts[0]).unwrap();
    let journal = Journal::open(&ssh.app.journal_path()).await.unwrap();
    let steps: BTreeMap<i64, String> = journal
        .steps(1)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.undo_of.is_none())
        .map(|s| (s.seq, s.label))
        .collect();
    assert!(steps.len() >= 40, "{steps:?}");

    // Every step, at a position that turns with its number.
    let mut points: Vec<(i64, &str)> = steps
        .keys()
        .map(|&seq| (seq, WHERE[seq as usize % 4]))
        .collect();
    let mut kinds_seen = Vec::new();
    for (&seq, label) in &steps {
        let kind = label
            .split(':')
            .next()
            .unwrap_or(label)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        // The steps whose crash matters most get all four positions: unpacking, migrating,
        // switching.
        if ["stage", "migrate", "switch"].contains(&kind.as_str()) && !kinds_seen.contains(&kind) {
            kinds_seen.push(kind);
            points.extend(
                WHERE
                    .iter()
                    .filter(|w| **w != WHERE[seq as usize % 4])
                    .map(|w| (seq, *w)),
            );
        }
    }
    points.sort();
    points.dedup();
    assert!(points.len() >= 50, "only {} kill points", points.len());

    let mut failures = Vec::new();
    for (round, (seq, at)) in points.iter().enumerate() {
        ssh.app
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
        let currents: Vec<Option<String>> = hosts.iter().map(|h| ssh.current(h)).collect();
        let one_release = currents.iter().all(|c| c.as_deref() == Some(good.as_str()));
        let migrations = std::fs::read_to_string(&stack).unwrap();
        let migrations_match = migrations.lines().collect::<Vec<_>>() == [good_revision.as_str()];
        let locks = journal.locks().await.unwrap();
        let unfinished = journal.unfinished().await.unwrap();
        if !(told && one_release && migrations_match && locks.is_empty() && unfinished.is_empty()) {
            failures.push(format!(
                "{point} ({}): told={told} currents={currents:?} migrations={migrations:?} locks={} unfinished={}",
                steps[seq],
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
