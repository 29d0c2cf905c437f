//! The journal's tables, created on open; WAL so that readers never block the writer.

use rusqlite::Connection;

const SCHEMA: &str = "
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

/// Sets the pragmas and creates the tables if they are missing.
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    super::chat::create(conn)?;
    // Journals made before locks had leases.
    let has_lease: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('locks') WHERE name = 'heartbeat_at'")?
        .exists([])?;
    if !has_lease {
        conn.execute_batch(
            "ALTER TABLE locks ADD COLUMN owner_pid INTEGER; ALTER TABLE locks ADD COLUMN heartbeat_at INTEGER;",
        )?;
    }
    Ok(())
}
