//! The PostgreSQL backend of the journal, for several bots sharing one: a pool of connections
//! (deadpool), TLS through rustls, times from the database's clock, and every operation that
//! takes, moves or drops a lock serialised per environment by a transaction-scoped advisory lock.

mod leaders;
pub(crate) mod schema;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::location::{PgSettings, PgTls, without_password};
use super::types::*;
use super::{JournalError, Owner};

/// Now, by the database's clock, in ms since the epoch.
const NOW: &str = "(extract(epoch from clock_timestamp())*1000)::bigint";

impl From<tokio_postgres::Error> for JournalError {
    fn from(e: tokio_postgres::Error) -> JournalError {
        // The driver's own text is often just "db error" or "error performing TLS handshake":
        // keep the server's message, or the causes (the certificate the CA did not sign, the
        // server without TLS, the refused connection).
        match e.as_db_error() {
            Some(db) => {
                JournalError::Database(format!("{}: {}", db.severity(), db.message()).into())
            }
            None => JournalError::Database(with_causes(&e).into()),
        }
    }
}

/// An error's text, then each of its causes' that does not repeat it, `: `-separated.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

impl From<deadpool_postgres::PoolError> for JournalError {
    fn from(e: deadpool_postgres::PoolError) -> JournalError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => JournalError::Database(Box::new(e)),
        }
    }
}

/// The PostgreSQL backend.
#[derive(Clone)]
pub(super) struct Postgres {
    pool: Pool,
    /// The URL without its password, for people.
    describe: Arc<str>,
}

/// How many connections one bot keeps at most.
const POOL_SIZE: usize = 8;

/// How long the server lets one of the journal's transactions sit idle before it ends the
/// session. A journal transaction only ever waits on the database itself, so one idle this long
/// belongs to a bot that was cut off (or stopped) in the middle of it; without this its locks
/// (the advisory lock of a leader claim, a lock row) would stay held until the server noticed
/// the dead connection, which a silent network can put off for hours, and every other bot would
/// wait on them.
pub(super) const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(2);

/// A pool of at most `size` connections (none opened yet), and the URL without its password.
async fn pool(settings: &PgSettings, size: usize) -> Result<(Pool, Arc<str>), JournalError> {
    let describe: Arc<str> = without_password(&settings.url).into();
    let mut config: tokio_postgres::Config = settings.url.parse().map_err(|e| {
        JournalError::Settings(format!(
            "[journal] url {describe} is not a PostgreSQL URL: {e}"
        ))
    })?;
    if let Some(password) = &settings.password {
        config.password(password.as_bytes());
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let idle = format!(
        "-c idle_in_transaction_session_timeout={}",
        IDLE_IN_TRANSACTION.as_millis()
    );
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {idle}"),
        _ => idle,
    };
    config.options(&options);
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match settings.tls {
        PgTls::Disable => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        PgTls::Require => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let ca_file = settings.ca_file.clone();
            let tls = tokio::task::spawn_blocking(move || tls::connector(ca_file.as_deref()))
                .await
                .map_err(|_| JournalError::Join)??;
            Manager::from_config(config, tls, manager_config)
        }
    };
    let pool = Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(15)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| JournalError::Settings(format!("[journal] url {describe}: {e}")))?;
    Ok((pool, describe))
}

/// A first connection's failure, naming the config key to look at.
fn explain(describe: &str, error: JournalError) -> JournalError {
    let text = error.to_string();
    let text = text.strip_prefix("journal: ").unwrap_or(&text);
    let key = if text.contains("password") || text.contains("authentication") {
        "[journal] password_env / password_file"
    } else if text.contains("TLS")
        || text.contains("tls")
        || text.contains("certificate")
        // The server turns away connections without TLS.
        || text.contains("no encryption")
    {
        "[journal] tls / ca_file"
    } else {
        "[journal] url"
    };
    // rustls names the problem in a word: say it for people.
    let hint = if text.contains("UnknownIssuer") {
        " (the server's certificate is signed by no CA trusted here: the one in ca_file, or \
         without ca_file the system's)"
    } else {
        ""
    };
    JournalError::Settings(format!("{key}: cannot connect to {describe}: {text}{hint}"))
}

impl Postgres {
    /// Connects, checks the settings by opening one connection, and brings the schema up to date.
    pub(super) async fn connect(settings: &PgSettings) -> Result<Postgres, JournalError> {
        let (pool, describe) = pool(settings, POOL_SIZE).await?;
        {
            let mut client = pool.get().await.map_err(|e| explain(&describe, e.into()))?;
            schema::prepare(&mut client)
                .await
                .map_err(|e| JournalError::Open {
                    location: describe.to_string(),
                    source: Box::new(e),
                })?;
        }
        Ok(Postgres { pool, describe })
    }

