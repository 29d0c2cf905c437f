//! How fast the page's history answers with 10,000 deploys in the journal: the first page, a
//! filtered page and a page deep in the past, each asked 200 times over HTTP on loopback.
//!
//!     cargo bench --bench history
//!
//! Prints the median, the 95th percentile and the slowest answer per kind of page (reported in
//! BENCHMARKS.md). `DEPLOYS` and `RUNS` change the sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bosun::bot::Board;
use bosun::journal::Journal;
use bosun::live::LiveLogs;
use bosun::tracker::Tracker;
use bosun::web::Page;
use tokio_util::sync::CancellationToken;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A bosun.toml and playbook for two apps in two environments, and a journal of `n` deploys.
fn make(dir: &std::path::Path, n: usize) -> bosun::config::Config {
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(
        dir.join("bosun.toml"),
        "[bot]\nplaybooks = [\"playbooks/blog.toml\", \"playbooks/shop.toml\"]\n",
    )
    .unwrap();
    for app in ["blog", "shop"] {
        std::fs::write(
            dir.join(format!("playbooks/{app}.toml")),
            format!(
                "[app]\nname = \"{app}\"\nrepo = \"origin\"\ndeploy_to = \"/srv/{app}\"\n\n\
                 [environments.staging]\nhosts = [\"s1\"]\n\n[environments.live]\nhosts = [\"w1\", \"w2\"]\n"
            ),
        )
        .unwrap();
    }
    let config = bosun::config::load(&dir.join("bosun.toml")).expect("the bench config loads");
    let journal = Journal::open_blocking(&config.journal.path).unwrap();
    drop(journal);
    let mut conn = rusqlite::Connection::open(&config.journal.path).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let people = ["alice", "bob", "carol", "dave", "erin"];
        let states = ["succeeded", "succeeded", "succeeded", "undone", "failed"];
        let mut insert = tx
            .prepare(
                "INSERT INTO deploys (kind, app, env, reference, revision, tag, release, requested_by,
                   room, state, plan, summary, started_at, finished_at)
                 VALUES (?1, ?2, ?3, 'main', ?4, NULL, ?5, ?6, 'ops', ?7, '{}', 'done', ?8, ?9)",
            )
            .unwrap();
        let start = 1_780_000_000_000i64;
        for i in 0..n {
            let at = start + i as i64 * 60_000;
            insert
                .execute(rusqlite::params![
                    if i % 10 == 9 { "rollback" } else { "deploy" },
                    ["blog", "shop"][i % 2],
                    ["staging", "live"][(i / 2) % 2],
                    format!("{i:040x}"),
                    format!("20260601{i:06}-{:07x}", i),
                    people[i % people.len()],
                    states[i % states.len()],
                    at,
                    at + 45_000,
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let deploys = env_or("DEPLOYS", 10_000);
    let runs = env_or("RUNS", 200);
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(make(dir.path(), deploys));
    let journal = Journal::open(&config.journal.path).await.unwrap();
    let (_board_tx, board) = tokio::sync::watch::channel(Board::default());
    let stop = CancellationToken::new();
    let page = Page::new(
        config.clone(),
        journal,
        LiveLogs::default(),
        board,
        Arc::new(Tracker::from_config(&config.tracker).unwrap()),
        stop.clone(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(bosun::web::serve(listener, page, stop.clone()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    println!("history page, {deploys} deploys in the journal, {runs} requests each:");
    for (what, path) in [
        ("first page (50 rows)", "/history".to_string()),
        (
            "filtered: app, environment, person, outcome",
            "/history?app=blog&env=live&person=alice&outcome=succeeded".to_string(),
        ),
        (
            "deep page (before journal #100)",
            "/history?before=100".to_string(),
        ),
        ("environments page", "/".to_string()),
    ] {
        let url = format!("{base}{path}");
        // One warm-up request, not counted.
        let body = http.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(body.contains("</html>"), "{url} answers with a page");
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let answer = http.get(&url).send().await.unwrap();
            assert!(answer.status().is_success());
            let _ = answer.bytes().await.unwrap();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "  {what:<45} median {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3,
        );
    }
    stop.cancel();
    let _ = server.await;
}
