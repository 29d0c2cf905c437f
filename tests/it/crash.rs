//! The bot killed (SIGKILL) in the middle of a deploy, then started again: the unfinished deploy is undone and the room is told.

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::PATIENCE;
use crate::support::process::{BotProcess, wait_for_file};

#[tokio::test]
async fn a_deploy_killed_mid_switch_is_undone_on_restart_and_the_room_is_told() {
    let gate = tempfile::tempdir().unwrap();
    let reached = gate.path().join("h2-restarting");
    let release_hang = gate.path().join("release");
    let app = DemoApp::new(AppOptions {
        // h2's restart hangs (bounded) in any release that has a HANG file: the bot is killed there.
        restart: format!(
            r#"sh -c 'if [ "$1" = h2 ] && [ -e HANG ]; then touch "$2"; for i in $(seq 600); do [ -e "$3" ] && exit 0; sleep 0.1; done; fi' sh {{host}} {} {}"#,
            reached.display(),
            release_hang.display()
        ),
        batch: Some(1),
        ..AppOptions::default()
    });

    let mut bot = BotProcess::start(&app.config_path, "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    let good = app.current("h1").unwrap();

    app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Hang on restart",
        &[("HANG", "1")],
    );
    bot.say("deploy demo to staging").await;
    wait_for_file(&reached).await;
    // h1 is switched and healthy, h2 is switched and restarting: a half-switched fleet.
    let new = app.current("h2").unwrap();
    assert_ne!(new, good);
    assert_eq!(app.current("h1").as_deref(), Some(new.as_str()));
    bot.child.kill().await.unwrap(); // SIGKILL
    std::fs::write(&release_hang, "").unwrap(); // lets the orphaned restart end

    let mut bot = BotProcess::start(&app.config_path, "alice");
    let told = bot.expect("I was restarted while deploy #2").await;
    assert!(told.contains("demo to staging by alice"), "{told}");
    assert!(told.contains("staging is back on"), "{told}");
    for host in ["h1", "h2"] {
        assert_eq!(
            app.current(host).as_deref(),
            Some(good.as_str()),
            "{host} is back on the good release"
        );
        assert!(
            !app.releases(host).contains(&new),
            "{host}: the interrupted release is removed"
        );
    }
    bot.say("status").await;
    bot.expect("nothing is running").await;
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    drop(bot.stdin.take());
    let status = tokio::time::timeout(PATIENCE, bot.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "bosun exits 0 at the end of its input");
}
