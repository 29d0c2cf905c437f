//! The SQLite backend of the journal (WAL), the embedded default: deploys, steps, files, locks.
//!
//! Every method is async and runs its SQL on the blocking pool, so the runtime never waits on
//! the disk. A step's intent is committed before the step runs and its outcome after, so after a
//! crash the journal says exactly what may have happened and how to undo it.

mod chat;
mod freeze;
mod group;
mod history;
mod leaders;
mod records;
pub(crate) mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use super::types::*;
use super::{JournalError, Owner};

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> JournalError {
        JournalError::Database(Box::new(e))
    }
}

/// The SQLite backend: one connection, used from the blocking pool.
#[derive(Clone)]
pub(super) struct Sqlite {
    conn: Arc<Mutex<Connection>>,
    /// The step records waiting for their group commit.
    group: group::Group,
    path: PathBuf,
}

impl Sqlite {
    /// Opens (creating if needed) the journal at `path`.
    pub(super) fn open_blocking(path: &Path) -> Result<Sqlite, JournalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let open = |path: &Path| -> Result<Connection, rusqlite::Error> {
            let mut conn = Connection::open(path)?;
            schema::prepare(&mut conn)?;
            Ok(conn)
        };
        let conn = open(path).map_err(|source| JournalError::Open {
            location: path.display().to_string(),
            source: Box::new(source),
        })?;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            group: group::Group::default(),
            path: path.to_path_buf(),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(in crate::journal) async fn with<T, F>(&self, f: F) -> Result<T, JournalError>
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
    pub(super) async fn begin(
        &self,
        new: NewDeploy,
        owner: Arc<Owner>,
    ) -> Result<Result<i64, LockRecord>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some(held) = records::conflicting_lock(&tx, &new.app, &new.env)? {
                return Ok(Err(held));
            }
            let now = crate::clock::now_ms();
            let generation = records::next_generation(&tx)?;
            tx.execute(
                "INSERT INTO deploys (kind, app, env, reference, revision, tag, release, previous_release,
                   previous_revision, requested_by, room, state, plan, started_at, owner_pid, generation, owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', ?12, ?13, ?14, ?15, ?16)",
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
                    owner.pid,
                    generation,
                    owner.instance,
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
                &owner,
            )?;
            tx.commit()?;
            Ok(Ok(id))
        })
        .await
    }

    /// Records the end of a deploy and releases its lock.
    pub(super) async fn finish(
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
    pub(super) async fn intent(
        &self,
        deploy_id: i64,
        step: StepIntent,
    ) -> Result<i64, JournalError> {
        self.group.write(&self.conn, move |conn| {
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
    pub(super) async fn outcome(
        &self,
        step_id: i64,
        state: StepState,
        output: String,
    ) -> Result<(), JournalError> {
        self.group.write(&self.conn, move |conn| {
            conn.execute(
                "UPDATE steps SET state = ?2, output = ?3, finished_at = ?4 WHERE id = ?1 AND state = 'intent'",
                params![step_id, state.as_str(), output, crate::clock::now_ms()],
            )?;
            Ok(0)
        })
        .await
        .map(drop)
    }

    /// Marks a step as undone (or its undo as failed).
    pub(super) async fn mark(&self, step_id: i64, state: StepState) -> Result<(), JournalError> {
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
    pub(super) async fn record_files(
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

    pub(super) async fn steps(&self, deploy_id: i64) -> Result<Vec<StepRecord>, JournalError> {
        self.with(move |conn| records::steps_of(conn, deploy_id))
            .await
    }

    pub(super) async fn files(&self, deploy_id: i64) -> Result<Vec<FileRecord>, JournalError> {
        self.with(move |conn| records::files_of(conn, deploy_id))
            .await
    }

    /// The newest deploys first, optionally of one app and environment.
    pub(super) async fn history(
        &self,
        app: Option<String>,
        env: Option<String>,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, JournalError> {
        self.with(move |conn| records::history(conn, app.as_deref(), env.as_deref(), limit))
            .await
    }

    /// What is live: the newest successful deploy or rollback of `app` in `env`.
    pub(super) async fn live(
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
    pub(super) async fn introduced(
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
    pub(super) async fn introduced_or_tried(
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
    pub(super) async fn last_in_room(
        &self,
        room: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
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

    /// Every release name this app has had in this environment (to keep new names unique).
    pub(super) async fn release_names(
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
    pub(super) async fn lock(
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
    pub(super) async fn unlock(&self, env: String) -> Result<Option<LockRecord>, JournalError> {
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

    pub(super) async fn locks(&self) -> Result<Vec<LockRecord>, JournalError> {
        self.with(|conn| records::all_locks(conn)).await
    }

    /// Renews the lease of every deploy lock `owner` holds.
    pub(super) async fn heartbeat(&self, owner: Arc<Owner>) -> Result<usize, JournalError> {
        self.with(move |conn| {
            Ok(conn.execute(
                "UPDATE locks SET heartbeat_at = ?1 WHERE owner = ?2 AND kind = 'deploy'",
                params![crate::clock::now_ms(), owner.instance],
            )?)
        })
        .await
    }

    /// The bot instance that began deploy `id` (or took it over last).
    pub(super) async fn owner(&self, id: i64) -> Result<Option<Owner>, JournalError> {
        self.with(move |conn| {
            let (instance, pid) = conn.query_row(
                "SELECT owner, owner_pid FROM deploys WHERE id = ?1",
                params![id],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )?;
            Ok(instance.map(|instance| Owner {
                instance,
                pid: pid.unwrap_or(0) as u32,
            }))
        })
        .await
    }

    /// Now, by this machine's clock: a SQLite journal is only ever shared on one machine.
    pub(super) async fn now_ms(&self) -> Result<i64, JournalError> {
        Ok(crate::clock::now_ms())
    }

    /// The schema version (`user_version`).
    pub(super) async fn schema_version(&self) -> Result<i64, JournalError> {
        self.with(|conn| Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
    }

    /// The fencing generation deploy `id` acts under now: its lock's, while it holds one.
    pub(super) async fn generation(&self, id: i64) -> Result<Option<i64>, JournalError> {
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

    /// Takes over the lock of unfinished deploy `id` to recover it, if it is still held under
    /// `seen` (the generation read when deciding that its bot is gone): a new generation is
    /// issued, the lease renewed under this process, and returned. `None` when someone else
    /// took it over first or it finished meanwhile.
    pub(super) async fn take_over(
        &self,
        id: i64,
        seen: Option<i64>,
        owner: Arc<Owner>,
    ) -> Result<Option<i64>, JournalError> {
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
                        "UPDATE locks SET generation = ?2, owner_pid = ?3, heartbeat_at = ?4, owner = ?5 WHERE deploy_id = ?1",
                        params![id, generation, owner.pid, now, owner.instance],
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
                        &owner,
                    )?;
                    generation
                }
            };
            tx.execute(
                "UPDATE deploys SET generation = ?2, owner_pid = ?3, owner = ?4 WHERE id = ?1",
                params![id, generation, owner.pid, owner.instance],
            )?;
            tx.commit()?;
            Ok(Some(generation))
        })
        .await
    }

    /// This journal's identity (random, made when it was created) and the newest generation
    /// it has issued. Hosts remember both, so a bot can tell an empty or older journal.
    pub(super) async fn identity(&self) -> Result<(String, i64), JournalError> {
        self.with(|conn| records::identity(conn)).await
    }

    /// Makes sure every generation issued from now on is above `seen` (the newest a host
    /// remembers): after a journal was emptied or replaced by an older copy.
    pub(super) async fn raise_generation(&self, seen: i64) -> Result<(), JournalError> {
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
    pub(super) async fn find(&self, id: i64) -> Result<Option<DeployRecord>, JournalError> {
        self.with(move |conn| records::deploy_by_id(conn, id)).await
    }
}
