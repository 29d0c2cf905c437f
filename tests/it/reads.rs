//! Reads are private: someone bosun does not know may ask for help and nothing else, a person with only `read` sees status, history and what would ship but deploys nothing.

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::ConsoleBot;

/// The demo app with dora, who may only read demo on staging.
fn app() -> DemoApp {
    DemoApp::new(AppOptions {
        config_extra: r#"[[people]]
name = "dora"
console = "dora"
roles = ["watcher"]

[roles.watcher]
read = ["demo:staging"]

"#
        .into(),
        ..AppOptions::default()
    })
}

#[tokio::test]
async fn an_unknown_sender_may_ask_for_help_only_and_a_reader_reads_but_deploys_nothing() {
    let mut app = app();
    let secret = "SECRET: fix the auth bypass before disclosure";
    app.commit("Eve", secret);
    let config = app.config();

    let mut mallory = ConsoleBot::start(config.clone(), "mallory");
    for line in [
        "status",
        "history demo",
        "diff demo",
        "where can I deploy demo",
    ] {
        mallory.say(line).await;
        let refusal = mallory.expect("I don't know who").await;
        assert_eq!(
            refusal,
            "I don't know who mallory is, so I can't let them read anything; ask an admin to add them to [[people]]",
            "{line}"
        );
    }
    mallory.say("help status").await;
    mallory.expect("status").await;
    let (_, said) = mallory.finish().await;
    let said = said.join("\n");
    assert!(!said.contains(secret), "{said}");
    assert!(!said.contains("demo on staging"), "{said}");

    let mut dora = ConsoleBot::start(config.clone(), "dora");
    dora.say("diff demo to staging").await;
    let diff = dora.expect("would ship").await;
    assert!(diff.starts_with("demo to staging would ship"), "{diff}");
    dora.expect(secret).await;
    dora.say("status").await;
    dora.expect("demo on staging").await;
    dora.say("history demo staging").await;
    dora.expect("demo").await;
    dora.say("deploy demo to staging").await;
    let refusal = dora.expect("may not").await;
    assert_eq!(refusal, "dora may not deploy demo");
    let (report, _) = dora.finish().await;
    assert_eq!(report.deploys_succeeded, 0);
    assert_eq!(report.refused, 1, "{report:?}");
    assert_eq!(report.deploys_undone + report.deploys_need_a_look, 0);
    assert_eq!(app.current("h1"), None);
}
