//! The tracker against a real Trac 1.6 and against small stand-ins: ticket details in one
//! request, the changeset log with its authors, logging in, and every way a tracker can fail.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bosun::config::{Secret, TrackerSection};
use bosun::tracker::{Ticket, TicketLookup, Tracker, TrackerError, ticket_refs};
use tempfile::TempDir;

use crate::support::standin::StandIn;
use crate::support::trac::{Trac, TracOptions};

const BOB: (&str, &str) = ("Bob Builder", "bob@example.test");
const CAROL: (&str, &str) = ("Carol Coder", "carol@example.test");
const ALICE: (&str, &str) = ("Alice Admin", "alice@example.test");

#[tokio::test]
async fn trac_names_tickets_in_one_request_logs_authors_and_is_missed_when_down() {
    let repo = Repo::new();
    let old = repo.commit(ALICE, "Initial import");
    let c1 = repo.commit(BOB, "Fix feed pagination, refs #1");
    let c2 = repo.commit(CAROL, "Speed up tag pages\n\nfixes #2 (and see #1).");
    let c3 = repo.commit(BOB, "Bump version");
    let mut trac = Trac::start(repo.path(), TracOptions::default());
    let ids = trac.create_tickets(&[
        ("Feed skips page 2, \"sometimes\"", "new", ""),
        ("Tag pages are slow", "closed", "fixed"),
    ]);
    assert_eq!(ids, [1, 2]);
    let tracker = trac_tracker(&trac.url(), None, None, Duration::from_secs(10));

    // The tickets the three commits name, plus one that does not exist.
    let mut refs: Vec<u32> = [
        "Fix feed pagination, refs #1",
        "fixes #2 (and see #1).",
        "Bump version",
    ]
    .iter()
    .flat_map(|m| ticket_refs(m))
    .collect();
    assert_eq!(refs, [1, 2, 1]);
    refs.push(999);

    let before = trac.requests().len();
    let lookup = tracker.lookup(&refs).await;
    let requests = trac.requests()[before..].to_vec();
    assert_eq!(
        lookup,
        TicketLookup {
            tickets: [
                ticket(&trac, 1, "Feed skips page 2, \"sometimes\"", "new", ""),
                ticket(&trac, 2, "Tag pages are slow", "closed", "fixed"),
            ]
            .into_iter()
            .map(|t| (t.id, t))
            .collect(),
            unavailable: None,
        }
    );
    assert_eq!(
        requests.len(),
        1,
        "one request for all tickets: {requests:#?}"
    );
    assert!(
        requests[0].starts_with("GET /query?format=csv&id=1%2C2%2C999&")
            && requests[0].ends_with(" 200"),
        "the id list is comma-separated: {requests:#?}"
    );

    // The log between two revisions: newest first, OLD itself left out, authors not committers.
    let log = tracker.log(&c3, &old).await.expect("log");
    let got: Vec<(String, &str, &str)> = log
        .iter()
        .map(|c| (c.sha.clone(), c.author.as_str(), c.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                c3[..7].to_string(),
                "Bob Builder <bob@example.test>",
                "Bump version"
            ),
            (
                c2[..7].to_string(),
                "Carol Coder <carol@example.test>",
                "Speed up tag pages\n\nfixes #2 (and see #1)."
            ),
            (
                c1[..7].to_string(),
                "Bob Builder <bob@example.test>",
                "Fix feed pagination, refs #1"
            ),
        ]
    );
    assert!(log.iter().all(|c| !c.author.contains("Release Robot")));
    let partial = tracker.log(&c2, &c1).await.expect("log of one changeset");
    assert_eq!(partial.len(), 1);
    assert!(partial[0].is_revision(&c2));

    // The room is told when Trac is gone.
    trac.stop();
    let error = tracker.tickets(&[1]).await.unwrap_err();
    assert!(
        matches!(error, TrackerError::Unreachable { .. }),
        "{error:?}"
    );
    let lookup = tracker.lookup(&[1]).await;
    assert!(lookup.tickets.is_empty());
    assert_eq!(
        lookup.unavailable,
        Some(format!(
            "could not reach the tracker at 127.0.0.1:{}",
            trac.port()
        ))
    );
}

