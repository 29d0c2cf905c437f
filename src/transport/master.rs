//! One multiplexed SSH master connection per host: opened on first use, checked before reuse, closed on demand; and the short control directory its socket lives in.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use tokio::sync::Mutex;

use super::hostkey;
use super::pace::Pace;
use super::ssh::SshError;
use crate::config::SshSpec;

/// The master connection of one host. Commands take a clone of the session; the connection
/// stays up between deploys (ssh's own `ControlPersist` closes it after `idle` unused).
pub(crate) struct Master {
    name: String,
    spec: SshSpec,
    control_dir: PathBuf,
    session: Mutex<Option<Arc<Session>>>,
    /// The connector's pace of connection starts.
    pace: Arc<Pace>,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("name", &self.name)
            .field("address", &self.spec.address)
            .field("port", &self.spec.port)
            .finish_non_exhaustive()
    }
}

impl Master {
    pub fn new(name: &str, spec: SshSpec, control_dir: PathBuf, pace: Arc<Pace>) -> Master {
        Master {
            name: name.to_string(),
            spec,
            control_dir,
            session: Mutex::new(None),
            pace,
        }
    }

    pub fn spec(&self) -> &SshSpec {
        &self.spec
    }

    /// `user@address:port` as people read it.
    pub fn target(&self) -> String {
        let user = self
            .spec
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{user}{}:{}", self.spec.address, self.spec.port)
    }

    /// The session, connecting first when there is none. One connection at a time per host.
    pub async fn session(&self) -> Result<Arc<Session>, SshError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref() {
            return Ok(session.clone());
        }
        self.pace.start().await;
        let session = Arc::new(self.connect().await?);
        *slot = Some(session.clone());
        Ok(session)
    }

    /// Forgets a session found dead, so that the next command connects again.
    pub async fn forget(&self, dead: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, dead)) {
            *slot = None;
        }
    }

    /// Whether a master is open and answering (without connecting). A dead one is forgotten.
    pub async fn check(&self) -> bool {
        let session = self.session.lock().await.clone();
        match session {
            None => false,
            Some(session) => {
                let alive = tokio::time::timeout(Duration::from_secs(5), session.check())
                    .await
                    .is_ok_and(|r| r.is_ok());
                if !alive {
                    self.forget(&session).await;
                }
                alive
            }
        }
    }

    /// Closes the master connection, if open.
    pub async fn close(&self) {
        let Some(session) = self.session.lock().await.take() else {
            return;
        };
        // Commands still holding the session let go of it when they end; the last one to drop
        // it shuts the master down.
        if let Ok(session) = Arc::try_unwrap(session) {
            let _ = tokio::time::timeout(Duration::from_secs(5), session.close()).await;
        }
    }

    async fn connect(&self) -> Result<Session, SshError> {
        let spec = &self.spec;
        let config = self.control_dir.join(format!("{}.config", self.name));
        tokio::fs::write(&config, client_config(spec))
            .await
            .map_err(|e| SshError::Local(format!("cannot write {}: {e}", config.display())))?;
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(KnownHosts::Strict)
            .control_directory(&self.control_dir)
            .config_file(&config)
            .port(spec.port)
            .connect_timeout(spec.connect_timeout)
            .server_alive_interval(spec.keepalive)
            .compression(spec.compression)
            .control_persist(ControlPersist::IdleFor(
                NonZeroUsize::new(spec.idle.as_secs() as usize).unwrap_or(NonZeroUsize::MIN),
            ));
        if let Some(user) = &spec.user {
            builder.user(user.clone());
        }
        if let Some(key) = &spec.identity {
            builder.keyfile(key);
        }
        if let Some(known) = &spec.known_hosts {
            builder.user_known_hosts_file(known);
        }
        // ConnectTimeout bounds the TCP connect and the banner; this bounds the whole handshake.
        let limit = spec.connect_timeout * 2 + Duration::from_secs(5);
        let connected = tokio::time::timeout(limit, builder.connect_mux(&spec.address)).await;
        match connected {
            Ok(Ok(session)) => Ok(session),
            Err(_) => Err(SshError::Connect {
                target: self.target(),
                message: format!("no SSH session within {limit:?}"),
            }),
            Ok(Err(e)) => Err(self.explain(e).await),
        }
    }

    /// Turns a failed connection into a reason people can act on; a refused host key comes
    /// with the fingerprint the server presented.
    async fn explain(&self, e: openssh::Error) -> SshError {
        let text = match &e {
            openssh::Error::Connect(io) | openssh::Error::Master(io) => io.to_string(),
            other => other.to_string(),
        };
        let Some(problem) = hostkey::refused(&text) else {
            let message = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            return SshError::Connect {
                target: self.target(),
                message: if message.is_empty() {
                    e.to_string()
                } else {
                    message
                },
            };
        };
        let mut fingerprints = hostkey::fingerprints_in(&text);
        if fingerprints.is_empty() {
            fingerprints = match hostkey::scan(
                &self.spec.address,
                self.spec.port,
                self.spec.connect_timeout,
            )
            .await
            {
                Ok(prints) => prints,
                Err(why) => vec![format!("(fingerprint unknown: {why})")],
            };
        }
        SshError::HostKey {
            target: self.target(),
            problem,
            known_hosts: self.spec.known_hosts.as_ref().map_or_else(
                || "~/.ssh/known_hosts".to_string(),
                |p| p.display().to_string(),
            ),
            fingerprints: fingerprints.join(", "),
        }
    }
}

