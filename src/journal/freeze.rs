//! Deploy freezes: `freeze ENV` and `unfreeze ENV` from chat, kept in the journal so that they
//! survive a restart.
//!
//! A freeze holds an environment name for every app (like a manual lock), until it is lifted or
//! its end passes. Whether a freeze stops a deploy is the checks' business (`src/checks/`).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Journal, JournalError};

/// A freeze on an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreezeRecord {
    pub env: String,
    /// Who froze it.
    pub holder: String,
    pub reason: String,
    /// When, in ms since the epoch.
    pub since: i64,
    /// When it ends by itself (ms since the epoch); `None`: when someone unfreezes it.
    pub until: Option<i64>,
}

impl FreezeRecord {
    /// Whether the freeze holds at `now_ms`.
    pub fn holds_at(&self, now_ms: i64) -> bool {
        self.until.is_none_or(|until| now_ms < until)
    }
}

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

impl Journal {
    /// Freezes `env` from now until `until` (ms since the epoch; `None`: until unfrozen),
    /// replacing any freeze already on it. Returns the freeze it replaced.
    pub async fn freeze(
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
    pub async fn unfreeze(&self, env: String) -> Result<Option<FreezeRecord>, JournalError> {
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
    pub async fn freezes(&self) -> Result<Vec<FreezeRecord>, JournalError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM freezes ORDER BY env"))?;
            let rows = stmt.query_map([], from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn freezes_are_kept_replaced_lifted_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let journal = Journal::open(&path).await.unwrap();
        assert!(journal.freezes().await.unwrap().is_empty());

        let before = crate::clock::now_ms();
        let replaced = journal
            .freeze("live".into(), "alice".into(), "release week".into(), None)
            .await
            .unwrap();
        assert_eq!(replaced, None);
        journal
            .freeze("staging".into(), "bob".into(), "demo".into(), Some(5_000))
            .await
            .unwrap();
        let replaced = journal
            .freeze(
                "live".into(),
                "carol".into(),
                "incident".into(),
                Some(9_000),
            )
            .await
            .unwrap()
            .expect("alice's freeze was replaced");
        assert_eq!(
            (
                replaced.holder.as_str(),
                replaced.reason.as_str(),
                replaced.until
            ),
            ("alice", "release week", None)
        );
        assert!(replaced.since >= before);
        drop(journal);

        let journal = Journal::open(&path).await.unwrap();
        let all = journal.freezes().await.unwrap();
        let summary: Vec<(&str, &str, Option<i64>)> = all
            .iter()
            .map(|f| (f.env.as_str(), f.holder.as_str(), f.until))
            .collect();
        assert_eq!(
            summary,
            [
                ("live", "carol", Some(9_000)),
                ("staging", "bob", Some(5_000))
            ]
        );

        let lifted = journal.unfreeze("live".into()).await.unwrap();
        assert_eq!(lifted.map(|f| f.holder), Some("carol".to_string()));
        assert_eq!(journal.unfreeze("live".into()).await.unwrap(), None);
        assert_eq!(journal.freezes().await.unwrap().len(), 1);
    }

    #[test]
    fn a_freeze_holds_until_its_end() {
        let freeze = |until| FreezeRecord {
            env: "live".into(),
            holder: "alice".into(),
            reason: String::new(),
            since: 0,
            until,
        };
        assert!(freeze(None).holds_at(i64::MAX));
        assert!(freeze(Some(100)).holds_at(99));
        assert!(!freeze(Some(100)).holds_at(100));
    }
}
