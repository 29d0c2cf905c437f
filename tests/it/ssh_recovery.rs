//! Recovery over SSH: a host whose sshd dies with its sessions mid-switch is brought back to the fleet's release when it returns, and a rollback killed during a 4 s migration down leaves the fleet and the database as they were.

use crate::support::bot::{ConsoleBot, PATIENCE};
use crate::support::process::{BotProcess, processes_mentioning, wait_for_file};
use crate::support::ssh_app::{SshApp, SshOptions};

#[tokio::test]
async fn a_host_whose_sshd_dies_mid_switch_is_brought_back_when_it_returns() {
    let marks = tempfile::tempdir().unwrap();
    let reached = marks.path().join("h4-restarting");
    let mut ssh = SshApp::new(SshOptions {
        hosts: 6,
        groups: vec![("app", 6, Some(2))],
        // h4's restart hangs in a release with a HANG file: its sshd is killed there.
        restart: format!(
            r#"sh -c 'if [ "$1" = h4 ] && [ -e HANG ]; then touch {}; sleep 30; fi; true' sh {{host}}"#,
            reached.display()
        ),
        config_extra: "[journal]\nreconcile_every = \"1s\"\n\n".into(),
        ..SshOptions::default()
    });
    let hosts = ssh.fleet.names();
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 6 hosts").await;
    let good = ssh.current("h1").unwrap();

    ssh.app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Hang on h4",
        &[("HANG", "1")],
    );
    bot.say("deploy demo to staging").await;
    wait_for_file(&reached).await;
    let new = ssh.current("h4").unwrap();
    assert_ne!(new, good);
    ssh.fleet.stop("h4"); // SIGKILL of sshd and every session it serves
    let outcome = bot.expect("could not be fully undone").await;
    assert!(outcome.contains("h4"), "{outcome}");
    for host in hosts.iter().filter(|h| *h != "h4") {
        assert_eq!(ssh.current(host).as_deref(), Some(good.as_str()), "{host}");
    }
    assert_eq!(ssh.current("h4").as_deref(), Some(new.as_str()));
    bot.say("status").await;
    let status = bot.expect("NEEDS A LOOK: #2").await;
    assert!(status.contains("repair staging"), "{status}");

    ssh.fleet.restart("h4");
    let fixed = bot.expect("finished undoing deploy #2").await;
    assert!(fixed.contains("I found that demo on staging"), "{fixed}");
    for host in &hosts {
        assert_eq!(ssh.current(host).as_deref(), Some(good.as_str()), "{host}");
        assert!(!ssh.releases(host).contains(&new), "{host} keeps no trace");
    }
    bot.say("status").await;
    bot.expect("nothing is running").await;
    let (_, said) = bot.finish().await;
    let last_status = said
        .iter()
        .rposition(|l| l.contains("nothing is running"))
        .unwrap();
    let from = said[..last_status]
        .iter()
        .rposition(|l| l.contains("demo on staging:"))
        .unwrap_or(0);
    assert!(
        !said[from..=last_status]
            .iter()
            .any(|l| l.starts_with("NEEDS A LOOK") || l.starts_with("drift")),
        "{said:#?}"
    );
}

#[tokio::test]
async fn a_rollback_killed_during_a_4_second_down_leaves_fleet_and_database_as_they_were() {
    let marks = tempfile::tempdir().unwrap();
    let stack = marks.path().join("stack");
    let down_started = marks.path().join("down-started");
    let tag = marks.path().join("migration").display().to_string();
    std::fs::write(&stack, "").unwrap();
    let ssh = SshApp::new(SshOptions {
        hosts: 3,
        groups: vec![("web", 3, None)],
        pipeline_extra: format!(
            r#"migrate = {{ up = ["sh", "-c", "echo \"$1\" >> \"$2\"", "{tag}", "{{revision}}", "{stack}"], down = ["sh", "-c", "touch \"$3\"; sleep 4; sed -i \"/^$1\\$/d\" \"$2\"", "{tag}", "{{revision}}", "{stack}", "{started}"], once = true }}"#,
            tag = tag,
            stack = stack.display(),
            started = down_started.display(),
        ),
        ..SshOptions::default()
    });
    let hosts = ssh.fleet.names();
    let mut bot = BotProcess::start(&ssh.app.config_path, "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 3 hosts").await;
    let first = ssh.app.history[2].clone();
    let mut app = ssh;
    let second = app.app.commit("Bob", "Second");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 3 hosts").await;
    let live = app.current("h1").unwrap();
    assert_eq!(
        std::fs::read_to_string(&stack).unwrap(),
        format!("{first}\n{second}\n")
    );

    bot.say("rollback demo in staging").await;
    wait_for_file(&down_started).await;
    bot.child.kill().await.unwrap(); // SIGKILL in the middle of the 4 s down

    let mut bot = BotProcess::start(&app.app.config_path, "alice");
    let told = bot.expect("I was restarted while rollback #3").await;
    assert!(told.contains("demo to staging by alice"), "{told}");
    drop(bot.stdin.take());
    let status = tokio::time::timeout(PATIENCE, bot.child.wait())
        .await
        .expect("the bot ends")
        .unwrap();
    assert!(status.success());
    for host in &hosts {
        assert_eq!(app.current(host).as_deref(), Some(live.as_str()), "{host}");
    }
    assert_eq!(
        std::fs::read_to_string(&stack).unwrap(),
        format!("{first}\n{second}\n"),
        "the stopped down changed nothing, and no up ran again"
    );
    assert!(
        processes_mentioning(&tag).is_empty(),
        "{:?}",
        processes_mentioning(&tag)
    );
    let journal = bosun::journal::Journal::open(&app.app.journal_path())
        .await
        .unwrap();
    assert!(journal.locks().await.unwrap().is_empty());
    assert!(journal.unfinished().await.unwrap().is_empty());
}
