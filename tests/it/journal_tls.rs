//! The journal on PostgreSQL over TLS (`[journal] tls = "require"`, `ca_file`), against a real
//! server that accepts TLS only: it works and the connections are encrypted, a CA that did not
//! sign the server's certificate is refused, and a server without TLS is refused rather than
//! spoken to in plain text.

use std::path::Path;

use bosun::journal::{DeployKind, Journal, JournalError, Location, NewDeploy};

use crate::journal_pg::bosun;
use crate::support::app::{AppOptions, DemoApp};
use crate::support::postgres::{self, PASSWORD, PgDatabase, ROLE};

const PASSWORD_ENV: &str = "BOSUN_TEST_JOURNAL_PW";

fn new_deploy(env: &str) -> NewDeploy {
    NewDeploy {
        kind: DeployKind::Deploy,
        app: "demo".into(),
        env: env.into(),
        reference: None,
        revision: None,
        tag: None,
        release: None,
        previous_release: None,
        previous_revision: None,
        requested_by: "alice".into(),
        room: "ops".into(),
        plan: "{}".into(),
    }
}

/// What the server says of the test role's connections to `db`: `ssl|version` for each.
async fn connections(db: &PgDatabase) -> Vec<String> {
    let sql = format!(
        "SELECT s.ssl || '|' || coalesce(s.version, '') FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{}' AND a.usename = '{ROLE}'",
        db.name
    );
    postgres::superuser_query(db.port, &sql)
        .await
        .lines()
        .map(str::to_string)
        .collect()
}

async fn connect_fails(location: Location) -> String {
    match Journal::connect(&location).await {
        Ok(_) => panic!("the journal connected with {location:?}"),
        Err(e @ JournalError::Settings(_)) => e.to_string(),
        Err(e) => panic!("a settings error was expected: {e:?}"),
    }
}

/// Appends a `[journal]` table to the app's config; copies `ca` beside it as `db-ca.pem`, which
/// `ca_file` names relative to the config.
fn configure(app: &DemoApp, db: &PgDatabase, ca: &Path) -> String {
    std::fs::copy(ca, app.path().join("db-ca.pem")).unwrap();
    let mut text = std::fs::read_to_string(&app.config_path).unwrap();
    text.push_str(&format!(
        "\n[journal]\nurl = \"{}\"\npassword_env = \"{PASSWORD_ENV}\"\ntls = \"require\"\nca_file = \"db-ca.pem\"\n",
        db.url()
    ));
    std::fs::write(&app.config_path, text).unwrap();
    app.config_path.to_str().unwrap().to_string()
}

async fn run(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bosun(&args, &[(PASSWORD_ENV, PASSWORD)])
    })
    .await
    .unwrap()
}

fn check(config: &str) -> Vec<String> {
    vec!["check".into(), "--config".into(), config.into()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_with_tls_required_and_the_servers_ca_works_over_tls() {
    let db = postgres::tls_database().await;
    let ca = db.tls_files().ca.clone();

    // The server turns away connections without TLS: whatever connects below used it.
    let plain = connect_fails(db.location()).await;
    assert!(
        plain.contains("[journal] tls / ca_file") && plain.contains("no encryption"),
        "{plain}"
    );

    let journal = Journal::connect(&Location::Postgres(db.tls_settings(&ca)))
        .await
        .expect("the journal connects over TLS, trusting the test CA");
    let id = journal.begin(new_deploy("staging")).await.unwrap().unwrap();
    assert_eq!(journal.deploy(id).await.unwrap().env, "staging");
    assert!(
        journal
            .lock("production".into(), "bob".into(), "tls".into())
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(journal.locks().await.unwrap().len(), 2);
    assert_eq!(journal.history(None, None, 10).await.unwrap().len(), 1);

    // The journal's pooled connection is still open: the server says it is encrypted.
    let seen = connections(&db).await;
    assert!(!seen.is_empty(), "the journal keeps a connection open");
    for connection in &seen {
        assert!(connection.starts_with("true|TLS"), "{seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_configured_with_tls_and_ca_file_checks_and_deploys_over_tls() {
    let db = postgres::tls_database().await;
    let app = DemoApp::new(AppOptions::default());
    let config = configure(&app, &db, &db.tls_files().ca);

    let (ok, out, err) = run(check(&config)).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("PostgreSQL, empty") && out.contains(&db.url()),
        "{out}"
    );

    let deploy = [
        "deploy", "demo", "--to", "staging", "--config", &config, "--as", "alice",
    ];
    let (ok, out, err) = run(deploy.iter().map(|a| a.to_string()).collect()).await;
    assert!(ok && out.contains("Journal #1"), "{out}{err}");

    let journal = Journal::connect(&Location::Postgres(db.tls_settings(&db.tls_files().ca)))
        .await
        .unwrap();
    let history = journal.history(None, None, 10).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].env, "staging");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_that_did_not_sign_the_servers_certificate_is_refused_naming_tls_and_ca_file() {
    let db = postgres::tls_database().await;
    let stranger = db.tls_files().stranger_ca.clone();

    let e = connect_fails(Location::Postgres(db.tls_settings(&stranger))).await;
    assert!(
        e.contains("[journal] tls / ca_file")
            && e.contains("TLS")
            && e.contains("certificate")
            && e.contains("UnknownIssuer")
            && e.contains("signed by no CA trusted here"),
        "{e}"
    );
    assert!(
        connections(&db).await.is_empty(),
        "nothing got through to the database"
    );

    let app = DemoApp::new(AppOptions::default());
    let config = configure(&app, &db, &stranger);
    let (ok, out, err) = run(check(&config)).await;
    assert!(!ok, "the check fails: {out}");
    assert!(
        err.contains("the journal cannot be used")
            && err.contains("[journal] tls / ca_file")
            && err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_of_a_server_without_tls_fails_instead_of_going_on_in_plain_text() {
    let db = postgres::database().await;
    assert!(postgres::server().await.tls.is_none());
    let ca = postgres::tls_server()
        .await
        .tls
        .as_ref()
        .unwrap()
        .ca
        .clone();

    let e = connect_fails(Location::Postgres(db.tls_settings(&ca))).await;
    assert!(
        e.contains("[journal] tls / ca_file") && e.contains("server does not support TLS"),
        "{e}"
    );

    let app = DemoApp::new(AppOptions::default());
    let config = configure(&app, &db, &ca);
    let (ok, out, err) = run(check(&config)).await;
    assert!(!ok, "the check fails: {out}");
    assert!(
        err.contains("[journal] tls / ca_file") && err.contains("server does not support TLS"),
        "{err}"
    );

    // Nothing was written in plain text: the database is as it was made.
    let now = Journal::check(&db.location()).await.unwrap();
    assert!(now.contains("PostgreSQL, empty"), "{now}");
}
