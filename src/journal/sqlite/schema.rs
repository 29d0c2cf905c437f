//! The journal's tables and their versions: each migration runs once, in order, recorded in SQLite's `user_version`; WAL so that readers never block the writer.

use rusqlite::{Connection, TransactionBehavior};

/// Version 1: deploys, steps, files, locks with leases, freezes.
const V1: &str = "
CREATE TABLE IF NOT EXISTS deploys (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL,
    app               TEXT NOT NULL,
    env               TEXT NOT NULL,
    reference         TEXT,
    revision          TEXT,
    tag               TEXT,
    release           TEXT,
    previous_release  TEXT,
    previous_revision TEXT,
    requested_by      TEXT NOT NULL,
    room              TEXT NOT NULL,
    state             TEXT NOT NULL,
    plan              TEXT,
    summary           TEXT,
    started_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    owner_pid         INTEGER
);
CREATE INDEX IF NOT EXISTS deploys_app_env ON deploys (app, env, id);
CREATE TABLE IF NOT EXISTS steps (
    id          INTEGER PRIMARY KEY,
    deploy_id   INTEGER NOT NULL REFERENCES deploys (id),
    seq         INTEGER NOT NULL,
    host        TEXT,
    phase       TEXT NOT NULL,
    label       TEXT NOT NULL,
    action      TEXT NOT NULL,
    undo        TEXT,
    state       TEXT NOT NULL,
    output      TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    undo_of     INTEGER
);
CREATE INDEX IF NOT EXISTS steps_deploy ON steps (deploy_id, id);
CREATE TABLE IF NOT EXISTS files (
    deploy_id INTEGER NOT NULL REFERENCES deploys (id),
    path      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    sha256    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_deploy ON files (deploy_id);
CREATE TABLE IF NOT EXISTS locks (
    app       TEXT NOT NULL,
    env       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    holder    TEXT NOT NULL,
    reason    TEXT NOT NULL,
    since     INTEGER NOT NULL,
    deploy_id INTEGER,
    owner_pid INTEGER,
    heartbeat_at INTEGER,
    PRIMARY KEY (app, env)
);
CREATE TABLE IF NOT EXISTS freezes (
    env    TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    reason TEXT NOT NULL,
    since  INTEGER NOT NULL,
    until  INTEGER
);
";

/// Version 2: the journal's own identity and its fencing generations. Every deploy (and every
/// bot that takes one over) acts under a generation that only grows; hosts remember the highest
/// they have seen and refuse older ones.
const V2: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
ALTER TABLE deploys ADD COLUMN generation INTEGER;
ALTER TABLE locks ADD COLUMN generation INTEGER;
";

/// Version 4: deploys and locks are owned by a bot instance (`host/8 hex digits`) rather than
/// only a process id, so that bots on several machines can share a journal.
const V4: &str = "
ALTER TABLE deploys ADD COLUMN owner TEXT;
ALTER TABLE locks ADD COLUMN owner TEXT;
";

/// Version 5: who leads each chat network (a row held under a lease, like a deploy lock), and the
/// `when free` requests kept for the bot that leads next.
pub(crate) const V5: &str = "
CREATE TABLE leaders (
    network      TEXT PRIMARY KEY,
    instance     TEXT NOT NULL,
    since        INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
CREATE TABLE queued (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    network TEXT NOT NULL,
    app     TEXT NOT NULL,
    env     TEXT NOT NULL,
    room    TEXT NOT NULL,
    who     TEXT,
    display TEXT NOT NULL,
    line    TEXT NOT NULL,
    direct  INTEGER NOT NULL
);
CREATE INDEX queued_network ON queued (network, id);
";

/// The schema's versions, oldest first; `user_version` says how many have run.
pub const VERSION: i64 = 5;

/// Sets the pragmas and brings the schema up to `VERSION`, one migration at a time, each in
/// its own transaction.
pub fn prepare(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A page cache of 512 KiB (SQLite's default is 2 MiB): a deploy writes a row per step and
    // reads back little, and the file is in the OS's page cache anyway; this keeps the bot's
    // memory flat as fleets and journals grow.
    conn.pragma_update(None, "cache_size", -512)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // A journal already up to date is opened without taking the write lock: a bot starts (and
    // reads) even while another process sits inside a write, a bot stopped mid-commit say.
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current >= VERSION {
        return Ok(());
    }
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version >= VERSION {
            return Ok(());
        }
        match version {
            0 => {
                tx.execute_batch(V1)?;
                // Journals made before locks had leases.
                let has_lease: bool = tx
                    .prepare(
                        "SELECT 1 FROM pragma_table_info('locks') WHERE name = 'heartbeat_at'",
                    )?
                    .exists([])?;
                if !has_lease {
                    tx.execute_batch(
                        "ALTER TABLE locks ADD COLUMN owner_pid INTEGER; ALTER TABLE locks ADD COLUMN heartbeat_at INTEGER;",
                    )?;
                }
            }
            1 => {
                tx.execute_batch(V2)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('journal_id', ?1), ('generation', '0')",
                    [new_journal_id()],
                )?;
            }
            // Version 3: the chat messages said about each deploy, and the page's indexes.
            2 => super::chat::create(&tx)?,
            3 => tx.execute_batch(V4)?,
            4 => tx.execute_batch(V5)?,
            _ => unreachable!("every version below VERSION has a migration"),
        }
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

/// A random identity for a new journal, so that hosts can tell which journal deployed them.
pub(crate) fn new_journal_id() -> String {
    crate::journal::random_hex(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_journal_gets_every_version_and_an_identity() {
        let mut conn = Connection::open_in_memory().unwrap();
        prepare(&mut conn).unwrap();
        assert_eq!(version(&conn), VERSION);
        let id: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(id.len(), 16);
        // Preparing again changes nothing.
        prepare(&mut conn).unwrap();
        let again: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(id, again);
    }

    #[test]
    fn a_journal_up_to_date_opens_while_another_connection_holds_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        prepare(&mut Connection::open(&path).unwrap()).unwrap();
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut reader = Connection::open(&path).unwrap();
        // A prepare that took the lock would give up after its busy timeout: the writer holds it.
        prepare(&mut reader).unwrap();
        assert_eq!(version(&reader), VERSION);
        writer.execute_batch("ROLLBACK").unwrap();
    }

    #[test]
    fn a_version_0_journal_without_leases_is_migrated_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            // The shape of the first journals: no user_version, locks without leases.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE deploys (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, app TEXT NOT NULL,
                   env TEXT NOT NULL, reference TEXT, revision TEXT, tag TEXT, release TEXT,
                   previous_release TEXT, previous_revision TEXT, requested_by TEXT NOT NULL,
                   room TEXT NOT NULL, state TEXT NOT NULL, plan TEXT, summary TEXT,
                   started_at INTEGER NOT NULL, finished_at INTEGER, owner_pid INTEGER);
                 CREATE TABLE locks (app TEXT NOT NULL, env TEXT NOT NULL, kind TEXT NOT NULL,
                   holder TEXT NOT NULL, reason TEXT NOT NULL, since INTEGER NOT NULL,
                   deploy_id INTEGER, PRIMARY KEY (app, env));
                 INSERT INTO deploys (kind, app, env, requested_by, room, state, started_at)
                   VALUES ('deploy', 'demo', 'staging', 'alice', 'console', 'succeeded', 1);",
            )
            .unwrap();
        }
        let mut conn = Connection::open(&path).unwrap();
        prepare(&mut conn).unwrap();
        assert_eq!(version(&conn), VERSION);
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM deploys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
        for column in ["heartbeat_at", "generation", "owner"] {
            let has: bool = conn
                .prepare(&format!(
                    "SELECT 1 FROM pragma_table_info('locks') WHERE name = '{column}'"
                ))
                .unwrap()
                .exists([])
                .unwrap();
            assert!(has, "locks.{column}");
        }
    }

    #[test]
    fn a_version_3_journal_gains_owner_columns_keeping_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        // Bring it to version 3 only, as the journals before owners were.
        conn.execute_batch(V1).unwrap();
        conn.execute_batch(V2).unwrap();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('journal_id', 'abc'), ('generation', '7')",
            [],
        )
        .unwrap();
        super::super::chat::create(&conn).unwrap();
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO deploys (kind, app, env, requested_by, room, state, started_at, owner_pid)
             VALUES ('deploy', 'demo', 'staging', 'alice', 'console', 'running', 1, 42)",
            [],
        )
        .unwrap();
        prepare(&mut conn).unwrap();
        assert_eq!(version(&conn), VERSION);
        let (pid, owner): (i64, Option<String>) = conn
            .query_row("SELECT owner_pid, owner FROM deploys", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((pid, owner), (42, None));
        let generation: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(generation, "7");
    }

    #[test]
    fn a_version_4_journal_gains_leaders_and_the_queue_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.sqlite");
        {
            // A journal as version 4 left it, with a deploy running.
            let mut conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.execute_batch(V2).unwrap();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('journal_id', 'abc'), ('generation', '3')",
                [],
            )
            .unwrap();
            super::super::chat::create(&conn).unwrap();
            conn.execute_batch(V4).unwrap();
            conn.pragma_update(None, "user_version", 4).unwrap();
            conn.execute(
                "INSERT INTO deploys (kind, app, env, requested_by, room, state, started_at, owner)
                 VALUES ('deploy', 'demo', 'staging', 'alice', 'console', 'running', 1, 'h/0badcafe')",
                [],
            )
            .unwrap();
            let tx = conn.transaction().unwrap();
            let has_leaders: bool = tx
                .prepare("SELECT 1 FROM sqlite_master WHERE name = 'leaders'")
                .unwrap()
                .exists([])
                .unwrap();
            assert!(!has_leaders);
            tx.commit().unwrap();
        }
        let mut conn = Connection::open(&path).unwrap();
        prepare(&mut conn).unwrap();
        assert_eq!(version(&conn), 5);
        let owner: String = conn
            .query_row("SELECT owner FROM deploys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(owner, "h/0badcafe");
        for table in ["leaders", "queued"] {
            let rows: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 0, "{table}");
        }
        conn.execute(
            "INSERT INTO queued (network, app, env, room, display, line, direct)
             VALUES ('xmpp', 'demo', 'live', 'ops', 'bob', 'deploy demo to live when free', 0)",
            [],
        )
        .unwrap();
    }
}