#[tokio::test]
async fn trac_behind_a_login_keeps_its_cookie_and_refuses_a_wrong_password() {
    let repo = Repo::new();
    let old = repo.commit(ALICE, "Initial import");
    repo.commit(BOB, "Deploy api v1.2, refs #1");
    let new = repo.commit_empty(CAROL, "Retrigger the build\n\n* no change at all");
    let trac = Trac::start(
        repo.path(),
        TracOptions {
            basic_auth: Some(("deploybot".into(), "s3cret".into())),
            anonymous: false,
        },
    );
    assert_eq!(
        trac.create_ticket("Deploy api v1.2 to staging", "assigned", ""),
        1
    );
    let secrets = tempfile::tempdir().expect("temp dir");
    let secret = |name: &str, value: &str| {
        let path = secrets.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("write password file");
        Secret::File(path)
    };
    let timeout = Duration::from_secs(10);

    // Anonymous really is locked out.
    let anonymous = trac_tracker(&trac.url(), None, None, timeout);
    let error = anonymous.tickets(&[1]).await.unwrap_err();
    assert!(
        matches!(error, TrackerError::Status { code: 403 }),
        "{error:?}"
    );

    // Logged in: /login once, then the query; the cookie serves the next look-ups.
    let tracker = trac_tracker(
        &trac.url(),
        Some("deploybot"),
        Some(secret("good", "s3cret")),
        timeout,
    );
    let before = trac.requests().len();
    let lookup = tracker.lookup(&[1]).await;
    assert_eq!(lookup.unavailable, None);
    assert_eq!(lookup.tickets[&1].summary, "Deploy api v1.2 to staging");
    assert_eq!(lookup.tickets[&1].status, "assigned");
    assert_eq!(
        methods_and_paths(&trac.requests()[before..]),
        ["GET /login 302", "GET /query 200"]
    );

    let before = trac.requests().len();
    assert_eq!(tracker.lookup(&[1]).await.tickets.len(), 1);
    let log = tracker.log(&new, &old).await.expect("log, logged in");
    let got: Vec<(&str, &str)> = log
        .iter()
        .map(|c| (c.author_name(), c.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("Carol Coder", "Retrigger the build\n\n* no change at all"),
            ("Bob Builder", "Deploy api v1.2, refs #1")
        ]
    );
    assert_eq!(
        methods_and_paths(&trac.requests()[before..]),
        ["GET /query 200", "GET /log/ 200"]
    );

    // Trac forgets logins after a while: refused once, bosun logs in again.
    trac.forget_logins();
    let before = trac.requests().len();
    assert_eq!(tracker.lookup(&[1]).await.tickets.len(), 1);
    assert_eq!(
        methods_and_paths(&trac.requests()[before..]),
        ["GET /query 403", "GET /login 302", "GET /query 200"]
    );

    // A wrong password: refused, said plainly, nothing secret in it.
    let wrong = trac_tracker(
        &trac.url(),
        Some("deploybot"),
        Some(secret("wrong", "hunter2")),
        timeout,
    );
    let error = wrong.tickets(&[1]).await.unwrap_err();
    assert!(
        matches!(&error, TrackerError::LoginRefused { user } if user == "deploybot"),
        "{error:?}"
    );
    let lookup = wrong.lookup(&[1]).await;
    assert!(lookup.tickets.is_empty());
    assert_eq!(
        lookup.unavailable.as_deref(),
        Some("Trac refused the login for \"deploybot\"")
    );
    assert_eq!(
        lookup.notice().as_deref(),
        Some("ticket details unavailable: Trac refused the login for \"deploybot\"")
    );

    // A password that cannot be read is reported by where it should have been.
    let missing = secrets.path().join("absent");
    let unreadable = trac_tracker(
        &trac.url(),
        Some("deploybot"),
        Some(Secret::File(missing.clone())),
        timeout,
    );
    let why = unreadable
        .lookup(&[1])
        .await
        .unavailable
        .expect("unavailable");
    assert!(
        why.starts_with(&format!(
            "the tracker password could not be read: {}",
            missing.display()
        )),
        "{why}"
    );
}

