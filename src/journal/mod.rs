//! The write-ahead journal: deploys, every step's intent and outcome with its undo, files shipped, locks.
//!
//! A step's intent is committed before the step runs and its outcome after, so after a crash the
//! journal says exactly what may have happened and how to undo it. The journal keeps one
//! whole-operation API; inside, a closed set of backends keeps the records: SQLite (the embedded
//! default, `sqlite/`) and PostgreSQL (several bots sharing one journal, `postgres/`).

mod copy;
mod export;
pub mod location;
mod postgres;
mod sqlite;
mod types;

use std::sync::Arc;

pub use copy::{CopyError, CopyReport, sqlite_to_postgres as copy_sqlite_to_postgres};
pub use export::{export, export_to};
pub use location::{Location, PgSettings, PgTls};
pub use types::*;

/// A database error from whichever backend keeps the journal.
pub type DbError = Box<dyn std::error::Error + Send + Sync>;

/// Why the journal could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: DbError,
    },
    #[error("journal: {0}")]
    Database(#[source] DbError),
    #[error("journal: {0}")]
    Io(#[from] std::io::Error),
    #[error("journal: a record could not be read: {0}")]
    Record(#[from] serde_json::Error),
    #[error("journal: no deploy #{0}")]
    NoSuchDeploy(i64),
    #[error("journal: the blocking pool is gone")]
    Join,
    #[error("journal: {0}")]
    Settings(String),
}

/// Who holds a deploy: this bot instance, named the same on every machine sharing the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// `host/8 hex digits`: the host name and a random part made when the bot started.
    pub instance: String,
    /// The process id on that host.
    pub pid: u32,
}

impl Owner {
    /// The host part of the instance id.
    pub fn host(&self) -> &str {
        instance_host(&self.instance)
    }
}

/// The backends, a closed set.
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// A handle to the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    backend: Backend,
    /// This bot's instance id and process.
    owner: Arc<Owner>,
    /// Hides configured secrets in step output before it is kept.
    redactor: crate::redact::Redactor,
}

/// Calls the same operation on whichever backend keeps the journal.
macro_rules! on_backend {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(db) => db.$method($($arg),*).await,
            Backend::Postgres(db) => db.$method($($arg),*).await,
        }
    };
}

impl Journal {
    /// Opens (creating if needed) the SQLite journal at `path`.
    pub async fn open(path: &std::path::Path) -> Result<Journal, JournalError> {
        Journal::connect(&Location::Sqlite(path.to_path_buf())).await
    }

    /// Opens the SQLite journal at `path` from a thread that is not on the runtime.
    pub fn open_blocking(path: &std::path::Path) -> Result<Journal, JournalError> {
        Ok(Journal::with_backend(Backend::Sqlite(
            sqlite::Sqlite::open_blocking(path)?,
        )))
    }

    /// Opens the journal where `location` says, bringing its schema up to date.
    pub async fn connect(location: &Location) -> Result<Journal, JournalError> {
        let backend = match location {
            Location::Sqlite(path) => {
                let path = path.clone();
                Backend::Sqlite(
                    tokio::task::spawn_blocking(move || sqlite::Sqlite::open_blocking(&path))
                        .await
                        .map_err(|_| JournalError::Join)??,
                )
            }
            Location::Postgres(settings) => {
                Backend::Postgres(postgres::Postgres::connect(settings).await?)
            }
        };
        Ok(Journal::with_backend(backend))
    }

    /// Checks the settings without changing anything: connects (PostgreSQL) or reads the file
    /// (SQLite, when it exists) and says where the journal is and its schema version. An error
    /// names the config key to look at.
    pub async fn check(location: &Location) -> Result<String, JournalError> {
        match location {
            Location::Sqlite(path) if !path.exists() => Ok(format!(
                "journal {}: not made yet (made on first start, schema version {})",
                path.display(),
                sqlite::schema::VERSION
            )),
            Location::Sqlite(path) => {
                let journal = Journal::connect(location).await?;
                Ok(format!(
                    "journal {}: SQLite, schema version {} (current {})",
                    path.display(),
                    journal.schema_version().await?,
                    sqlite::schema::VERSION
                ))
            }
            Location::Postgres(settings) => postgres::Postgres::check(settings).await,
        }
    }

    fn with_backend(backend: Backend) -> Journal {
        Journal {
            backend,
            owner: Arc::new(Owner {
                instance: new_instance_id(),
                pid: std::process::id(),
            }),
            redactor: Default::default(),
        }
    }