    /// Connects once and reads the schema version, changing nothing (`bosun check`).
    pub(super) async fn check(settings: &PgSettings) -> Result<String, JournalError> {
        let (pool, describe) = pool(settings, 1).await?;
        let mut client = pool.get().await.map_err(|e| explain(&describe, e.into()))?;
        let tx = client.transaction().await?;
        let exists: bool = tx
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
            .await?
            .get(0);
        let version = if exists {
            schema::current(&tx).await?
        } else {
            0
        };
        tx.commit().await?;
        let now = match version {
            0 => "empty (its tables are made on first start)".to_string(),
            v => format!("schema version {v}"),
        };
        Ok(format!(
            "journal {describe}: PostgreSQL, {now} (current {})",
            schema::VERSION
        ))
    }

    pub(super) fn describe(&self) -> String {
        self.describe.to_string()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, JournalError> {
        Ok(self.pool.get().await?)
    }

    pub(super) async fn schema_version(&self) -> Result<i64, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let version = schema::current(&tx).await?;
        tx.commit().await?;
        Ok(version)
    }

    pub(super) async fn now_ms(&self) -> Result<i64, JournalError> {
        let client = self.client().await?;
        Ok(client
            .query_one(&format!("SELECT {NOW}"), &[])
            .await?
            .get(0))
    }

