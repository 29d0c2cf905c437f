//! Leases renewed off the chat loop: one owned task renews the lease of every deploy this bot runs and, on a chat network several bots share, the leadership that makes exactly one of them answer.
//!
//! The task never waits on chat delivery, so a stalled chat server never stops a heartbeat. It
//! keeps the bot's [`Tenure`] (when the leases were last renewed): a bot that cannot renew for
//! longer than a lease stops acting, and stops leading.
//!
//! Leadership is a row per chat network in the journal's `leaders` table (made on first use),
//! held under a lease like a deploy lock: the holder renews it; anyone may claim it once it ran
//! out; a bot that stops cleanly gives it up at once. Times are the journal's.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::Tenure;
use crate::journal::Journal;

/// Whether this bot answers on its chat network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// It answers. `took_over_from` names the host of the bot that led before, when this bot
    /// took the lead from another one whose lease ran out.
    Leading { took_over_from: Option<String> },
    /// Another bot answers (or this one cannot tell: it lost the journal).
    Following,
}

/// Why leadership could not be read or claimed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeaderError {
    #[error("leaders: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("leaders: the blocking pool is gone")]
    Join,
}

/// This bot among the others: a random instance id and the host it runs on.
#[derive(Clone, Debug)]
pub(crate) struct Instance {
    pub id: String,
    pub host: String,
}

impl Instance {
    /// `host/8hex`, random per process.
    pub fn new() -> Instance {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let random = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
            .map(|u| u.replace('-', "")[..8].to_string())
            .unwrap_or_else(|_| format!("{:08x}", std::process::id()));
        Instance {
            id: format!("{host}/{random}"),
            host,
        }
    }
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This instance leads; `from` is the host of another instance whose lease it took over.
    Leads { from: Option<String> },
    /// Another instance leads, on `host`, and its lease runs out in `expires_in` unless renewed.
    Follows { host: String, expires_in: Duration },
}

/// The `leaders` table, on the journal's SQLite file through a connection of its own.
#[derive(Clone)]
pub(crate) struct Leaders {
    conn: Arc<Mutex<Option<Connection>>>,
    path: PathBuf,
}

impl Leaders {
    pub fn new(path: PathBuf) -> Leaders {
        Leaders {
            conn: Arc::default(),
            path,
        }
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, LeaderError> {
        let (conn, path) = (self.conn.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let mut held = conn.lock().expect("not poisoned");
            if held.is_none() {
                let c = Connection::open(&path)?;
                c.busy_timeout(Duration::from_secs(2))?;
                c.execute_batch(
                    "CREATE TABLE IF NOT EXISTS leaders (
                        network      TEXT PRIMARY KEY,
                        instance     TEXT NOT NULL,
                        host         TEXT NOT NULL,
                        since        INTEGER NOT NULL,
                        heartbeat_at INTEGER NOT NULL
                    );
                    CREATE TABLE IF NOT EXISTS queued (
                        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
                        network  TEXT NOT NULL,
                        app      TEXT NOT NULL,
                        env      TEXT NOT NULL,
                        room     TEXT NOT NULL,
                        who      TEXT,
                        display  TEXT NOT NULL,
                        line     TEXT NOT NULL,
                        direct   INTEGER NOT NULL
                    )",
                )?;
                *held = Some(c);
            }
            let result = f(held.as_mut().expect("opened"));
            if result.is_err() {
                // The next call opens the file again.
                *held = None;
            }
            result
        })
        .await
        .map_err(|_| LeaderError::Join)?
        .map_err(LeaderError::from)
    }

    /// Renews this instance's lead on `network`, or takes it when nobody holds it or its
    /// holder's lease ran out; otherwise says who leads.
    pub async fn claim(
        &self,
        network: &str,
        me: &Instance,
        lease: Duration,
    ) -> Result<Claim, LeaderError> {
        let (network, me) = (network.to_string(), me.clone());
        let lease_ms = lease.as_millis() as i64;
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = crate::clock::now_ms();
            let held: Option<(String, String, i64)> = tx
                .query_row(
                    "SELECT instance, host, heartbeat_at FROM leaders WHERE network = ?1",
                    params![network],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let claim = match held {
                Some((instance, _, _)) if instance == me.id => {
                    tx.execute(
                        "UPDATE leaders SET heartbeat_at = ?2 WHERE network = ?1",
                        params![network, now],
                    )?;
                    Claim::Leads { from: None }
                }
                Some((_, host, beat)) if beat + lease_ms >= now => Claim::Follows {
                    host,
                    expires_in: Duration::from_millis((beat + lease_ms - now) as u64),
                },
                held => {
                    tx.execute(
                        "INSERT INTO leaders (network, instance, host, since, heartbeat_at)
                         VALUES (?1, ?2, ?3, ?4, ?4)
                         ON CONFLICT (network) DO UPDATE SET instance = ?2, host = ?3, since = ?4, heartbeat_at = ?4",
                        params![network, me.id, me.host, now],
                    )?;
                    Claim::Leads {
                        from: held.map(|(_, host, _)| host),
                    }
                }
            };
            tx.commit()?;
            Ok(claim)
        })
        .await
    }

    /// Gives up this instance's lead on `network`, so another bot takes it at once.
    pub async fn resign(&self, network: &str, me: &Instance) -> Result<(), LeaderError> {
        let (network, me) = (network.to_string(), me.id.clone());
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM leaders WHERE network = ?1 AND instance = ?2",
                params![network, me],
            )?;
            Ok(())
        })
        .await
    }
}