/// The ssh client configuration bosun uses instead of `~/.ssh/config`: host keys are only ever
/// read, never learnt or updated.
fn client_config(spec: &SshSpec) -> String {
    let mut text = String::from(
        "# written by bosun: its ssh client options (the user's ~/.ssh/config is not read)\n\
         UpdateHostKeys no\n\
         HashKnownHosts no\n\
         ServerAliveCountMax 3\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n",
    );
    if spec.known_hosts.is_some() {
        text.push_str("GlobalKnownHostsFile /dev/null\n");
    }
    text
}

/// Where a connector's master sockets live: `/tmp/bosun-ssh-<pid>/<n>`, short enough for the
/// socket path limit (about 100 bytes), private to this user.
pub(crate) fn control_dir() -> Result<PathBuf, SshError> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    use std::os::unix::fs::PermissionsExt;
    let dir = process_dir().join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    let make = || {
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(process_dir(), std::fs::Permissions::from_mode(0o700))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
    };
    // Another connector of this process that shuts down removes the process directory when it
    // is empty; a second try covers that moment.
    make()
        .or_else(|_| make())
        .map_err(|e| SshError::Local(format!("cannot make {}: {e}", dir.display())))?;
    Ok(dir)
}

const PREFIX: &str = "bosun-ssh-";

fn process_dir() -> PathBuf {
    Path::new("/tmp").join(format!("{PREFIX}{}", std::process::id()))
}

/// Control directories left by bosun processes that no longer run (a crash, a kill): their
/// masters are asked to exit and the directories removed. Returns how many were cleaned.
pub(crate) async fn clean_stale() -> usize {
    let stale = tokio::task::spawn_blocking(stale_dirs)
        .await
        .unwrap_or_default();
    let cleaned = stale.len();
    // All at once, and one second for all: a master a killed bot left behind may still carry
    // that bot's commands and not exit when asked; one by one, a fleet of them held the first
    // connection of the bot that recovers its deploy for seconds per host.
    let closes = stale
        .iter()
        .flat_map(|(_, sockets)| sockets.clone())
        .map(|socket| async move {
            let session = Session::resume_mux(socket.into_boxed_path(), None);
            let _ = session.close().await;
        });
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        futures_util::future::join_all(closes),
    )
    .await;
    for (dir, _) in stale {
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    }
    cleaned
}

/// `/tmp/bosun-ssh-<pid>` directories whose process is gone, with the sockets inside.
fn stale_dirs() -> Vec<(PathBuf, Vec<PathBuf>)> {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix(PREFIX)?.parse::<u32>().ok()?;
            let gone = pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
            gone.then(|| (entry.path(), sockets_under(&entry.path())))
        })
        .collect()
}

/// `<dir>/<n>/.ssh-connection*/master`: the sockets openssh made under a control directory.
fn sockets_under(dir: &Path) -> Vec<PathBuf> {
    let mut sockets = Vec::new();
    let Ok(connectors) = std::fs::read_dir(dir) else {
        return sockets;
    };
    for connector in connectors.flatten() {
        let Ok(masters) = std::fs::read_dir(connector.path()) else {
            continue;
        };
        for master in masters.flatten() {
            let socket = master.path().join("master");
            if socket.exists() {
                sockets.push(socket);
            }
        }
    }
    sockets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn control_dirs_of_processes_that_are_gone_are_removed() {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let stale = Path::new("/tmp").join(format!("{PREFIX}{}", gone.id()));
        std::fs::create_dir_all(stale.join("0/.ssh-connectionXYZ")).unwrap();
        let mine = control_dir().unwrap();
        assert!(clean_stale().await >= 1);
        assert!(!stale.exists(), "{} is left", stale.display());
        assert!(mine.exists(), "this process's own directory stays");
        assert!(mine.to_str().unwrap().len() < 40, "short for socket paths");
    }
}
