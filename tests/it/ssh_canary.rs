//! Canary deploys over SSH: one host switches first, then `continue` takes the rest, or `!rollback` undoes it everywhere.

use crate::support::bot::ConsoleBot;
use crate::support::ssh_app::{SshApp, SshOptions};

fn fleet() -> SshApp {
    SshApp::new(SshOptions {
        hosts: 4,
        groups: vec![("edge", 1, None), ("app", 3, Some(2))],
        ..SshOptions::default()
    })
}

#[tokio::test]
async fn a_canary_over_ssh_then_continue_then_a_canary_then_rollback() {
    let mut ssh = fleet();
    let hosts = ssh.fleet.names();
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 4 hosts").await;
    let first = ssh.current(&hosts[0]).unwrap();

    // Canary, then continue.
    ssh.app.commit("Bob", "Second");
    bot.say("deploy demo to staging canary").await;
    bot.expect(&format!("the canary {} is switched and healthy", hosts[0]))
        .await;
    let second = ssh.current(&hosts[0]).unwrap();
    assert_ne!(second, first);
    for h in &hosts[1..] {
        assert_eq!(
            ssh.current(h).as_deref(),
            Some(first.as_str()),
            "{h} waits for continue"
        );
    }
    bot.say("continue").await;
    bot.expect("is live on 4 hosts").await;
    for h in &hosts {
        assert_eq!(ssh.current(h).as_deref(), Some(second.as_str()), "{h}");
    }

    // Canary, then rollback: the canary goes back and the staged release is removed everywhere.
    ssh.app.commit("Bob", "Third");
    bot.say("deploy demo to staging canary").await;
    bot.expect("is switched and healthy").await;
    let third = ssh.current(&hosts[0]).unwrap();
    bot.say("!rollback").await;
    let undone = bot.expect("failed —").await;
    assert!(undone.contains("rolled back by alice"), "{undone}");
    for h in &hosts {
        assert_eq!(ssh.current(h).as_deref(), Some(second.as_str()), "{h}");
        assert!(
            !ssh.releases(h).contains(&third),
            "{h}: the canary's release is gone"
        );
    }
    bot.finish().await;
    for h in &hosts {
        assert_eq!(
            ssh.fleet.logins(h),
            1,
            "{h}: one connection served every command"
        );
    }
}
