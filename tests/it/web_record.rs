//! The page's safety and the whole record, over plain HTTP: a configured token is required, the
//! page is read-only with a strict CSP, a configured secret printed by a step appears nowhere
//! (page, export, chat), and the export holds the chat messages and the files shipped.

use std::io::Read;

use crate::support::app::{AppOptions, DemoApp, journal_id_in};
use crate::support::bot::ConsoleBot;
use crate::web::web_section;

const TOKEN: &str = "page-token-5b1f0c";
const SECRET: &str = "db-pass-9d27e4a1";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every file of a tar.gz, by name.
fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            (name, body)
        })
        .collect()
}

#[tokio::test]
async fn a_token_guards_the_page_and_a_configured_secret_appears_nowhere() {
    let (web, base) = web_section("token_file = \"web-token\"");
    let mut app = DemoApp::new(AppOptions {
        hosts: vec!["h1"],
        config_extra: format!("{web}\n[redact]\nfiles = [\"db-secret\"]\n"),
        // Prints the secret, and fails once `fail-now` exists (paths from the release directory).
        build_extra: vec![r#"["sh", "-c", "echo connecting with $(cat ../../../../../../db-secret); test ! -e ../../../../../../fail-now"]"#.into()],
        ..AppOptions::default()
    });
    std::fs::write(app.path().join("web-token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(app.path().join("db-secret"), format!("{SECRET}\n")).unwrap();
    let mut bot = ConsoleBot::start(app.config(), "alice");
    bot.say("deploy demo to staging").await;
    let good = journal_id_in(&bot.expect("is live on 1 host").await);
    std::fs::write(app.path().join("fail-now"), "").unwrap();
    app.commit("Bob", "Break the build");
    bot.say("deploy demo to staging").await;
    let failed = bot.expect("failed on h1").await;
    let bad = journal_id_in(&bot.expect("failed —").await);
    let chat = bot.since("alice is deploying demo");
    assert!(
        chat.contains("[redacted]"),
        "the failing step's last lines reach the room: {chat}"
    );
    assert!(!chat.contains(SECRET), "{chat}");
    assert!(failed.contains("build"), "{failed}");
    bot.say("help export").await;
    let help = bot.expect("export JOURNAL_ID").await;
    let help = format!("{help}\n{}", bot.expect("chat.txt").await);
    assert!(
        help.contains("archive.tar"),
        "help export says what is inside: {help}"
    );
    bot.say(&format!("export #{good}")).await;
    let whence = bot.expect("The whole record of deploy").await;
    assert!(
        whence.contains(&format!("{base}/deploys/{good}/export")) && whence.contains("chat.txt"),
        "{whence}"
    );

    let http = client();
    // No token, a wrong one: refused.
    for request in [
        http.get(format!("{base}/")),
        http.get(format!("{base}/deploys/{good}")),
        http.get(format!("{base}/deploys/{good}/export")),
        http.get(format!("{base}/")).bearer_auth("wrong-token"),
        http.get(format!("{base}/history?token=wrong-token")),
    ] {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401, "{answer:?}");
        let body = answer.text().await.unwrap();
        assert!(!body.contains("alice"), "{body}");
    }
    // The token as a bearer, or once in the URL (then as the cookie it sets).
    let page = http
        .get(format!("{base}/deploys/{good}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("connecting with [redacted]"), "{html}");
    assert!(!html.contains(SECRET));
    assert!(!html.contains("<script>"), "no inline script");

    let redirect = http
        .get(format!("{base}/history?token={TOKEN}&app=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 303);
    assert_eq!(redirect.headers()["location"], "/history?app=demo");
    let cookie = redirect.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let history = http
        .get(format!("{base}/history?app=demo&outcome=undone"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains(&format!(">#{bad}<")), "{history}");
    assert!(
        !history.contains(&format!(">#{good}<")),
        "filtered by outcome: {history}"
    );

    // Read-only: nothing but GET.
    let post = http
        .post(format!("{base}/deploys/{good}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    let failed_page = http
        .get(format!("{base}/deploys/{bad}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(failed_page.contains("[redacted]") && !failed_page.contains(SECRET));

    // The download: the whole record, chat and files included, the secret nowhere.
    let export = http
        .get(format!("{base}/deploys/{good}/export"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let files = untar(&export.bytes().await.unwrap());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "README.txt",
        "plan.json",
        "steps.txt",
        "chat.txt",
        "files.txt",
        "archive.tar",
    ] {
        assert!(
            names.contains(&format!("deploy-{good}/{name}").as_str()),
            "{name} in {names:?}"
        );
    }
    let text = |name: &str| {
        let (_, body) = files.iter().find(|(n, _)| n.ends_with(name)).unwrap();
        String::from_utf8_lossy(body).into_owned()
    };
    let said = text("chat.txt");
    assert!(
        said.contains("alice is deploying demo") && said.contains("is live on 1 host"),
        "{said}"
    );
    assert!(text("steps.txt").contains("connecting with [redacted]"));
    assert!(text("files.txt").contains("index.html"));
    assert!(text("README.txt").contains("archive.tar"));
    let shipped = files
        .iter()
        .find(|(n, _)| n.ends_with("archive.tar"))
        .unwrap();
    let inner: Vec<String> = tar::Archive::new(&shipped.1[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(inner.iter().any(|p| p.ends_with("index.html")), "{inner:?}");
    for (name, body) in &files {
        assert!(
            !String::from_utf8_lossy(body).contains(SECRET),
            "{name} holds the secret"
        );
    }
    bot.finish().await;
}