#[tokio::test]
async fn a_tracker_answering_500_is_reported_by_its_status_alone() {
    let body = "<html><body><h1>Oops</h1><pre>Traceback: password=hunter2</pre></body></html>";
    let server = StandIn::answering(format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    let tracker = trac_tracker(&server.url(), None, None, Duration::from_secs(10));
    let error = tracker.tickets(&[1, 2]).await.unwrap_err();
    assert!(
        matches!(error, TrackerError::Status { code: 500 }),
        "{error:?}"
    );
    let lookup = tracker.lookup(&[1, 2]).await;
    assert_eq!(lookup.unavailable.as_deref(), Some("Trac answered 500"));
    assert_eq!(
        lookup.notice().as_deref(),
        Some("ticket details unavailable: Trac answered 500")
    );
}

#[tokio::test]
async fn a_tracker_that_never_answers_costs_only_the_timeout() {
    let server = StandIn::silent().await;
    let timeout = Duration::from_millis(400);
    let tracker = trac_tracker(&server.url(), None, None, timeout);

    let started = Instant::now();
    let lookup = tracker.lookup(&[1]).await;
    let took = started.elapsed();
    assert_eq!(
        lookup.unavailable.as_deref(),
        Some("the tracker did not answer within 400ms")
    );
    assert!(took >= timeout, "gave up early: {took:?}");
    assert!(
        took < timeout + Duration::from_millis(1500),
        "took {took:?}"
    );
    assert!(server.connections() >= 1, "the stand-in was never asked");

    let started = Instant::now();
    let error = tracker.log("b", "a").await.unwrap_err();
    assert!(matches!(error, TrackerError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < timeout + Duration::from_millis(1500));

    // Logging in counts against the same deadline.
    let secrets = tempfile::tempdir().expect("temp dir");
    std::fs::write(secrets.path().join("pw"), "s3cret\n").expect("write password file");
    let password = Secret::File(secrets.path().join("pw"));
    let login = trac_tracker(&server.url(), Some("deploybot"), Some(password), timeout);
    let started = Instant::now();
    assert_eq!(
        login.lookup(&[1]).await.unavailable.as_deref(),
        Some("the tracker did not answer within 400ms")
    );
    assert!(started.elapsed() < timeout + Duration::from_millis(1500));
}

#[tokio::test]
async fn a_tracker_answering_garbage_is_unparseable() {
    let body = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body>hi</body></html>\n";
    let server = StandIn::answering(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    let tracker = trac_tracker(&server.url(), None, None, Duration::from_secs(10));
    let error = tracker.tickets(&[1]).await.unwrap_err();
    assert!(
        matches!(
            error,
            TrackerError::Unparseable {
                what: "ticket list"
            }
        ),
        "{error:?}"
    );
    let error = tracker.log("b", "a").await.unwrap_err();
    assert!(
        matches!(error, TrackerError::Unparseable { what: "changelog" }),
        "{error:?}"
    );
    assert_eq!(
        tracker.lookup(&[1]).await.unavailable.as_deref(),
        Some("Trac's answer was not a readable ticket list")
    );
}

fn trac_tracker(
    url: &str,
    user: Option<&str>,
    password: Option<Secret>,
    timeout: Duration,
) -> Tracker {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Tracker::from_config(&TrackerSection::Trac {
        url: url.to_string(),
        user: user.map(str::to_string),
        password,
        timeout,
    })
    .expect("tracker from config")
}

fn ticket(trac: &Trac, id: u32, summary: &str, status: &str, resolution: &str) -> Ticket {
    Ticket {
        id,
        summary: summary.into(),
        status: status.into(),
        resolution: resolution.into(),
        url: Some(format!("{}/ticket/{id}", trac.url())),
    }
}

/// `GET /query?x 200` → `GET /query 200`.
fn methods_and_paths(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            let mut words = r.split(' ');
            let (method, target, status) = (words.next(), words.next(), words.next());
            let path = target.unwrap_or("").split('?').next().unwrap_or("");
            format!("{} {path} {}", method.unwrap_or(""), status.unwrap_or(""))
        })
        .collect()
}

/// A git repository made with the `git` command: commits by any author, all committed by the
/// same release robot a minute apart, so that authors and committers differ.
struct Repo {
    dir: TempDir,
    commits: std::cell::Cell<u32>,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repo {
            dir,
            commits: std::cell::Cell::new(0),
        };
        repo.git(&["init", "-q", "-b", "main"], ALICE);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Commits a change to `app.txt` by `author` and returns the full sha.
    fn commit(&self, author: (&str, &str), message: &str) -> String {
        let n = self.commits.get() + 1;
        self.commits.set(n);
        std::fs::write(self.path().join("app.txt"), format!("version {n}\n"))
            .expect("write app.txt");
        self.git(&["add", "app.txt"], author);
        self.git(&["commit", "-q", "-m", message], author);
        self.git(&["rev-parse", "HEAD"], author).trim().to_string()
    }

    /// Commits no change at all (Trac lists no files for it).
    fn commit_empty(&self, author: (&str, &str), message: &str) -> String {
        self.commits.set(self.commits.get() + 1);
        self.git(&["commit", "-q", "--allow-empty", "-m", message], author);
        self.git(&["rev-parse", "HEAD"], author).trim().to_string()
    }

    fn git(&self, args: &[&str], (name, email): (&str, &str)) -> String {
        let date = format!("{} +0000", 1_700_000_000 + 60 * self.commits.get());
        let output = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_NAME", "Release Robot")
            .env("GIT_COMMITTER_EMAIL", "robot@example.test")
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 from git")
    }
}
