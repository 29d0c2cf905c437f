//! Deploy freezes (`freeze ENV`, `unfreeze ENV`) kept in a SQLite journal so that they
//! survive a restart.
//!
//! A freeze holds an environment name for every app (like a manual lock), until it is lifted or
//! its end passes. Whether a freeze stops a deploy is the checks' business (`src/checks/`).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::Sqlite;
use crate::journal::{FreezeRecord, JournalError};

const COLUMNS: &str = "env, holder, reason, since, until";

fn from_row(r: &Row<'_>) -> rusqlite::Result<FreezeRecord> {
    Ok(FreezeRecord {
        env: r.get(0)?,
        holder: r.get(1)?,
        reason: r.get(2)?,
        since: r.get(3)?,
        until: r.get(4)?,
    })
}

fn on_env(conn: &Connection, env: &str) -> Result<Option<FreezeRecord>, JournalError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM freezes WHERE env = ?1"),
            params![env],
            from_row,
        )
        .optional()?)
}

impl Sqlite {
    /// Freezes `env` from now until `until` (ms since the epoch; `None`: until unfrozen),
    /// replacing any freeze already on it. Returns the freeze it replaced.
    pub(crate) async fn freeze(
        &self,
        env: String,
        holder: String,
        reason: String,
        until: Option<i64>,
    ) -> Result<Option<FreezeRecord>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let previous = on_env(&tx, &env)?;
            tx.execute(
                "INSERT OR REPLACE INTO freezes (env, holder, reason, since, until)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![env, holder, reason, crate::clock::now_ms(), until],
            )?;
            tx.commit()?;
            Ok(previous)
        })
        .await
    }

    /// Lifts the freeze on `env`; returns it (even if it had already ended), or `None`.
    pub(crate) async fn unfreeze(&self, env: String) -> Result<Option<FreezeRecord>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let previous = on_env(&tx, &env)?;
            tx.execute("DELETE FROM freezes WHERE env = ?1", params![env])?;
            tx.commit()?;
            Ok(previous)
        })
        .await
    }

    /// Every freeze recorded, ended ones included (see `FreezeRecord::holds_at`), by environment.
    pub(crate) async fn freezes(&self) -> Result<Vec<FreezeRecord>, JournalError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM freezes ORDER BY env"))?;
            let rows = stmt.query_map([], from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