/// A `when free` request as the journal keeps it, so that the bot that takes the lead next
/// queues it again: the line as it was said, by whom, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueuedLine {
    pub app: String,
    pub env: String,
    pub room: String,
    /// The sender's identity id on the network, when the adapter vouched for one.
    pub who: Option<String>,
    pub display: String,
    pub line: String,
    pub direct: bool,
}

impl Leaders {
    /// Keeps a queued request of `network`.
    pub async fn queue(&self, network: &str, q: QueuedLine) -> Result<(), LeaderError> {
        let network = network.to_string();
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO queued (network, app, env, room, who, display, line, direct)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    network, q.app, q.env, q.room, q.who, q.display, q.line, q.direct
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets the queued request of `who` for `app`/`env` on `network` (it started).
    pub async fn dequeue(
        &self,
        network: &str,
        app: &str,
        env: &str,
        who: Option<String>,
    ) -> Result<(), LeaderError> {
        let (network, app, env) = (network.to_string(), app.to_string(), env.to_string());
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM queued WHERE network = ?1 AND app = ?2 AND env = ?3 AND who IS ?4",
                params![network, app, env, who],
            )?;
            Ok(())
        })
        .await
    }

    /// Takes every queued request of `network`, oldest first (the new leader queues them
    /// again, which keeps them anew).
    pub async fn take_queue(&self, network: &str) -> Result<Vec<QueuedLine>, LeaderError> {
        let network = network.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let lines = {
                let mut statement = tx.prepare(
                    "SELECT app, env, room, who, display, line, direct FROM queued
                     WHERE network = ?1 ORDER BY seq",
                )?;
                statement
                    .query_map(params![network], |r| {
                        Ok(QueuedLine {
                            app: r.get(0)?,
                            env: r.get(1)?,
                            room: r.get(2)?,
                            who: r.get(3)?,
                            display: r.get(4)?,
                            line: r.get(5)?,
                            direct: r.get(6)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?
            };
            tx.execute("DELETE FROM queued WHERE network = ?1", params![network])?;
            tx.commit()?;
            Ok(lines)
        })
        .await
    }
}

/// The running lease task's handles.
pub(crate) struct Leases {
    pub tenure: Tenure,
    pub role: watch::Receiver<Role>,
    /// Where the `when free` queue is kept; `None` for a bot alone on its network.
    pub store: Option<Leaders>,
}

/// Starts the task that renews this bot's leases every third of a lease, until `stop`. A bot
/// that is alone on its network (`always_lead`, the console) leads from the start and never
/// claims. The task gives up leadership when it stops.
pub(crate) fn start(
    journal: Journal,
    lease: Duration,
    network: &'static str,
    always_lead: bool,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Leases {
    let tenure = Tenure::new(lease);
    let initial = if always_lead {
        Role::Leading {
            took_over_from: None,
        }
    } else {
        Role::Following
    };
    let (role_tx, role) = watch::channel(initial);
    let journal_path = journal.path().to_path_buf();
    let leaders = Leaders::new(journal_path.clone());
    let me = Instance::new();
    // Five renewals a lease: a follower takes over within a fifth of a lease of its end.
    let every = (lease / 5).max(Duration::from_millis(100));
    let task_tenure = tenure.clone();
    tasks.spawn(async move {
        let tenure = task_tenure;
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.cancelled() => break,
            }
            let at = Instant::now();
            next = tokio::time::Instant::from_std(at) + every;
            // A journal that does not answer counts as lost: no call may hold the heartbeat
            // for longer than the lease.
            let beat = tokio::time::timeout(lease, journal.heartbeat()).await;
            let claim = if always_lead {
                None
            } else {
                Some(tokio::time::timeout(lease, leaders.claim(network, &me, lease)).await)
            };
            let renewed =
                matches!(beat, Ok(Ok(_))) && !matches!(claim, Some(Err(_)) | Some(Ok(Err(_))));
            match (&beat, &claim) {
                (Ok(Err(e)), _) => tracing::warn!("cannot renew the deploy leases: {e}"),
                (Err(_), _) => {
                    tracing::warn!("cannot renew the deploy leases: the journal does not answer")
                }
                (_, Some(Ok(Err(e)))) => tracing::warn!("cannot renew the lead: {e}"),
                (_, Some(Err(_))) => {
                    tracing::warn!("cannot renew the lead: the journal does not answer")
                }
                _ => {}
            }
            if renewed {
                tenure.renewed(at);
            }
            let next = match claim {
                None => continue,
                Some(Ok(Ok(Claim::Leads { from }))) => match &*role_tx.borrow() {
                    Role::Leading { took_over_from } => Role::Leading {
                        took_over_from: from.or_else(|| took_over_from.clone()),
                    },
                    Role::Following => Role::Leading {
                        took_over_from: from,
                    },
                },
                Some(Ok(Ok(Claim::Follows { expires_in, .. }))) => {
                    // A follower claims again right when the leader's lease runs out.
                    let expiry =
                        tokio::time::Instant::from_std(at) + expires_in + Duration::from_millis(5);
                    next = next.min(expiry);
                    Role::Following
                }
                // Unsure: keep leading while the lease lasts, then be quiet.
                _ if tenure.lost() => Role::Following,
                _ => continue,
            };
            role_tx.send_if_modified(|role| {
                let changed = std::mem::discriminant(role) != std::mem::discriminant(&next);
                if changed {
                    match &next {
                        Role::Leading { .. } => {
                            tracing::info!(instance = %me.id, network, "this bot leads")
                        }
                        Role::Following => {
                            tracing::info!(instance = %me.id, network, "this bot follows")
                        }
                    }
                    *role = next;
                }
                changed
            });
        }
        if !always_lead && let Err(e) = leaders.resign(network, &me).await {
            tracing::warn!("cannot give up the lead: {e}");
        }
    });
    Leases {
        tenure,
        role,
        store: (!always_lead).then(|| Leaders::new(journal_path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str) -> Instance {
        Instance {
            id: id.into(),
            host: id.split('/').next().unwrap().into(),
        }
    }

    #[tokio::test]
    async fn one_instance_leads_until_its_lease_runs_out_or_it_resigns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        Journal::open(&path).await.unwrap();
        let leaders = Leaders::new(path);
        let (a, b) = (instance("a/1"), instance("b/2"));
        let lease = Duration::from_millis(300);
        assert_eq!(
            leaders.claim("xmpp", &a, lease).await.unwrap(),
            Claim::Leads { from: None }
        );
        assert!(matches!(
            leaders.claim("xmpp", &b, lease).await.unwrap(),
            Claim::Follows { host, .. } if host == "a"
        ));
        // Another network has its own leader.
        assert_eq!(
            leaders.claim("slack", &b, lease).await.unwrap(),
            Claim::Leads { from: None }
        );
        assert_eq!(
            leaders.claim("xmpp", &a, lease).await.unwrap(),
            Claim::Leads { from: None }
        );
        // a stops renewing: once its lease ran out, b takes over and says from whom.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match leaders.claim("xmpp", &b, lease).await.unwrap() {
                Claim::Leads { from } => {
                    assert_eq!(from.as_deref(), Some("a"));
                    break;
                }
                Claim::Follows { .. } => assert!(Instant::now() < deadline),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(matches!(
            leaders.claim("xmpp", &a, lease).await.unwrap(),
            Claim::Follows { host, .. } if host == "b"
        ));
        // The queue outlives its leader.
        let line = QueuedLine {
            app: "blog".into(),
            env: "live".into(),
            room: "ops@muc".into(),
            who: Some("bob@example.org".into()),
            display: "bob".into(),
            line: "!deploy blog to live when free".into(),
            direct: false,
        };
        leaders.queue("xmpp", line.clone()).await.unwrap();
        leaders
            .queue(
                "xmpp",
                QueuedLine {
                    who: None,
                    ..line.clone()
                },
            )
            .await
            .unwrap();
        leaders.dequeue("xmpp", "blog", "live", None).await.unwrap();
        assert_eq!(leaders.take_queue("slack").await.unwrap(), vec![]);
        assert_eq!(leaders.take_queue("xmpp").await.unwrap(), vec![line]);
        assert_eq!(leaders.take_queue("xmpp").await.unwrap(), vec![]);
        // b resigns: a leads at once.
        leaders.resign("xmpp", &b).await.unwrap();
        assert_eq!(
            leaders.claim("xmpp", &a, lease).await.unwrap(),
            Claim::Leads { from: None }
        );
    }
}