    /// Where the journal is, for people (a path, or a PostgreSQL URL without its password).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(db) => db.path().display().to_string(),
            Backend::Postgres(db) => db.describe(),
        }
    }

    /// The schema version the journal is at.
    pub async fn schema_version(&self) -> Result<i64, JournalError> {
        on_backend!(self.schema_version())
    }

    /// This bot's instance id (`host/8 hex digits`): what the journal names as the owner of
    /// the deploys and leases it holds.
    pub fn instance(&self) -> &str {
        &self.owner.instance
    }

    /// This journal handle acting as another bot instance (tests, and tools that act for one).
    pub fn as_instance(mut self, instance: String) -> Journal {
        self.owner = Arc::new(Owner {
            instance,
            pid: self.owner.pid,
        });
        self
    }

    /// Now, by the database's clock (ms since the epoch): lease and lock times are all taken
    /// from it, so that bots on machines whose clocks differ agree. SQLite's is this machine's.
    pub async fn now_ms(&self) -> Result<i64, JournalError> {
        on_backend!(self.now_ms())
    }

    /// This journal, hiding `redactor`'s secrets in the step output it keeps.
    pub fn with_redactor(mut self, redactor: crate::redact::Redactor) -> Journal {
        self.redactor = redactor;
        self
    }

    /// The secrets this journal hides.
    pub fn redactor(&self) -> &crate::redact::Redactor {
        &self.redactor
    }

    /// Records a new deploy (or rollback) as running and takes its lock in the same
    /// transaction. Returns the lock's holder instead when the environment is locked.
    pub async fn begin(&self, new: NewDeploy) -> Result<Result<i64, LockRecord>, JournalError> {
        let owner = self.owner.clone();
        on_backend!(self.begin(new, owner))
    }

    /// Records the end of a deploy and releases its lock.
    pub async fn finish(
        &self,
        id: i64,
        state: DeployState,
        summary: String,
    ) -> Result<(), JournalError> {
        on_backend!(self.finish(id, state, summary))
    }

    /// Writes a step's intent before it runs. Returns the step's id.
    pub async fn intent(&self, deploy_id: i64, step: StepIntent) -> Result<i64, JournalError> {
        on_backend!(self.intent(deploy_id, step))
    }

    /// Writes a step's outcome after it ran. Only a step still at its intent takes an outcome:
    /// a late write from a bot that was cut off from the journal (sent before the cut, arriving
    /// after another bot recovered the deploy and settled the step) changes nothing.
    pub async fn outcome(
        &self,
        step_id: i64,
        state: StepState,
        output: String,
    ) -> Result<(), JournalError> {
        let output = self.redactor.redact_owned(output);
        on_backend!(self.outcome(step_id, state, output))
    }

    /// Marks a step as undone (or its undo as failed).
    pub async fn mark(&self, step_id: i64, state: StepState) -> Result<(), JournalError> {
        on_backend!(self.mark(step_id, state))
    }

    /// Records the files a deploy ships.
    pub async fn record_files(
        &self,
        deploy_id: i64,
        files: Vec<FileRecord>,
    ) -> Result<(), JournalError> {
        on_backend!(self.record_files(deploy_id, files))
    }

    pub async fn deploy(&self, id: i64) -> Result<DeployRecord, JournalError> {
        on_backend!(self.find(id))?.ok_or(JournalError::NoSuchDeploy(id))
    }

    /// Looks up a deploy by id, if it exists.
    pub async fn find(&self, id: i64) -> Result<Option<DeployRecord>, JournalError> {
        on_backend!(self.find(id))
    }

    pub async fn steps(&self, deploy_id: i64) -> Result<Vec<StepRecord>, JournalError> {
        on_backend!(self.steps(deploy_id))
    }

    pub async fn files(&self, deploy_id: i64) -> Result<Vec<FileRecord>, JournalError> {
        on_backend!(self.files(deploy_id))
    }

    /// The newest deploys first, optionally of one app and environment.
    pub async fn history(
        &self,
        app: Option<String>,
        env: Option<String>,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, JournalError> {
        on_backend!(self.history(app, env, limit))
    }

    /// A page of deploys matching `filter`, newest first.
    pub async fn history_page(&self, filter: HistoryFilter) -> Result<HistoryPage, JournalError> {
        on_backend!(self.history_page(filter))
    }

    /// What is live: the newest successful deploy or rollback of `app` in `env`.
    pub async fn live(
        &self,
        app: String,
        env: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        on_backend!(self.live(app, env))
    }

    /// The successful deploy (not rollback) that first put `release` live in `app`/`env`.
    pub async fn introduced(
        &self,
        app: String,
        env: String,
        release: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        on_backend!(self.introduced(app, env, release))
    }

    /// The newest deploy (whatever became of it) that shipped `release` to `app`/`env`.
    pub async fn introduced_or_tried(
        &self,
        app: String,
        env: String,
        release: String,
    ) -> Result<Option<DeployRecord>, JournalError> {
        on_backend!(self.introduced_or_tried(app, env, release))
    }

    /// The newest deploy or rollback asked for from `room`.
    pub async fn last_in_room(&self, room: String) -> Result<Option<DeployRecord>, JournalError> {
        on_backend!(self.last_in_room(room))
    }

    /// Deploys left running by a bot that is gone.
    pub async fn unfinished(&self) -> Result<Vec<DeployRecord>, JournalError> {
        on_backend!(self.running())
    }

    /// Deploys running now (by any bot sharing this journal), oldest first.
    pub async fn running(&self) -> Result<Vec<DeployRecord>, JournalError> {
        on_backend!(self.running())
    }

    /// Deploys whose undo failed and that nothing has put right since (no later successful
    /// deploy or rollback of the same app and environment): they need a look. Newest first.
    pub async fn need_a_look(&self) -> Result<Vec<DeployRecord>, JournalError> {
        on_backend!(self.need_a_look())
    }

    /// Every successful deploy and rollback of `app` in `env`, oldest first.
    pub async fn succeeded(
        &self,
        app: String,
        env: String,
    ) -> Result<Vec<DeployRecord>, JournalError> {
        on_backend!(self.succeeded(app, env))
    }

    /// Every release name this app has had in this environment (to keep new names unique).
    pub async fn release_names(
        &self,
        app: String,
        env: String,
    ) -> Result<Vec<String>, JournalError> {
        on_backend!(self.release_names(app, env))
    }

    /// Takes a manual lock on `env` for every app. Returns the holder when already locked.
    pub async fn lock(
        &self,
        env: String,
        holder: String,
        reason: String,
    ) -> Result<Result<(), LockRecord>, JournalError> {
        on_backend!(self.lock(env, holder, reason))
    }

    /// Removes the manual lock on `env`; returns it, or `None` when there was none.
    pub async fn unlock(&self, env: String) -> Result<Option<LockRecord>, JournalError> {
        on_backend!(self.unlock(env))
    }

    pub async fn locks(&self) -> Result<Vec<LockRecord>, JournalError> {
        on_backend!(self.locks())
    }

    /// Renews the lease of every deploy lock this bot instance holds.
    pub async fn heartbeat(&self) -> Result<usize, JournalError> {
        let owner = self.owner.clone();
        on_backend!(self.heartbeat(owner))
    }

    /// The bot instance (and its process) that began deploy `id`, or took it over last.
    pub async fn owner(&self, id: i64) -> Result<Option<Owner>, JournalError> {
        on_backend!(self.owner(id))
    }

    /// Whether `owner` is this bot instance.
    pub fn is_me(&self, owner: &str) -> bool {
        owner == self.owner.instance
    }

    /// The fencing generation deploy `id` acts under now: its lock's, while it holds one.
    pub async fn generation(&self, id: i64) -> Result<Option<i64>, JournalError> {
        on_backend!(self.generation(id))
    }

    /// Whether deploy `id` still holds its lock under `generation`: false once another bot has
    /// taken it over (or it finished). A bot checks this before every step.
    pub async fn still_holds(&self, id: i64, generation: i64) -> Result<bool, JournalError> {
        Ok(self.generation(id).await? == Some(generation))
    }

    /// Takes over the lock of unfinished deploy `id` to recover it, if it is still held under
    /// `seen` (the generation read when deciding that its bot is gone): a new generation is
    /// issued, the lease renewed under this bot instance, and returned. `None` when someone
    /// else took it over first or it finished meanwhile.
    pub async fn take_over(&self, id: i64, seen: Option<i64>) -> Result<Option<i64>, JournalError> {
        let owner = self.owner.clone();
        on_backend!(self.take_over(id, seen, owner))
    }

    /// This journal's identity (random, made when it was created) and the newest generation
    /// it has issued. Hosts remember both, so a bot can tell an empty or older journal.
    pub async fn identity(&self) -> Result<(String, i64), JournalError> {
        on_backend!(self.identity())
    }

    /// Makes sure every generation issued from now on is above `seen` (the newest a host
    /// remembers): after a journal was emptied or replaced by an older copy.
    pub async fn raise_generation(&self, seen: i64) -> Result<(), JournalError> {
        on_backend!(self.raise_generation(seen))
    }

    /// Renews this bot instance's lead on chat network `network`, or takes it when nobody holds
    /// it or its holder's lease (`lease`, by the journal's clock) ran out; otherwise says who
    /// leads. Two instances claiming at once never both lead.
    pub async fn claim_leader(
        &self,
        network: &str,
        lease: std::time::Duration,
    ) -> Result<LeaderClaim, JournalError> {
        let owner = self.owner.clone();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        on_backend!(self.claim_leader(network.to_string(), lease_ms, owner))
    }

    /// Gives up this instance's lead on `network`, so that another bot takes it at once.
    /// Returns whether it held it.
    pub async fn resign_leader(&self, network: &str) -> Result<bool, JournalError> {
        let owner = self.owner.clone();
        on_backend!(self.resign_leader(network.to_string(), owner))
    }

    /// Who leads `network`, if any bot has (its lease may have run out).
    pub async fn leader(&self, network: &str) -> Result<Option<LeaderRecord>, JournalError> {
        on_backend!(self.leader(network.to_string()))
    }

    /// Keeps a `when free` request said on `network`, after those already kept, for whichever
    /// bot leads next.
    pub async fn queue_line(&self, network: &str, line: QueuedLine) -> Result<(), JournalError> {
        on_backend!(self.queue_line(network.to_string(), line))
    }

    /// Forgets the kept requests of `who` for `app`/`env` on `network` (one of them started).
    /// Returns how many were forgotten.
    pub async fn dequeue_line(
        &self,
        network: &str,
        app: &str,
        env: &str,
        who: Option<String>,
    ) -> Result<usize, JournalError> {
        on_backend!(self.dequeue_line(network.to_string(), app.to_string(), env.to_string(), who))
    }

    /// Takes every request kept for `network`, oldest first, and forgets them: the bot that
    /// takes the lead queues them again (which keeps them anew).
    pub async fn take_queue(&self, network: &str) -> Result<Vec<QueuedLine>, JournalError> {
        on_backend!(self.take_queue(network.to_string()))
    }

    /// Keeps messages the bot sent about deploys, in one transaction (secrets hidden). A message
    /// about a deploy the journal does not have is dropped.
    pub async fn record_messages(&self, messages: Vec<NewMessage>) -> Result<(), JournalError> {
        let messages = messages
            .into_iter()
            .map(|m| NewMessage {
                text: self.redactor.redact(&m.text).into_owned(),
                ..m
            })
            .collect();
        on_backend!(self.record_messages(messages))
    }

    /// The messages sent about deploy `deploy_id`, in the order they were sent.
    pub async fn messages(&self, deploy_id: i64) -> Result<Vec<MessageRecord>, JournalError> {
        on_backend!(self.messages(deploy_id))
    }

    /// Freezes `env` from now until `until` (ms since the epoch; `None`: until unfrozen),
    /// replacing any freeze already on it. Returns the freeze it replaced.
    pub async fn freeze(
        &self,
        env: String,
        holder: String,
        reason: String,
        until: Option<i64>,
    ) -> Result<Option<FreezeRecord>, JournalError> {
        on_backend!(self.freeze(env, holder, reason, until))
    }

    /// Lifts the freeze on `env`; returns it (even if it had already ended), or `None`.
    pub async fn unfreeze(&self, env: String) -> Result<Option<FreezeRecord>, JournalError> {
        on_backend!(self.unfreeze(env))
    }

    /// Every freeze recorded, ended ones included (see `FreezeRecord::holds_at`), by environment.
    pub async fn freezes(&self) -> Result<Vec<FreezeRecord>, JournalError> {
        on_backend!(self.freezes())
    }
}

/// The host part of a bot instance id (`host/8 hex digits`).
pub fn instance_host(instance: &str) -> &str {
    instance.rsplit_once('/').map_or(instance, |(host, _)| host)
}

/// A new bot instance id: this machine's host name, `/`, and 8 random hex digits.
pub fn new_instance_id() -> String {
    format!("{}/{}", host_name(), random_hex(4))
}

/// This machine's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// `bytes` random bytes as hex digits.
pub(crate) fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if random.is_err() {
        // No /dev/urandom: the clock and the process id still make it unique enough here.
        let seed =
            (crate::clock::now_ms() as u64 ^ (u64::from(std::process::id()) << 40)).to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = seed[i % seed.len()];
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
