//! The write-ahead journal (SQLite, WAL): deploys, every step's intent and outcome with its undo, files shipped, locks.
//!
//! Every method is async and runs its SQL on the blocking pool, so the runtime never waits on
//! the disk. A step's intent is committed before the step runs and its outcome after, so after a
//! crash the journal says exactly what may have happened and how to undo it.

mod chat;
mod export;
mod freeze;
mod history;
mod records;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

pub use chat::{MessageRecord, NewMessage};
pub use export::{export, export_to};
pub use freeze::FreezeRecord;
pub use history::{HistoryFilter, HistoryPage};
pub use records::*;

/// Why the journal could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("journal: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("journal: {0}")]
    Io(#[from] std::io::Error),
    #[error("journal: a record could not be read: {0}")]
    Record(#[from] serde_json::Error),
    #[error("journal: no deploy #{0}")]
    NoSuchDeploy(i64),
    #[error("journal: the blocking pool is gone")]
    Join,
}

/// A handle to the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Hides configured secrets in step output before it is kept (`chat.rs`).
    redactor: crate::redact::Redactor,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`.
    pub async fn open(path: &Path) -> Result<Journal, JournalError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Journal::open_blocking(&path))
            .await
            .map_err(|_| JournalError::Join)?
    }

    pub fn open_blocking(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let open = |path: &Path| -> Result<Connection, rusqlite::Error> {
            let mut conn = Connection::open(path)?;
            schema::prepare(&mut conn)?;
            Ok(conn)
        };
        let conn = open(path).map_err(|source| JournalError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Journal {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
            redactor: Default::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, JournalError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|_| JournalError::Join)?
    }

    /// Records a new deploy (or rollback) as running and takes its lock in the same
    /// transaction. Returns the lock's holder instead when the environment is locked.
    pub async fn begin(&self, new: NewDeploy) -> Result<Result<i64, LockRecord>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some(held) = records::conflicting_lock(&tx, &new.app, &new.env)? {
                return Ok(Err(held));
            }
            let now = crate::clock::now_ms();
            let generation = records::next_generation(&tx)?;
            tx.execute(
                "INSERT INTO deploys (kind, app, env, reference, revision, tag, release, previous_release,
                   previous_revision, requested_by, room, state, plan, started_at, owner_pid, generation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', ?12, ?13, ?14, ?15)",
                params![
                    new.kind.as_str(),
                    new.app,
                    new.env,
                    new.reference,
                    new.revision,
                    new.tag,
                    new.release,
                    new.previous_release,
                    new.previous_revision,
                    new.requested_by,
                    new.room,
                    new.plan,
                    now,
                    std::process::id(),
                    generation,
                ],
            )?;
            let id = tx.last_insert_rowid();
            records::insert_deploy_lock(
                &tx,
                &new.app,
                &new.env,
                &new.requested_by,
                &format!("{} #{id}", new.kind.as_str()),
                id,
                generation,
            )?;
            tx.commit()?;
            Ok(Ok(id))
        })
        .await
    }

    /// Records the end of a deploy and releases its lock.
    pub async fn finish(
        &self,
        id: i64,
        state: DeployState,
        summary: String,
    ) -> Result<(), JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE deploys SET state = ?2, summary = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), summary, crate::clock::now_ms()],
            )?;
            tx.execute("DELETE FROM locks WHERE deploy_id = ?1", params![id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Writes a step's intent before it runs. Returns the step's id.
    pub async fn intent(&self, deploy_id: i64, step: StepIntent) -> Result<i64, JournalError> {
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO steps (deploy_id, seq, host, phase, label, action, undo, state, started_at, undo_of)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'intent', ?8, ?9)",
                params![
                    deploy_id,
                    step.seq,
                    step.host,
                    step.phase,
                    step.label,
                    step.action,
                    step.undo,
                    crate::clock::now_ms(),
                    step.undo_of
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    /// Writes a step's outcome after it ran.
    pub async fn outcome(
        &self,
        step_id: i64,
        state: StepState,
        output: String,
    ) -> Result<(), JournalError> {
        let output = self.redactor.redact_owned(output);
        self.with(move |conn| {
            conn.execute(
                "UPDATE steps SET state = ?2, output = ?3, finished_at = ?4 WHERE id = ?1",
                params![step_id, state.as_str(), output, crate::clock::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    /// Marks a step as undone (or its undo as failed).
    pub async fn mark(&self, step_id: i64, state: StepState) -> Result<(), JournalError> {
        self.with(move |conn| {
            conn.execute(
                "UPDATE steps SET state = ?2 WHERE id = ?1",
                params![step_id, state.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    /// Records the files a deploy ships.
    pub async fn record_files(
        &self,
        deploy_id: i64,
        files: Vec<FileRecord>,
    ) -> Result<(), JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO files (deploy_id, path, size, sha256) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for f in &files {
                    insert.execute(params![deploy_id, f.path, f.size as i64, f.sha256])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn deploy(&self, id: i64) -> Result<DeployRecord, JournalError> {
        self.with(move |conn| {
            records::deploy_by_id(conn, id)?.ok_or(JournalError::NoSuchDeploy(id))
        })
        .await
    }

    pub async fn steps(&self, deploy_id: i64) -> Result<Vec<StepRecord>, JournalError> {
        self.with(move |conn| records::steps_of(conn, deploy_id))
            .await
    }

    pub async fn files(&self, deploy_id: i64) -> Result<Vec<FileRecord>, JournalError> {
        self.with(move |conn| records::files_of(conn, deploy_id))
            .await
    }

    /// The newest deploys first, optionally of one app and environment.
    pub async fn history(
        &self,
        app: Option<String>,
        env: Option<String>,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, JournalError> {
        self.with(move |conn| records::history(conn, app.as_deref(), env.as_deref(), limit))
            .await
    }

    /// What is live: the newest successful deploy or rollback of `app` in `env`.
    pub async fn live(
        &self,
        app: String,
        env: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        self.with(move |conn| {
            records::query_deploys(
                conn,
                "WHERE app = ?1 AND env = ?2 AND state = 'succeeded' ORDER BY id DESC LIMIT 1",
                params![app, env],
            )
            .map(|mut v| v.pop())
        })
        .await
    }

    /// The successful deploy (not rollback) that first put `release` live in `app`/`env`.
    pub async fn introduced(
        &self,
        app: String,
        env: String,
        release: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        self.with(move |conn| {
            records::query_deploys(
                conn,
                "WHERE app = ?1 AND env = ?2 AND release = ?3 AND kind = 'deploy' AND state = 'succeeded'
                 ORDER BY id DESC LIMIT 1",
                params![app, env, release],
            )
            .map(|mut v| v.pop())
        })
        .await
    }

    /// The newest deploy (whatever became of it) that shipped `release` to `app`/`env`.
    pub async fn introduced_or_tried(
        &self,
        app: String,
        env: String,
        release: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        self.with(move |conn| {
            records::query_deploys(
                conn,
                "WHERE app = ?1 AND env = ?2 AND release = ?3 AND kind = 'deploy'
                 ORDER BY id DESC LIMIT 1",
                params![app, env, release],
            )
            .map(|mut v| v.pop())
        })
        .await
    }

    /// The newest deploy or rollback asked for from `room`.
    pub async fn last_in_room(&self, room: String) -> Result<Option<DeployRecord>, JournalError> {
        self.with(move |conn| {
            records::query_deploys(
                conn,
                "WHERE room = ?1 ORDER BY id DESC LIMIT 1",
                params![room],
            )
            .map(|mut v| v.pop())
        })
        .await
    }

    /// Deploys left running by a bot that is gone.
    pub async fn unfinished(&self) -> Result<Vec<DeployRecord>, JournalError> {
        self.with(|conn| {
            records::query_deploys(conn, "WHERE state = 'running' ORDER BY id", params![])
        })
        .await
    }

    /// Every release name this app has had in this environment (to keep new names unique).
    pub async fn release_names(
        &self,
        app: String,
        env: String,
    ) -> Result<Vec<String>, JournalError> {
        self.with(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT release FROM deploys WHERE app = ?1 AND env = ?2 AND release IS NOT NULL",
            )?;
            let names = stmt.query_map(params![app, env], |r| r.get::<_, String>(0))?;
            Ok(names.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Takes a manual lock on `env` for every app. Returns the holder when already locked.
    pub async fn lock(
        &self,
        env: String,
        holder: String,
        reason: String,
    ) -> Result<Result<(), LockRecord>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let existing: Option<LockRecord> = records::locks_on_env(&tx, &env)?.into_iter().next();
            if let Some(held) = existing {
                return Ok(Err(held));
            }
            tx.execute(
                "INSERT INTO locks (app, env, kind, holder, reason, since, deploy_id) VALUES ('*', ?1, 'manual', ?2, ?3, ?4, NULL)",
                params![env, holder, reason, crate::clock::now_ms()],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
    }

    /// Removes the manual lock on `env`; returns it, or `None` when there was none.
    pub async fn unlock(&self, env: String) -> Result<Option<LockRecord>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let held = records::locks_on_env(&tx, &env)?
                .into_iter()
                .find(|l| l.kind == "manual");
            tx.execute(
                "DELETE FROM locks WHERE env = ?1 AND kind = 'manual'",
                params![env],
            )?;
            tx.commit()?;
            Ok(held)
        })
        .await
    }

    pub async fn locks(&self) -> Result<Vec<LockRecord>, JournalError> {
        self.with(|conn| records::all_locks(conn)).await
    }

    /// Renews the lease of every deploy lock this process holds.
    pub async fn heartbeat(&self) -> Result<usize, JournalError> {
        self.with(|conn| {
            Ok(conn.execute(
                "UPDATE locks SET heartbeat_at = ?1 WHERE owner_pid = ?2 AND kind = 'deploy'",
                params![crate::clock::now_ms(), std::process::id()],
            )?)
        })
        .await
    }

    /// The process id of the bot that began deploy `id`.
    pub async fn owner_pid(&self, id: i64) -> Result<Option<u32>, JournalError> {
        self.with(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT owner_pid FROM deploys WHERE id = ?1",
                    params![id],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .map(|p| p as u32))
        })
        .await
    }

    /// The fencing generation deploy `id` acts under now: its lock's, while it holds one.
    pub async fn generation(&self, id: i64) -> Result<Option<i64>, JournalError> {
        self.with(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT generation FROM locks WHERE deploy_id = ?1",
                    params![id],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .optional()?
                .flatten())
        })
        .await
    }

    /// Whether deploy `id` still holds its lock under `generation`: false once another bot has
    /// taken it over (or it finished). A bot checks this before every step.
    pub async fn still_holds(&self, id: i64, generation: i64) -> Result<bool, JournalError> {
        Ok(self.generation(id).await? == Some(generation))
    }

    /// Takes over the lock of unfinished deploy `id` to recover it, if it is still held under
    /// `seen` (the generation read when deciding that its bot is gone): a new generation is
    /// issued, the lease renewed under this process, and returned. `None` when someone else
    /// took it over first or it finished meanwhile.
    pub async fn take_over(&self, id: i64, seen: Option<i64>) -> Result<Option<i64>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let deploy = records::deploy_by_id(&tx, id)?.ok_or(JournalError::NoSuchDeploy(id))?;
            if deploy.state != DeployState::Running {
                return Ok(None);
            }
            let held: Option<Option<i64>> = tx
                .query_row(
                    "SELECT generation FROM locks WHERE deploy_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            let now = crate::clock::now_ms();
            let generation = match held {
                Some(current) if current != seen => return Ok(None),
                Some(_) => {
                    let generation = records::next_generation(&tx)?;
                    tx.execute(
                        "UPDATE locks SET generation = ?2, owner_pid = ?3, heartbeat_at = ?4 WHERE deploy_id = ?1",
                        params![id, generation, std::process::id(), now],
                    )?;
                    generation
                }
                // A running deploy without its lock (a journal edited by hand): take both.
                None => {
                    let generation = records::next_generation(&tx)?;
                    tx.execute(
                        "DELETE FROM locks WHERE app = ?1 AND env = ?2",
                        params![deploy.app, deploy.env],
                    )?;
                    records::insert_deploy_lock(
                        &tx,
                        &deploy.app,
                        &deploy.env,
                        &deploy.requested_by,
                        &format!("{} #{id}", deploy.kind.as_str()),
                        id,
                        generation,
                    )?;
                    generation
                }
            };
            tx.execute(
                "UPDATE deploys SET generation = ?2, owner_pid = ?3 WHERE id = ?1",
                params![id, generation, std::process::id()],
            )?;
            tx.commit()?;
            Ok(Some(generation))
        })
        .await
    }

    /// This journal's identity (random, made when it was created) and the newest generation
    /// it has issued. Hosts remember both, so a bot can tell an empty or older journal.
    pub async fn identity(&self) -> Result<(String, i64), JournalError> {
        self.with(|conn| records::identity(conn)).await
    }

    /// Makes sure every generation issued from now on is above `seen` (the newest a host
    /// remembers): after a journal was emptied or replaced by an older copy.
    pub async fn raise_generation(&self, seen: i64) -> Result<(), JournalError> {
        self.with(move |conn| {
            conn.execute(
                "UPDATE meta SET value = CAST(?1 AS TEXT) WHERE key = 'generation' AND CAST(value AS INTEGER) < ?1",
                params![seen],
            )?;
            Ok(())
        })
        .await
    }

    /// Looks up a deploy by id, if it exists.
    pub async fn find(&self, id: i64) -> Result<Option<DeployRecord>, JournalError> {
        self.with(move |conn| records::deploy_by_id(conn, id)).await
    }
}

#[cfg(test)]
mod tests;
