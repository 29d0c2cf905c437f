//! A throw-away Prosody for one or several tests: own config, data, test CA and log in a
//! temporary directory, c2s on a free loopback port (no s2s, no HTTP), STARTTLS required,
//! XEP-0198 enabled, MUC services `conference.localhost` (real JIDs public) and
//! `anon.localhost` (semi-anonymous). Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use bosun_xmpp::{StartTlsConnector, client_config};
use tempfile::TempDir;
use tokio::time::Instant;
use tokio_rustls::rustls::ClientConfig;
use tokio_xmpp::connect::{DnsConfig, ServerConnector};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::xmlstream::{Timeouts, XmppStream};

pub const DOMAIN: &str = "localhost";
pub const MUC: &str = "conference.localhost";
pub const ANON_MUC: &str = "anon.localhost";
/// The password of every test account.
pub const PASSWORD: &str = "s3cret-test-pw";

const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often readiness is probed while waiting for it.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

pub struct Prosody {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

/// How the server's certificate is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// An end-entity certificate signed by a test CA ([`Prosody::ca_file`] is the CA's).
    SignedByCa,
    /// One self-signed certificate marked CA:TRUE, as `openssl req -x509` and Prosody's own
    /// certificate tool make them ([`Prosody::ca_file`] is that certificate).
    SelfSigned,
}

impl Prosody {
    /// Start a server with the given accounts registered (all with [`PASSWORD`]).
    pub async fn start(users: &[&str]) -> anyhow::Result<Prosody> {
        Prosody::start_with(users, Certificate::SignedByCa).await
    }

    /// Start a server whose certificate is made as `certificate` says.
    pub async fn start_with(users: &[&str], certificate: Certificate) -> anyhow::Result<Prosody> {
        let dir = tempfile::Builder::new()
            .prefix("bosun-prosody-")
            .tempdir()?;
        match certificate {
            Certificate::SignedByCa => make_certificates(dir.path()).await?,
            Certificate::SelfSigned => make_self_signed(dir.path()).await?,
        }
        let mut prosody = Prosody {
            dir,
            port: free_port()?,
            child: None,
        };
        prosody.write_config()?;
        prosody.register(users).await?;
        let mut last_error = None;
        for _ in 0..5 {
            match prosody.launch().await {
                Ok(()) => return Ok(prosody),
                Err(error) => {
                    // The port may have been taken in between: try another one.
                    prosody.kill();
                    last_error = Some(error);
                    prosody.port = free_port()?;
                    prosody.write_config()?;
                }
            }
        }
        Err(last_error.expect("five attempts failed")).context("prosody did not start")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM file of the test CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("certs/ca.crt")
    }

    /// Successful logins of `user` so far (counted in Prosody's log, across restarts).
    pub fn logins(&self, user: &str) -> anyhow::Result<usize> {
        let log = std::fs::read_to_string(self.log_path())?;
        let needle = format!("Authenticated as {user}@{DOMAIN}");
        Ok(log.lines().filter(|line| line.contains(&needle)).count())
    }

    /// Crash the server (SIGKILL): clients see their connections drop.
    pub fn crash(&mut self) {
        self.kill();
    }

