//! `releases` and `rollback … to` across releases that migrated: the later releases' downs run
//! newest first, and every host ends on the chosen release (read from the hosts themselves).

use std::path::Path;

use crate::support::app::{AppOptions, DemoApp, release_in};
use crate::support::bot::ConsoleBot;

fn migrations(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn rollback_to_a_kept_release_runs_the_later_downs_newest_first_on_every_host() {
    let db = tempfile::tempdir().unwrap();
    let log = db.path().join("migrations");
    let mut app = DemoApp::new(AppOptions {
        pipeline_extra: format!(
            r#"migrate = {{ up = "sh -c 'echo up {{release}} >> {log}'", down = "sh -c 'echo down {{release}} >> {log}'", once = true }}"#,
            log = log.display()
        ),
        ..AppOptions::default()
    });
    let mut bot = ConsoleBot::start(app.config(), "alice");
    let mut releases = Vec::new();
    let mut revisions = Vec::new();
    for change in ["", "Add a column", "Add an index"] {
        if !change.is_empty() {
            app.commit("Bob", change);
        }
        bot.say("deploy demo to staging").await;
        bot.expect("is live on 2 hosts").await;
        releases.push(release_in(&bot.since("alice is deploying demo")));
        revisions.push(app.live_revision("h1").unwrap());
    }
    let (r1, r2, r3) = (&releases[0], &releases[1], &releases[2]);
    assert_eq!(
        migrations(&log),
        [format!("up {r1}"), format!("up {r2}"), format!("up {r3}")]
    );

    bot.say("releases demo in staging").await;
    let header = bot
        .expect("demo on staging keeps 3 releases on 2 hosts")
        .await;
    let listed = [
        bot.expect(&format!("• {r3}")).await,
        bot.expect(&format!("• {r2}")).await,
        bot.expect(&format!("• {r1}")).await,
    ];
    assert!(header.contains("newest first"), "{header}");
    assert!(
        listed[0].contains("LIVE") && listed[0].contains("by alice"),
        "{listed:?}"
    );
    for line in &listed {
        assert!(line.contains("migrated: migrate up"), "{line}");
    }
    assert!(listed[2].contains(&revisions[0][..7]), "{listed:?}");

    bot.say(&format!("rollback demo in staging to {r1}")).await;
    let announced = bot.expect("alice is rolling demo on staging back to").await;
    assert!(announced.contains(&revisions[0][..7]), "{announced}");
    bot.expect("this rollback migrates down first").await;
    bot.expect("demo is back on").await;
    assert_eq!(
        migrations(&log)[3..],
        [format!("down {r3}"), format!("down {r2}")],
        "the later releases' downs ran, newest first"
    );
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_ref(), Some(r1), "{host}");
        assert_eq!(
            app.live_revision(host).as_ref(),
            Some(&revisions[0]),
            "{host}"
        );
    }

    // Forward again to r3 by its commit: the migrations on the way (r2's first) were run down,
    // so that is refused with the reason, and nothing moves.
    bot.say(&format!(
        "rollback demo in staging to {}",
        &revisions[2][..10]
    ))
    .await;
    let refused = bot.expect("has been migrated down since").await;
    assert!(refused.contains(&format!("release {r2} ran")), "{refused}");
    // A ref no kept release holds.
    bot.say("rollback demo in staging to nosuchbranch").await;
    bot.expect("cannot roll back demo in staging to nosuchbranch")
        .await;
    let (report, _) = bot.finish().await;
    assert_eq!(report.refused, 1, "{report:?}");
    assert_eq!(report.invalid, 1, "{report:?}");
    for host in ["h1", "h2"] {
        assert_eq!(app.current(host).as_ref(), Some(r1), "{host}");
    }
    assert_eq!(migrations(&log).len(), 5);
}
