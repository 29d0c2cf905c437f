//! A real PostgreSQL for the tests: one server per test process (started on first use with
//! `initdb` and `pg_ctl` as the `postgres` user through `runuser`, in a temporary directory, on a
//! free loopback port), a fresh database for each test. A watchdog process stops the server and
//! removes its directory when the test process ends, however it ends: it waits for the end of a
//! pipe whose other end only the test process holds. If the server cannot start, every test
//! that asks for it fails, saying why.
//!
//! A second server, started only by the tests that ask for it (`tls_database`), speaks TLS and
//! nothing else: `ssl = on` with a certificate for `localhost` and 127.0.0.1 signed by a CA made
//! with `openssl` in its directory, and a `pg_hba.conf` that rejects every connection without TLS.
//!
//! Shared by the library's tests (`src/journal/tests.rs`) and the integration tests.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use bosun::journal as bosun_journal;

/// Where Debian puts the server's programs.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The role the tests (and the bots they start) log in as, and its password.
pub const ROLE: &str = "bosun";
pub const PASSWORD: &str = "bosun";

/// The environment variable that hands a server's address to child processes (the race test
/// re-executes its own binary): they use it instead of starting one.
pub const URL_ENV: &str = "BOSUN_TEST_PG_BASE";

/// Which server: the default (plain TCP), or one that accepts only TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Plain,
    TlsOnly,
}

/// The certificates of a TLS server, made with `openssl` in its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA (PEM) that signed the server's certificate (for `localhost` and 127.0.0.1).
    pub ca: PathBuf,
    /// Another CA (PEM), one that signed nothing the server shows.
    pub stranger_ca: PathBuf,
}

/// A server of this test process.
pub struct PgServer {
    pub port: u16,
    pub dir: PathBuf,
    /// Its certificates, when it is the TLS server.
    pub tls: Option<TlsFiles>,
    /// The write end of the watchdog's pipe: never dropped, closed by the kernel at exit.
    _watchdog: Option<std::process::ChildStdin>,
}

/// A fresh database on the shared server.
#[derive(Clone, Debug)]
pub struct PgDatabase {
    pub port: u16,
    pub name: String,
    /// On the TLS server: its certificates.
    pub tls: Option<TlsFiles>,
}

impl PgDatabase {
    /// `postgres://bosun@127.0.0.1:PORT/NAME` (no password: give it apart, as the config does).
    pub fn url(&self) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/{}", self.port, self.name)
    }

    /// The same with the password in it (for child processes and `bosun migrate-journal`).
    pub fn url_with_password(&self) -> String {
        format!(
            "postgres://{ROLE}:{PASSWORD}@127.0.0.1:{}/{}",
            self.port, self.name
        )
    }

    /// Settings for `Journal::connect`.
    pub fn settings(&self) -> bosun_journal::PgSettings {
        bosun_journal::PgSettings {
            url: self.url(),
            password: Some(PASSWORD.into()),
            tls: bosun_journal::PgTls::Disable,
            ca_file: None,
        }
    }

    /// Settings for `Journal::connect` with `tls = "require"`, trusting the CA in `ca_file`.
    pub fn tls_settings(&self, ca_file: &Path) -> bosun_journal::PgSettings {
        bosun_journal::PgSettings {
            tls: bosun_journal::PgTls::Require,
            ca_file: Some(ca_file.to_path_buf()),
            ..self.settings()
        }
    }

    /// The TLS server's certificates (panics on a database of the plain server).
    pub fn tls_files(&self) -> &TlsFiles {
        self.tls
            .as_ref()
            .expect("a database on the TLS server (postgres::tls_database)")
    }

    pub fn location(&self) -> bosun_journal::Location {
        bosun_journal::Location::Postgres(self.settings())
    }
}

static SERVER: tokio::sync::OnceCell<Result<PgServer, String>> = tokio::sync::OnceCell::const_new();
static TLS_SERVER: tokio::sync::OnceCell<Result<PgServer, String>> =
    tokio::sync::OnceCell::const_new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The shared server, started on first use (or the one a parent test process named).
pub async fn server() -> &'static PgServer {
    let started = SERVER
        .get_or_init(|| async {
            if let Ok(port) = std::env::var(URL_ENV) {
                let port = port.parse().map_err(|e| format!("{URL_ENV}={port}: {e}"))?;
                return Ok(PgServer {
                    port,
                    dir: PathBuf::new(),
                    tls: None,
                    _watchdog: None,
                });
            }
            tokio::task::spawn_blocking(|| start(ServerKind::Plain))
                .await
                .map_err(|e| e.to_string())?
        })
        .await;
    match started {
        Ok(server) => server,
        Err(e) => panic!("PostgreSQL could not be started for the tests: {e}"),
    }
}