    /// Stop (SIGSTOP) or continue (SIGCONT) the server: a stalled chat server, whose clients
    /// keep their connections but get nothing through. (Used by the bot-level tests.)
    #[allow(dead_code)]
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.child.as_ref().context("prosody is not running")?.id();
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()?;
        ensure!(status.success(), "kill {signal} {pid} failed");
        Ok(())
    }

    /// Start the server again on the same port (after [`Prosody::crash`]).
    pub async fn relaunch(&mut self) -> anyhow::Result<()> {
        ensure!(self.child.is_none(), "prosody is still running");
        self.launch().await
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prosody.log")
    }

    fn write_config(&self) -> anyhow::Result<()> {
        let dir = self.dir.path().display();
        let port = self.port;
        // run_as_root: mod_posix refuses to run as root otherwise (and prosodyctl would switch to
        // a 'prosody' user who cannot write here); harmless for other users.
        let config = format!(
            r#"run_as_root = true
data_path = "{dir}/data"
pidfile = "{dir}/prosody.pid"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{dir}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "ping", "posix", "smacks" }}
modules_disabled = {{ "s2s" }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
allow_registration = false
ssl = {{ certificate = "{dir}/certs/localhost.crt", key = "{dir}/certs/localhost.key" }}

VirtualHost "{DOMAIN}"

Component "{MUC}" "muc"
  restrict_room_creation = false
  muc_room_locking = false
  muc_room_default_public_jids = true
  muc_room_default_persistent = false

Component "{ANON_MUC}" "muc"
  restrict_room_creation = false
  muc_room_locking = false
  muc_room_default_public_jids = false
  muc_room_default_persistent = false
"#
        );
        std::fs::create_dir_all(self.dir.path().join("data"))?;
        std::fs::write(self.config_path(), config)?;
        Ok(())
    }

    async fn register(&self, users: &[&str]) -> anyhow::Result<()> {
        let config = self.config_path();
        let runs = users.iter().map(|user| {
            let config = config.clone();
            async move {
                let output = tokio::process::Command::new("prosodyctl")
                    .arg("--config")
                    .arg(&config)
                    .args(["register", user, DOMAIN, PASSWORD])
                    .stdin(Stdio::null())
                    .output()
                    .await
                    .context("running prosodyctl (is prosody installed?)")?;
                ensure!(
                    output.status.success(),
                    "prosodyctl register {user} failed: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                Ok(())
            }
        });
        futures::future::try_join_all(runs).await?;
        Ok(())
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stdout.log"))?;
        let child = Command::new("prosody")
            .arg("-F")
            .arg("--config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting prosody (is it installed?)")?;
        self.child = Some(child);
        let ca = self.ca_file();
        let tls = tokio::task::spawn_blocking(move || client_config(Some(&ca))).await??;
        let log_start = std::fs::metadata(self.log_path())
            .map(|m| m.len())
            .unwrap_or(0) as usize;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("prosody exited with {status}: {}", self.log_tail());
            }
            let log = std::fs::read(self.log_path()).unwrap_or_default();
            if contains(
                log.get(log_start..).unwrap_or_default(),
                b"Failed to open server port",
            ) {
                // Prosody keeps running when it cannot bind; only its log says so.
                bail!(
                    "prosody could not bind port {}: {}",
                    self.port,
                    self.log_tail()
                );
            }
            if accepts_logins(self.port, Arc::clone(&tls)).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "prosody did not become ready within {START_TIMEOUT:?}: {}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(PROBE_INTERVAL).await; // allow-sleep: polling, with a deadline, for a real handshake to succeed
        }
    }

    fn log_tail(&self) -> String {
        let mut tail = String::new();
        for name in ["prosody.log", "stdout.log"] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            tail.push_str(&lines[lines.len().saturating_sub(8)..].join("\n"));
            tail.push('\n');
        }
        tail
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL, then reap: nothing outlives the test.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Readiness is a real stream handshake: STARTTLS offered, TLS with the test CA, and SASL
/// mechanisms offered on the encrypted stream (the c2s port opens before the virtual host has
/// loaded its TLS and SASL modules).
async fn accepts_logins(port: u16, tls: Arc<ClientConfig>) -> bool {
    let connector = StartTlsConnector::new(DnsConfig::addr(&format!("127.0.0.1:{port}")), tls);
    let attempt = async {
        let jid = Jid::new(&format!("probe@{DOMAIN}")).ok()?;
        let (pending, _) = connector
            .connect(&jid, ns::JABBER_CLIENT, Timeouts::tight())
            .await
            .ok()?;
        let (features, _stream): (_, XmppStream<_>) = pending.recv_features().await.ok()?;
        Some(!features.sasl_mechanisms.is_empty())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(true))
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A test CA (EC P-256) and an end-entity certificate it signed for the server's names.
async fn make_certificates(dir: &Path) -> anyhow::Result<()> {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs)?;
    std::fs::write(
        certs.join("leaf.ext"),
        format!(
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=DNS:{DOMAIN},DNS:{MUC},DNS:{ANON_MUC}\n"
        ),
    )?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &certs,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=bosun test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        ]
        .concat(),
    )
    .await?;
    openssl(
        &certs,
        &[
            &["req", "-new"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "localhost.key",
                "-out",
                "localhost.csr",
            ],
        ]
        .concat(),
    )
    .await?;
    openssl(
        &certs,
        &[
            "x509",
            "-req",
            "-in",
            "localhost.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "localhost.crt",
        ],
    )
    .await
}

/// One self-signed certificate for the server's names, marked CA:TRUE, written as both the
/// server's certificate and the file clients trust.
async fn make_self_signed(dir: &Path) -> anyhow::Result<()> {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs)?;
    openssl(
        &certs,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            &format!("subjectAltName=DNS:{DOMAIN},DNS:{MUC},DNS:{ANON_MUC}"),
            "-keyout",
            "localhost.key",
            "-out",
            "localhost.crt",
        ],
    )
    .await?;
    std::fs::copy(certs.join("localhost.crt"), certs.join("ca.crt"))?;
    Ok(())
}

/// A CA that signed nothing of this server's, as a PEM file in `dir`.
pub async fn unrelated_ca(dir: &Path) -> anyhow::Result<PathBuf> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=unrelated test CA",
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
        ],
    )
    .await?;
    Ok(dir.join("other.crt"))
}

async fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running openssl")?;
    ensure!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
