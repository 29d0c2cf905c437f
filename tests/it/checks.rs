//! Checks before a deploy, through the bot: tags only, the staging-then-live promotion, a freeze, and `deploy!` by someone who may force.

use crate::support::app::{AppOptions, DemoApp};
use crate::support::bot::ConsoleBot;

fn promoted_app() -> DemoApp {
    DemoApp::new(AppOptions {
        playbook_extra: r#"[environments.live]
default_ref = "main"
require = ["tag", "on-staging"]
on_staging = "staging"
hosts = ["l1"]

[hosts.l1]
root = "@ROOT@/hosts/l1"
"#
        .into(),
        ..AppOptions::default()
    })
}

#[tokio::test]
async fn live_takes_only_a_tag_that_staging_runs() {
    let app = promoted_app();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to live").await;
    bot.expect("cannot deploy demo to live: a check failed")
        .await;
    let tag = bot.expect("tag:").await;
    assert!(
        tag.contains("deploy demo/v1.0 to live"),
        "the fix names the newest tag: {tag}"
    );

    bot.say("deploy demo/v1.0 to live").await;
    bot.expect("a check failed").await;
    let promotion = bot.expect("on-staging:").await;
    assert!(
        promotion.contains("deploy it there first: deploy demo/"),
        "{promotion}"
    );

    bot.say("deploy demo/v1.0 to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.say("deploy demo/v1.0 to live").await;
    let done = bot.expect("is live on 1 host").await;
    assert!(done.contains("v1.0"), "{done}");
    bot.finish().await;
}

#[tokio::test]
async fn a_freeze_holds_deploys_and_only_someone_who_may_force_goes_past_it() {
    let mut app = promoted_app();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo/v1.0 to staging").await;
    bot.expect("is live on 2 hosts").await;
    bot.say("freeze staging for 1h quarter close").await;
    bot.expect("staging is frozen").await;
    app.commit("Bob", "During the freeze");
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("freeze:").await;
    assert!(
        refused.contains("quarter close") && refused.contains("alice"),
        "{refused}"
    );
    bot.say("deploy! demo to staging").await;
    bot.expect("alice may not force demo").await;
    bot.finish().await;

    let mut bot = ConsoleBot::start(app.config(), "carol");
    bot.say("deploy! demo to staging").await;
    let forced = bot.expect("carol is deploying demo").await;
    assert!(forced.contains("(forced)"), "{forced}");
    bot.expect("forced past the check freeze").await;
    bot.expect("is live on 2 hosts").await;
    bot.say("unfreeze staging").await;
    bot.expect("staging is unfrozen by carol").await;
    bot.finish().await;
}
