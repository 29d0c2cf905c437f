//! The journal's record types and the queries that read them back.

use rusqlite::{Connection, OptionalExtension, Params, Row, params};

use crate::journal::types::*;
use crate::journal::{JournalError, Owner};

const DEPLOY_COLUMNS: &str =
    "id, kind, app, env, reference, revision, tag, release, previous_release,
    previous_revision, requested_by, room, state, plan, summary, started_at, finished_at, generation";

fn deploy_from_row(r: &Row<'_>) -> rusqlite::Result<DeployRecord> {
    Ok(DeployRecord {
        id: r.get(0)?,
        kind: DeployKind::parse(&r.get::<_, String>(1)?),
        app: r.get(2)?,
        env: r.get(3)?,
        reference: r.get(4)?,
        revision: r.get(5)?,
        tag: r.get(6)?,
        release: r.get(7)?,
        previous_release: r.get(8)?,
        previous_revision: r.get(9)?,
        requested_by: r.get(10)?,
        room: r.get(11)?,
        state: DeployState::parse(&r.get::<_, String>(12)?),
        plan: r.get(13)?,
        summary: r.get(14)?,
        started_at: r.get(15)?,
        finished_at: r.get(16)?,
        generation: r.get(17)?,
    })
}

pub(super) fn query_deploys<P: Params>(
    conn: &Connection,
    tail: &str,
    params: P,
) -> Result<Vec<DeployRecord>, JournalError> {
    let mut stmt = conn.prepare(&format!("SELECT {DEPLOY_COLUMNS} FROM deploys {tail}"))?;
    let rows = stmt.query_map(params, deploy_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn deploy_by_id(
    conn: &Connection,
    id: i64,
) -> Result<Option<DeployRecord>, JournalError> {
    Ok(conn
        .query_row(
            &format!("SELECT {DEPLOY_COLUMNS} FROM deploys WHERE id = ?1"),
            params![id],
            deploy_from_row,
        )
        .optional()?)
}

pub(super) fn history(
    conn: &Connection,
    app: Option<&str>,
    env: Option<&str>,
    limit: usize,
) -> Result<Vec<DeployRecord>, JournalError> {
    query_deploys(
        conn,
        "WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR env = ?2) ORDER BY id DESC LIMIT ?3",
        params![app, env, limit as i64],
    )
}

pub(super) fn steps_of(conn: &Connection, deploy_id: i64) -> Result<Vec<StepRecord>, JournalError> {
    let mut stmt = conn.prepare(
        "SELECT id, deploy_id, seq, host, phase, label, action, undo, state, output, started_at, finished_at, undo_of
         FROM steps WHERE deploy_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![deploy_id], |r| {
        Ok(StepRecord {
            id: r.get(0)?,
            deploy_id: r.get(1)?,
            seq: r.get(2)?,
            host: r.get(3)?,
            phase: r.get(4)?,
            label: r.get(5)?,
            action: r.get(6)?,
            undo: r.get(7)?,
            state: StepState::parse(&r.get::<_, String>(8)?),
            output: r.get(9)?,
            started_at: r.get(10)?,
            finished_at: r.get(11)?,
            undo_of: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn files_of(conn: &Connection, deploy_id: i64) -> Result<Vec<FileRecord>, JournalError> {
    let mut stmt =
        conn.prepare("SELECT path, size, sha256 FROM files WHERE deploy_id = ?1 ORDER BY path")?;
    let rows = stmt.query_map(params![deploy_id], |r| {
        Ok(FileRecord {
            path: r.get(0)?,
            size: r.get::<_, i64>(1)? as u64,
            sha256: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn lock_from_row(r: &Row<'_>) -> rusqlite::Result<LockRecord> {
    Ok(LockRecord {
        app: r.get(0)?,
        env: r.get(1)?,
        kind: r.get(2)?,
        holder: r.get(3)?,
        reason: r.get(4)?,
        since: r.get(5)?,
        deploy_id: r.get(6)?,
        owner: r.get(7)?,
        heartbeat_at: r.get(8)?,
        generation: r.get(9)?,
    })
}

pub(super) fn all_locks(conn: &Connection) -> Result<Vec<LockRecord>, JournalError> {
    let mut stmt = conn.prepare(
        "SELECT app, env, kind, holder, reason, since, deploy_id, owner, heartbeat_at, generation FROM locks ORDER BY env, app",
    )?;
    let rows = stmt.query_map([], lock_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn locks_on_env(conn: &Connection, env: &str) -> Result<Vec<LockRecord>, JournalError> {
    let mut stmt = conn.prepare(
        "SELECT app, env, kind, holder, reason, since, deploy_id, owner, heartbeat_at, generation FROM locks WHERE env = ?1
         ORDER BY kind = 'manual' DESC, since",
    )?;
    let rows = stmt.query_map(params![env], lock_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Records a deploy's lock, held by `owner` from now (inside the caller's transaction).
#[allow(clippy::too_many_arguments)]
pub(super) fn insert_deploy_lock(
    conn: &Connection,
    app: &str,
    env: &str,
    holder: &str,
    reason: &str,
    deploy_id: i64,
    generation: i64,
    owner: &Owner,
) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO locks (app, env, kind, holder, reason, since, deploy_id, owner_pid, heartbeat_at, generation, owner)
         VALUES (?1, ?2, 'deploy', ?3, ?4, ?5, ?6, ?7, ?5, ?8, ?9)",
        params![
            app,
            env,
            holder,
            reason,
            crate::clock::now_ms(),
            deploy_id,
            owner.pid,
            generation,
            owner.instance
        ],
    )?;
    Ok(())
}

/// Issues the next fencing generation (inside the caller's write transaction).
pub(super) fn next_generation(conn: &Connection) -> Result<i64, JournalError> {
    let generation: i64 = conn.query_row(
        "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'generation'
         RETURNING CAST(value AS INTEGER)",
        [],
        |r| r.get(0),
    )?;
    Ok(generation)
}

/// The journal's identity and the newest generation it issued.
pub(super) fn identity(conn: &Connection) -> Result<(String, i64), JournalError> {
    let id: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
            r.get(0)
        })?;
    let generation: i64 = conn.query_row(
        "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'",
        [],
        |r| r.get(0),
    )?;
    Ok((id, generation))
}

/// A lock that stops a deploy of `app` to `env`: a manual lock on the environment, or another
/// deploy of the same app there.
pub(super) fn conflicting_lock(
    conn: &Connection,
    app: &str,
    env: &str,
) -> Result<Option<LockRecord>, JournalError> {
    Ok(locks_on_env(conn, env)?
        .into_iter()
        .find(|l| l.app == "*" || l.app == app))
}