    pub(super) async fn begin(
        &self,
        new: NewDeploy,
        owner: Arc<Owner>,
    ) -> Result<Result<i64, LockRecord>, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_env(&tx, &new.env).await?;
        if let Some(held) = conflicting_lock(&tx, &new.app, &new.env).await? {
            return Ok(Err(held));
        }
        let generation = next_generation(&tx).await?;
        let pid = i64::from(owner.pid);
        let id: i64 = tx
            .query_one(
                &format!(
                    "INSERT INTO deploys (kind, app, env, reference, revision, tag, release, previous_release,
                       previous_revision, requested_by, room, state, plan, started_at, owner_pid, generation, owner)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'running', $12, {NOW}, $13, $14, $15)
                     RETURNING id"
                ),
                &[
                    &new.kind.as_str(),
                    &new.app,
                    &new.env,
                    &new.reference,
                    &new.revision,
                    &new.tag,
                    &new.release,
                    &new.previous_release,
                    &new.previous_revision,
                    &new.requested_by,
                    &new.room,
                    &new.plan,
                    &pid,
                    &generation,
                    &owner.instance,
                ],
            )
            .await?
            .get(0);
        insert_deploy_lock(
            &tx,
            &new.app,
            &new.env,
            &new.requested_by,
            &format!("{} #{id}", new.kind.as_str()),
            id,
            generation,
            &owner,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(id))
    }

    pub(super) async fn finish(
        &self,
        id: i64,
        state: DeployState,
        summary: String,
    ) -> Result<(), JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(row) = tx
            .query_opt("SELECT env FROM deploys WHERE id = $1", &[&id])
            .await?
        {
            lock_env(&tx, row.get(0)).await?;
        }
        tx.execute(
            &format!(
                "UPDATE deploys SET state = $2, summary = $3, finished_at = {NOW} WHERE id = $1"
            ),
            &[&id, &state.as_str(), &summary],
        )
        .await?;
        tx.execute("DELETE FROM locks WHERE deploy_id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn intent(
        &self,
        deploy_id: i64,
        step: StepIntent,
    ) -> Result<i64, JournalError> {
        let client = self.client().await?;
        Ok(client
            .query_one(
                &format!(
                    "INSERT INTO steps (deploy_id, seq, host, phase, label, action, undo, state, started_at, undo_of)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'intent', {NOW}, $8) RETURNING id"
                ),
                &[
                    &deploy_id,
                    &step.seq,
                    &step.host,
                    &step.phase,
                    &step.label,
                    &step.action,
                    &step.undo,
                    &step.undo_of,
                ],
            )
            .await?
            .get(0))
    }

    pub(super) async fn outcome(
        &self,
        step_id: i64,
        state: StepState,
        output: String,
    ) -> Result<(), JournalError> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "UPDATE steps SET state = $2, output = $3, finished_at = {NOW} WHERE id = $1 AND state = 'intent'"
                ),
                &[&step_id, &state.as_str(), &output],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn mark(&self, step_id: i64, state: StepState) -> Result<(), JournalError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE steps SET state = $2 WHERE id = $1",
                &[&step_id, &state.as_str()],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn record_files(
        &self,
        deploy_id: i64,
        files: Vec<FileRecord>,
    ) -> Result<(), JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let insert = tx
            .prepare("INSERT INTO files (deploy_id, path, size, sha256) VALUES ($1, $2, $3, $4)")
            .await?;
        for f in &files {
            tx.execute(&insert, &[&deploy_id, &f.path, &(f.size as i64), &f.sha256])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn find(&self, id: i64) -> Result<Option<DeployRecord>, JournalError> {
        let client = self.client().await?;
        Ok(query_deploys(&client, "WHERE id = $1", &[&id]).await?.pop())
    }

    pub(super) async fn steps(&self, deploy_id: i64) -> Result<Vec<StepRecord>, JournalError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, deploy_id, seq, host, phase, label, action, undo, state, output, started_at, finished_at, undo_of
                 FROM steps WHERE deploy_id = $1 ORDER BY id",
                &[&deploy_id],
            )
            .await?;
        Ok(rows.iter().map(step_from_row).collect())
    }

    pub(super) async fn files(&self, deploy_id: i64) -> Result<Vec<FileRecord>, JournalError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT path, size, sha256 FROM files WHERE deploy_id = $1 ORDER BY path",
                &[&deploy_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| FileRecord {
                path: r.get(0),
                size: r.get::<_, i64>(1) as u64,
                sha256: r.get(2),
            })
            .collect())
    }

    pub(super) async fn history(
        &self,
        app: Option<String>,
        env: Option<String>,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, JournalError> {
        let client = self.client().await?;
        query_deploys(
            &client,
            "WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR env = $2) ORDER BY id DESC LIMIT $3",
            &[&app, &env, &(limit as i64)],
        )
        .await
    }

    pub(super) async fn history_page(
        &self,
        filter: HistoryFilter,
    ) -> Result<HistoryPage, JournalError> {
        const WHERE: &str =
            "WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR env = $2)
           AND ($3::text IS NULL OR requested_by = $3) AND ($4::text IS NULL OR state = $4)";
        let client = self.client().await?;
        let limit = filter.limit.clamp(1, 500);
        let state = filter.state.map(|s| s.as_str());
        let mut deploys = query_deploys(
            &client,
            &format!("{WHERE} AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"),
            &[
                &filter.app,
                &filter.env,
                &filter.person,
                &state,
                &filter.before,
                &(limit as i64 + 1),
            ],
        )
        .await?;
        let next_before = if deploys.len() > limit {
            deploys.truncate(limit);
            deploys.last().map(|d| d.id)
        } else {
            None
        };
        let total: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) FROM deploys {WHERE}"),
                &[&filter.app, &filter.env, &filter.person, &state],
            )
            .await?
            .get(0);
        Ok(HistoryPage {
            deploys,
            next_before,
            total,
        })
    }

    async fn one_deploy(
        &self,
        tail: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<DeployRecord>, JournalError> {
        let client = self.client().await?;
        Ok(query_deploys(&client, tail, params).await?.pop())
    }

    pub(super) async fn live(
        &self,
        app: String,
        env: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        self.one_deploy(
            "WHERE app = $1 AND env = $2 AND state = 'succeeded' ORDER BY id DESC LIMIT 1",
            &[&app, &env],
        )
        .await
    }

    pub(super) async fn introduced(
        &self,
        app: String,
        env: String,
        release: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        self.one_deploy(
            "WHERE app = $1 AND env = $2 AND release = $3 AND kind = 'deploy' AND state = 'succeeded'
             ORDER BY id DESC LIMIT 1",
            &[&app, &env, &release],
        )
        .await
    }

    pub(super) async fn introduced_or_tried(
        &self,
        app: String,
        env: String,
        release: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        self.one_deploy(
            "WHERE app = $1 AND env = $2 AND release = $3 AND kind = 'deploy' ORDER BY id DESC LIMIT 1",
            &[&app, &env, &release],
        )
        .await
    }

    pub(super) async fn last_in_room(
        &self,
        room: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        self.one_deploy("WHERE room = $1 ORDER BY id DESC LIMIT 1", &[&room])
            .await
    }

    pub(super) async fn running(&self) -> Result<Vec<DeployRecord>, JournalError> {
        let client = self.client().await?;
        query_deploys(&client, "WHERE state = 'running' ORDER BY id", &[]).await
    }

    pub(super) async fn need_a_look(&self) -> Result<Vec<DeployRecord>, JournalError> {
        let client = self.client().await?;
        query_deploys(
            &client,
            "AS d WHERE state = 'failed' AND NOT EXISTS (
               SELECT 1 FROM deploys AS s
               WHERE s.app = d.app AND s.env = d.env AND s.state = 'succeeded' AND s.id > d.id)
             ORDER BY id DESC LIMIT 50",
            &[],
        )
        .await
    }

    pub(super) async fn succeeded(
        &self,
        app: String,
        env: String,
    ) -> Result<Vec<DeployRecord>, JournalError> {
        let client = self.client().await?;
        query_deploys(
            &client,
            "WHERE app = $1 AND env = $2 AND state = 'succeeded' ORDER BY id",
            &[&app, &env],
        )
        .await
    }

    pub(super) async fn release_names(
        &self,
        app: String,
        env: String,
    ) -> Result<Vec<String>, JournalError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT release FROM deploys WHERE app = $1 AND env = $2 AND release IS NOT NULL",
                &[&app, &env],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(super) async fn lock(
        &self,
        env: String,
        holder: String,
        reason: String,
    ) -> Result<Result<(), LockRecord>, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_env(&tx, &env).await?;
        if let Some(held) = locks_on_env(&tx, &env).await?.into_iter().next() {
            return Ok(Err(held));
        }
        tx.execute(
            &format!(
                "INSERT INTO locks (app, env, kind, holder, reason, since, deploy_id)
                 VALUES ('*', $1, 'manual', $2, $3, {NOW}, NULL)"
            ),
            &[&env, &holder, &reason],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub(super) async fn unlock(&self, env: String) -> Result<Option<LockRecord>, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_env(&tx, &env).await?;
        let held = locks_on_env(&tx, &env)
            .await?
            .into_iter()
            .find(|l| l.kind == "manual");
        tx.execute(
            "DELETE FROM locks WHERE env = $1 AND kind = 'manual'",
            &[&env],
        )
        .await?;
        tx.commit().await?;
        Ok(held)
    }

    pub(super) async fn locks(&self) -> Result<Vec<LockRecord>, JournalError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {LOCK_COLUMNS} FROM locks ORDER BY env, app"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(lock_from_row).collect())
    }

    pub(super) async fn heartbeat(&self, owner: Arc<Owner>) -> Result<usize, JournalError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                &format!(
                    "UPDATE locks SET heartbeat_at = {NOW} WHERE owner = $1 AND kind = 'deploy'"
                ),
                &[&owner.instance],
            )
            .await? as usize)
    }

    pub(super) async fn owner(&self, id: i64) -> Result<Option<Owner>, JournalError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT owner, owner_pid FROM deploys WHERE id = $1", &[&id])
            .await?
            .ok_or(JournalError::NoSuchDeploy(id))?;
        let instance: Option<String> = row.get(0);
        let pid: Option<i64> = row.get(1);
        Ok(instance.map(|instance| Owner {
            instance,
            pid: pid.unwrap_or(0) as u32,
        }))
    }

    pub(super) async fn generation(&self, id: i64) -> Result<Option<i64>, JournalError> {
        let client = self.client().await?;
        Ok(client
            .query_opt("SELECT generation FROM locks WHERE deploy_id = $1", &[&id])
            .await?
            .and_then(|r| r.get(0)))
    }

    pub(super) async fn take_over(
        &self,
        id: i64,
        seen: Option<i64>,
        owner: Arc<Owner>,
    ) -> Result<Option<i64>, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(env) = tx
            .query_opt("SELECT env FROM deploys WHERE id = $1", &[&id])
            .await?
        else {
            return Err(JournalError::NoSuchDeploy(id));
        };
        lock_env(&tx, env.get(0)).await?;
        let deploy = query_deploys(&tx, "WHERE id = $1", &[&id])
            .await?
            .pop()
            .ok_or(JournalError::NoSuchDeploy(id))?;
        if deploy.state != DeployState::Running {
            return Ok(None);
        }
        let held: Option<Option<i64>> = tx
            .query_opt("SELECT generation FROM locks WHERE deploy_id = $1", &[&id])
            .await?
            .map(|r| r.get(0));
        let pid = i64::from(owner.pid);
        let generation = match held {
            Some(current) if current != seen => return Ok(None),
            Some(_) => {
                let generation = next_generation(&tx).await?;
                tx.execute(
                    &format!(
                        "UPDATE locks SET generation = $2, owner_pid = $3, heartbeat_at = {NOW}, owner = $4
                         WHERE deploy_id = $1"
                    ),
                    &[&id, &generation, &pid, &owner.instance],
                )
                .await?;
                generation
            }
            // A running deploy without its lock (a journal edited by hand): take both.
            None => {
                let generation = next_generation(&tx).await?;
                tx.execute(
                    "DELETE FROM locks WHERE app = $1 AND env = $2",
                    &[&deploy.app, &deploy.env],
                )
                .await?;
                insert_deploy_lock(
                    &tx,
                    &deploy.app,
                    &deploy.env,
                    &deploy.requested_by,
                    &format!("{} #{id}", deploy.kind.as_str()),
                    id,
                    generation,
                    &owner,
                )
                .await?;
                generation
            }
        };
        tx.execute(
            "UPDATE deploys SET generation = $2, owner_pid = $3, owner = $4 WHERE id = $1",
            &[&id, &generation, &pid, &owner.instance],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(generation))
    }

    pub(super) async fn identity(&self) -> Result<(String, i64), JournalError> {
        let client = self.client().await?;
        let id: String = client
            .query_one("SELECT value FROM meta WHERE key = 'journal_id'", &[])
            .await?
            .get(0);
        let generation: i64 = client
            .query_one(
                "SELECT value::bigint FROM meta WHERE key = 'generation'",
                &[],
            )
            .await?
            .get(0);
        Ok((id, generation))
    }

    pub(super) async fn raise_generation(&self, seen: i64) -> Result<(), JournalError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE meta SET value = $1::bigint::text WHERE key = 'generation' AND value::bigint < $1::bigint",
                &[&seen],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn record_messages(
        &self,
        messages: Vec<NewMessage>,
    ) -> Result<(), JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let insert = tx
            .prepare(
                "INSERT INTO messages (deploy_id, at, room, kind, text)
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM deploys WHERE id = $1)",
            )
            .await?;
        for m in &messages {
            tx.execute(&insert, &[&m.deploy_id, &m.at, &m.room, &m.kind, &m.text])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn messages(
        &self,
        deploy_id: i64,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT at, room, kind, text FROM messages WHERE deploy_id = $1 ORDER BY id",
                &[&deploy_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| MessageRecord {
                at: r.get(0),
                room: r.get(1),
                kind: r.get(2),
                text: r.get(3),
            })
            .collect())
    }

    pub(super) async fn freeze(
        &self,
        env: String,
        holder: String,
        reason: String,
        until: Option<i64>,
    ) -> Result<Option<FreezeRecord>, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_env(&tx, &env).await?;
        let previous = freeze_on(&tx, &env).await?;
        tx.execute(
            &format!(
                r#"INSERT INTO freezes (env, holder, reason, since, "until") VALUES ($1, $2, $3, {NOW}, $4)
                   ON CONFLICT (env) DO UPDATE SET holder = EXCLUDED.holder, reason = EXCLUDED.reason,
                     since = EXCLUDED.since, "until" = EXCLUDED."until""#
            ),
            &[&env, &holder, &reason, &until],
        )
        .await?;
        tx.commit().await?;
        Ok(previous)
    }

    pub(super) async fn unfreeze(&self, env: String) -> Result<Option<FreezeRecord>, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_env(&tx, &env).await?;
        let previous = freeze_on(&tx, &env).await?;
        tx.execute("DELETE FROM freezes WHERE env = $1", &[&env])
            .await?;
        tx.commit().await?;
        Ok(previous)
    }

    pub(super) async fn freezes(&self) -> Result<Vec<FreezeRecord>, JournalError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {FREEZE_COLUMNS} FROM freezes ORDER BY env"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(freeze_from_row).collect())
    }

    /// The pool, for copying a journal in (`migrate-journal`).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Serialises, until the end of the transaction, everything that takes, moves or drops a lock