/// The TLS-only server, started on first use.
pub async fn tls_server() -> &'static PgServer {
    let started = TLS_SERVER
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| start(ServerKind::TlsOnly))
                .await
                .map_err(|e| e.to_string())?
        })
        .await;
    match started {
        Ok(server) => server,
        Err(e) => panic!("PostgreSQL with TLS could not be started for the tests: {e}"),
    }
}

/// A new, empty database owned by the test role.
pub async fn database() -> PgDatabase {
    new_database(server().await).await
}

/// A new, empty database owned by the test role, on the TLS-only server.
pub async fn tls_database() -> PgDatabase {
    new_database(tls_server().await).await
}

async fn new_database(server: &PgServer) -> PgDatabase {
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    create_database(server.port, &name).await;
    PgDatabase {
        port: server.port,
        name,
        tls: server.tls.clone(),
    }
}

/// Runs `sql` as the superuser (over TCP with its password; `psql` uses TLS where the server
/// offers it) and returns what it printed, unaligned, without headers.
pub async fn superuser_query(port: u16, sql: &str) -> String {
    let output = tokio::process::Command::new(format!("{PG_BIN}/psql"))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-U", "postgres", "-d", "postgres", "-c", sql])
        .env("PGPASSWORD", "postgres")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("psql runs");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Creates database `name` (as the superuser, over TCP with its password).
pub async fn create_database(port: u16, name: &str) {
    let output = tokio::process::Command::new(format!("{PG_BIN}/psql"))
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-c"])
        .arg(format!("CREATE DATABASE {name} OWNER {ROLE}"))
        .env("PGPASSWORD", "postgres")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("psql runs");
    assert!(
        output.status.success(),
        "CREATE DATABASE {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts the server: a few tries, since a free port can be taken between finding and binding.
fn start(kind: ServerKind) -> Result<PgServer, String> {
    let mut last = String::new();
    for _ in 0..3 {
        match try_start(kind) {
            Ok(server) => return Ok(server),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn run(what: &str, command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn as_postgres(program: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--", &format!("{PG_BIN}/{program}")]);
    command
}

fn try_start(kind: ServerKind) -> Result<PgServer, String> {
    if !Path::new(PG_BIN).join("postgres").exists() {
        return Err(format!(
            "{PG_BIN}/postgres is missing: install Debian's postgresql (scripts/test.sh does)"
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("bosun-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    run("chown", Command::new("chown").arg("postgres:").arg(&dir))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, "postgres\n").map_err(|e| e.to_string())?;
    run("chown", Command::new("chown").arg("postgres:").arg(&pwfile))?;
    let data = dir.join("data");
    run(
        "initdb",
        as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display())),
    )?;
    // The watchdog first, so that a server started below never outlives this process: it
    // reads its stdin (a pipe only this process holds the other end of) until the end, then
    // stops the server and removes the directory.
    let script = format!(
        "cat >/dev/null; runuser -u postgres -- {PG_BIN}/pg_ctl -D '{data}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{dir}'",
        data = data.display(),
        dir = dir.display()
    );
    let mut watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    let watchdog_stdin = watchdog.stdin.take();
    let tls = match kind {
        ServerKind::Plain => None,
        ServerKind::TlsOnly => Some(tls_only(&dir, &data)?),
    };
    let options = format!(
        "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    if let Err(e) = run(
        "pg_ctl start",
        as_postgres("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]),
    ) {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        drop(watchdog_stdin);
        let _ = watchdog.wait();
        return Err(format!("{e}\n{log}"));
    }
    let sql = format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'");
    run(
        "CREATE ROLE",
        Command::new(format!("{PG_BIN}/psql"))
            .args(["-X", "-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-c", &sql])
            .env("PGPASSWORD", "postgres"),
    )?;
    // The watchdog is reaped by init when this process is gone; it is never waited for here.
    std::mem::forget(watchdog);
    Ok(PgServer {
        port,
        dir,
        tls,
        _watchdog: watchdog_stdin,
    })
}

/// Makes a CA, a server certificate it signs (for `localhost` and 127.0.0.1) and a stranger CA
/// in `dir/tls` with `openssl`, and sets up the cluster in `data` to speak TLS only: `ssl = on`
/// with that certificate, and a `pg_hba.conf` that rejects TCP connections without TLS.
fn tls_only(dir: &Path, data: &Path) -> Result<TlsFiles, String> {
    let tls = dir.join("tls");
    std::fs::create_dir(&tls).map_err(|e| format!("{}: {e}", tls.display()))?;
    let openssl = |what: &str, args: &[&str]| {
        run(
            &format!("openssl {what}"),
            Command::new("openssl").current_dir(&tls).args(args),
        )
        .map_err(|e| format!("{e} (the TLS tests make their certificates with openssl)"))
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    for (name, subject) in [
        ("ca", "/CN=bosun test CA"),
        ("stranger-ca", "/CN=a stranger CA"),
    ] {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509", "-nodes", "-days", "7"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &pem, "-subj", subject]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(&format!("req ({name})"), &args)?;
    }
    let mut args = vec!["req", "-new", "-nodes"];
    args.extend(ec);
    args.extend(["-keyout", "server.key", "-out", "server.csr"]);
    args.extend(["-subj", "/CN=localhost"]);
    openssl("req (server)", &args)?;
    std::fs::write(
        tls.join("server.ext"),
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(
        "x509 (server)",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "7",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    )?;
    // The server refuses a key file that others may read, or that it does not own.
    let key = tls.join("server.key");
    run("chown", Command::new("chown").arg("postgres:").arg(&key))?;
    run("chmod", Command::new("chmod").arg("0600").arg(&key))?;
    let conf = data.join("postgresql.conf");
    let mut text =
        std::fs::read_to_string(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
    text.push_str(&format!(
        "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
        tls.join("server.pem").display(),
        key.display()
    ));
    std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    // First match wins: without TLS, TCP is refused outright.
    let hba = data.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\n\
         hostnossl all all 0.0.0.0/0 reject\n\
         hostnossl all all ::/0 reject\n\
         hostssl all all 127.0.0.1/32 scram-sha-256\n\
         hostssl all all ::1/128 scram-sha-256\n",
    )
    .map_err(|e| format!("{}: {e}", hba.display()))?;
    Ok(TlsFiles {
        ca: tls.join("ca.pem"),
        stranger_ca: tls.join("stranger-ca.pem"),
    })
}

/// Where the bots of an integration test keep their journal: the SQLite default, or a fresh
/// PostgreSQL database (its password in a file beside the config).
pub enum JournalStore {
    Sqlite,
    Postgres(PgDatabase),
}

/// The password file `JournalStore::keys` names, relative to the config's directory.
const PASSWORD_FILE: &str = "journal-password";

impl JournalStore {
    pub async fn postgres() -> JournalStore {
        JournalStore::Postgres(database().await)
    }

    /// Lines for the config's `[journal]` table.
    pub fn keys(&self) -> String {
        match self {
            JournalStore::Sqlite => String::new(),
            JournalStore::Postgres(db) => format!(
                "url = \"{}\"\npassword_file = \"{PASSWORD_FILE}\"\n",
                db.url()
            ),
        }
    }

    /// Writes the password file into the config's directory `dir`.
    pub fn write_password(&self, dir: &Path) {
        if let JournalStore::Postgres(_) = self {
            std::fs::write(dir.join(PASSWORD_FILE), PASSWORD).unwrap();
        }
    }

    /// Whether no process is inside a write to the journal (`sqlite`: the SQLite file the bots
    /// use): SQLite's write lock is free, or no session of the PostgreSQL database sits in an
    /// open transaction. A bot stopped inside a write holds up every other bot's writes until
    /// it runs again.
    pub async fn no_write_in_progress(&self, sqlite: &Path) -> bool {
        match self {
            JournalStore::Sqlite => {
                let path = sqlite.to_path_buf();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path).unwrap();
                    conn.busy_timeout(std::time::Duration::ZERO).unwrap();
                    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
                        Ok(()) => true,
                        Err(rusqlite::Error::SqliteFailure(e, _))
                            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
                        {
                            false
                        }
                        Err(e) => panic!("cannot try the write lock of {}: {e}", path.display()),
                    }
                })
                .await
                .unwrap()
            }
            JournalStore::Postgres(db) => {
                let sql = format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state LIKE 'idle in transaction%'",
                    db.name
                );
                superuser_query(db.port, &sql).await == "0"
            }
        }
    }

    /// The journal the bots use (`sqlite`: the SQLite file they would use).
    pub async fn open(&self, sqlite: &Path) -> bosun_journal::Journal {
        match self {
            JournalStore::Sqlite => bosun_journal::Journal::open(sqlite).await.unwrap(),
            JournalStore::Postgres(db) => bosun_journal::Journal::connect(&db.location())
                .await
                .unwrap(),
        }
    }
}
