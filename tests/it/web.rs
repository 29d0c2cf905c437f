//! The page in a real headless Chromium: a running deploy's output appears before its slow step
//! ends, history and one deploy's page read right, and a commit subject that is HTML stays text.

use std::time::Duration;

use fantoccini::Locator;

use crate::support::app::{AppOptions, DemoApp, journal_id_in};
use crate::support::bot::{ConsoleBot, PATIENCE};
use crate::support::browser::{Browser, free_port};

const XSS: &str = "<img src=x onerror=alert(1)>";

/// `[web]` on a free loopback port; returns the config text and the page's base URL.
pub fn web_section(extra: &str) -> (String, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    (
        format!("[web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n{extra}\n"),
        base,
    )
}

/// Waits (polling, with a deadline) until the page at `url` holds `needle`: what the bot says
/// is journaled a moment after it is said.
pub async fn wait_for_page(url: &str, needle: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let body = http.get(url).send().await.unwrap().text().await.unwrap();
        if body.contains(needle) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never showed {needle:?}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling the page for a journal write
    }
}

/// Opens the FIFO the slow step reads, which lets that step end.
async fn release_the_gate(fifo: std::path::PathBuf) {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut gate = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        gate.write_all(b"go\n").unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_page_streams_a_running_deploy_and_shows_history_and_the_record_as_text() {
    let browser = Browser::start().await;
    let (web, base) = web_section("");
    let mut app = DemoApp::new(AppOptions {
        hosts: vec!["h1"],
        config_extra: web,
        // The slow step: two lines, then it waits until the test opens the gate.
        build_extra: vec![r#"["sh", "-c", "echo live line one; echo live line two >&2; read go < {shared_path}/gate; echo after the gate"]"#.into()],
        ..AppOptions::default()
    });
    let shared = app.deploy_root("h1").join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let fifo = shared.join("gate");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    app.commit("Mallory", XSS);
    let client = &browser.client;

    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    let link = bot.expect(&format!("{base}/deploys/")).await;
    let id: i64 = link.trim().rsplit('/').next().unwrap().parse().unwrap();

    client
        .goto(&format!("{base}/deploys/{id}"))
        .await
        .expect("the deploy's page opens");
    let line = client
        .wait()
        .at_most(PATIENCE)
        .every(Duration::from_millis(50))
        .for_element(Locator::XPath(
            "//pre[@id='live']/div[contains(., 'live line two')]",
        ))
        .await
        .expect("the step's output appears while it runs");
    assert!(
        line.text().await.unwrap().contains("h1"),
        "lines name their host"
    );
    let live = client
        .find(Locator::Id("live"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(live.contains("live line one"), "{live}");
    assert!(
        !live.contains("after the gate"),
        "the step has not ended: it waits for the gate: {live}"
    );
    let shot = browser.screenshot("live-log").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);

    release_the_gate(fifo).await;
    let done = bot.expect("is live on 1 host").await;
    assert_eq!(journal_id_in(&done), id);
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#live[data-ended='true']"))
        .await
        .expect("the live log says the deploy ended");
    let streamed = client
        .find(Locator::Id("live"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        streamed.contains("after the gate"),
        "a line printed while the page was open arrived too: {streamed}"
    );

    // The whole record, read back from the journal.
    wait_for_page(&format!("{base}/deploys/{id}"), "is live on 1 host").await;
    client.goto(&format!("{base}/deploys/{id}")).await.unwrap();
    let subject = client
        .find(Locator::XPath(
            "//table[@id='changesets']//td[@class='subject'][contains(., 'onerror')]",
        ))
        .await
        .expect("the hostile subject is listed")
        .text()
        .await
        .unwrap();
    assert_eq!(subject, XSS, "it shows as the text it is");
    assert!(
        client
            .find_all(Locator::Css("img"))
            .await
            .unwrap()
            .is_empty(),
        "no element was made from it"
    );
    assert!(
        client.get_alert_text().await.is_err(),
        "nothing ran: no alert is open"
    );
    let steps = client
        .find(Locator::Id("steps"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in ["after the gate", "live line two", "switch to", "done"] {
        assert!(steps.contains(expected), "{expected:?} in {steps}");
    }
    let chat = client
        .find(Locator::Id("chat"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chat.contains("alice is deploying demo"), "{chat}");
    assert!(chat.contains("is live on 1 host"), "{chat}");
    browser.screenshot("deploy").await;

    client.goto(&format!("{base}/history")).await.unwrap();
    let row = client
        .find(Locator::XPath(&format!(
            "//table[@id='history']//a[.='#{id}']/../.."
        )))
        .await
        .expect("the deploy is in the history")
        .text()
        .await
        .unwrap();
    assert!(row.contains("alice") && row.contains("succeeded"), "{row}");
    browser.screenshot("history").await;

    client.goto(&format!("{base}/")).await.unwrap();
    let live_where = client
        .find(Locator::Id("live-where"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        live_where.contains("staging") && live_where.contains(&format!("#{id}")),
        "{live_where}"
    );
    browser.close().await;
    bot.finish().await;
}