/// or a freeze on `env` (a manual lock holds the environment for every app, so the key is the
/// environment): under READ COMMITTED, the check and the insert that follows then see every
/// earlier holder's committed rows.
async fn lock_env(tx: &tokio_postgres::Transaction<'_>, env: &str) -> Result<(), JournalError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("bosun.env/{env}")],
    )
    .await?;
    Ok(())
}

const DEPLOY_COLUMNS: &str = "id, kind, app, env, reference, revision, tag, release, previous_release,
    previous_revision, requested_by, room, state, plan, summary, started_at, finished_at, generation";

fn deploy_from_row(r: &Row) -> DeployRecord {
    DeployRecord {
        id: r.get(0),
        kind: DeployKind::parse(r.get(1)),
        app: r.get(2),
        env: r.get(3),
        reference: r.get(4),
        revision: r.get(5),
        tag: r.get(6),
        release: r.get(7),
        previous_release: r.get(8),
        previous_revision: r.get(9),
        requested_by: r.get(10),
        room: r.get(11),
        state: DeployState::parse(r.get(12)),
        plan: r.get(13),
        summary: r.get(14),
        started_at: r.get(15),
        finished_at: r.get(16),
        generation: r.get(17),
    }
}

async fn query_deploys(
    client: &impl GenericClient,
    tail: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<DeployRecord>, JournalError> {
    let rows = client
        .query(
            &format!("SELECT {DEPLOY_COLUMNS} FROM deploys {tail}"),
            params,
        )
        .await?;
    Ok(rows.iter().map(deploy_from_row).collect())
}

fn step_from_row(r: &Row) -> StepRecord {
    StepRecord {
        id: r.get(0),
        deploy_id: r.get(1),
        seq: r.get(2),
        host: r.get(3),
        phase: r.get(4),
        label: r.get(5),
        action: r.get(6),
        undo: r.get(7),
        state: StepState::parse(r.get(8)),
        output: r.get(9),
        started_at: r.get(10),
        finished_at: r.get(11),
        undo_of: r.get(12),
    }
}

const LOCK_COLUMNS: &str =
    "app, env, kind, holder, reason, since, deploy_id, owner, heartbeat_at, generation";

fn lock_from_row(r: &Row) -> LockRecord {
    LockRecord {
        app: r.get(0),
        env: r.get(1),
        kind: r.get(2),
        holder: r.get(3),
        reason: r.get(4),
        since: r.get(5),
        deploy_id: r.get(6),
        owner: r.get(7),
        heartbeat_at: r.get(8),
        generation: r.get(9),
    }
}

async fn locks_on_env(
    client: &impl GenericClient,
    env: &str,
) -> Result<Vec<LockRecord>, JournalError> {
    let rows = client
        .query(
            &format!(
                "SELECT {LOCK_COLUMNS} FROM locks WHERE env = $1 ORDER BY kind = 'manual' DESC, since"
            ),
            &[&env],
        )
        .await?;
    Ok(rows.iter().map(lock_from_row).collect())
}

async fn conflicting_lock(
    client: &impl GenericClient,
    app: &str,
    env: &str,
) -> Result<Option<LockRecord>, JournalError> {
    Ok(locks_on_env(client, env)
        .await?
        .into_iter()
        .find(|l| l.app == "*" || l.app == app))
}

#[allow(clippy::too_many_arguments)]
async fn insert_deploy_lock(
    client: &impl GenericClient,
    app: &str,
    env: &str,
    holder: &str,
    reason: &str,
    deploy_id: i64,
    generation: i64,
    owner: &Owner,
) -> Result<(), JournalError> {
    client
        .execute(
            &format!(
                "INSERT INTO locks (app, env, kind, holder, reason, since, deploy_id, owner_pid, heartbeat_at, generation, owner)
                 VALUES ($1, $2, 'deploy', $3, $4, {NOW}, $5, $6, {NOW}, $7, $8)"
            ),
            &[
                &app,
                &env,
                &holder,
                &reason,
                &deploy_id,
                &i64::from(owner.pid),
                &generation,
                &owner.instance,
            ],
        )
        .await?;
    Ok(())
}

async fn next_generation(client: &impl GenericClient) -> Result<i64, JournalError> {
    Ok(client
        .query_one(
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'
             RETURNING value::bigint",
            &[],
        )
        .await?
        .get(0))
}

const FREEZE_COLUMNS: &str = r#"env, holder, reason, since, "until""#;

fn freeze_from_row(r: &Row) -> FreezeRecord {
    FreezeRecord {
        env: r.get(0),
        holder: r.get(1),
        reason: r.get(2),
        since: r.get(3),
        until: r.get(4),
    }
}

async fn freeze_on(
    client: &impl GenericClient,
    env: &str,
) -> Result<Option<FreezeRecord>, JournalError> {
    Ok(client
        .query_opt(
            &format!("SELECT {FREEZE_COLUMNS} FROM freezes WHERE env = $1"),
            &[&env],
        )
        .await?
        .as_ref()
        .map(freeze_from_row))
}
