//! Turns a playbook's host entry into a connected `Host`, and keeps SSH master connections for reuse between deploys.
//!
//! One `Connector` per bot. An SSH host's master connection is opened on its first command and
//! kept: a `!rollback` right after a deploy runs over the same connection, with no new
//! handshake. ssh itself closes a master left unused for the host's `idle` time
//! (`ControlPersist`), so no timer task is needed here; a kept master is checked (one round trip
//! on its socket) each time a deploy asks for the host, and reopened when it has gone. `shutdown`
//! closes every master. Control sockets live under `/tmp/bosun-ssh-<pid>/`; directories left by a
//! bosun that crashed are cleaned (their masters told to exit) when the first SSH host is asked for.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell};

use super::master::{self, Master};
use super::pace::Pace;
use super::{Host, LocalHost, SshError, SshHost, TransportError};
use crate::config::HostSpec;

/// Opens hosts and owns the connections that outlive a single deploy.
#[derive(Clone, Debug, Default)]
pub struct Connector {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// This connector's control directory, made on first use.
    control_dir: OnceCell<PathBuf>,
    /// Host name → its master.
    masters: Mutex<HashMap<String, Arc<Master>>>,
    /// How fast new connections start, for every master.
    pace: Arc<Pace>,
}

impl Connector {
    pub fn new() -> Connector {
        Connector::default()
    }

    /// At most `rate` SSH connections start per second from now on (a burst of `rate` first).
    pub fn set_connect_rate(&self, rate: u32) {
        self.inner.pace.set_rate(rate);
    }

    /// The host named `name`, reachable as `spec` says, and the deploy root (the playbook's
    /// `deploy_to`, or the host's own) as that host sees it. An SSH host connects on its first
    /// command, so that a fleet's handshakes happen in parallel and an unreachable host is
    /// named by the probe that meets it.
    pub async fn connect(
        &self,
        name: &str,
        spec: &HostSpec,
        deploy_to: &str,
    ) -> Result<(Host, String), TransportError> {
        match spec {
            HostSpec::Local { root } => {
                let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
                let deploy_root = root.join(deploy_to.trim_start_matches('/'));
                Ok((
                    Host::Local(LocalHost::new(name, root)),
                    deploy_root.display().to_string(),
                ))
            }
            HostSpec::Ssh(ssh) => {
                let control_dir = self.control_dir().await?;
                let (master, replaced) = {
                    let mut masters = self.inner.masters.lock().await;
                    match masters.get(name).filter(|m| m.spec() == ssh) {
                        Some(master) => (master.clone(), None),
                        None => {
                            let master = Arc::new(Master::new(
                                name,
                                ssh.clone(),
                                control_dir,
                                self.inner.pace.clone(),
                            ));
                            let old = masters.insert(name.to_string(), master.clone());
                            (master, old)
                        }
                    }
                };
                match replaced {
                    // The entry for this host changed: its old connection goes.
                    Some(old) => old.close().await,
                    // A kept master that went idle or was lost: the next command reconnects.
                    None => {
                        master.check().await;
                    }
                }
                let root = ssh
                    .deploy_to
                    .clone()
                    .unwrap_or_else(|| deploy_to.to_string());
                Ok((Host::Ssh(SshHost::new(name, master)), root))
            }
        }
    }

    /// How many hosts have an open, answering master connection now.
    pub async fn open_masters(&self) -> usize {
        let masters: Vec<Arc<Master>> = self.inner.masters.lock().await.values().cloned().collect();
        let mut open = 0;
        for master in masters {
            if master.check().await {
                open += 1;
            }
        }
        open
    }

    /// Closes every connection kept for reuse and removes the control directory.
    pub async fn shutdown(&self) {
        let masters: Vec<Arc<Master>> = self
            .inner
            .masters
            .lock()
            .await
            .drain()
            .map(|(_, m)| m)
            .collect();
        // All at once: each close is a round trip on its master's control socket (bounded at
        // 5 s), so a stuck master holds up the way out by that bound, not by one per master.
        let mut closing = tokio::task::JoinSet::new();
        for master in masters {
            closing.spawn(async move { master.close().await });
        }
        while closing.join_next().await.is_some() {}
        if let Some(dir) = self.inner.control_dir.get().cloned() {
            let _ = tokio::task::spawn_blocking(move || {
                let _ = std::fs::remove_dir_all(&dir);
                // The process's directory goes with its last connector (not while another
                // connector of this process still has its own inside).
                dir.parent().map(std::fs::remove_dir)
            })
            .await;
        }
    }

    async fn control_dir(&self) -> Result<PathBuf, SshError> {
        self.inner
            .control_dir
            .get_or_try_init(|| async {
                static CLEANED: OnceCell<usize> = OnceCell::const_new();
                CLEANED.get_or_init(master::clean_stale).await;
                tokio::task::spawn_blocking(master::control_dir)
                    .await
                    .map_err(|e| SshError::Local(e.to_string()))?
            })
            .await
            .cloned()
    }
}
