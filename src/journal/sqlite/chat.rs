//! What the bot said in chat about each deploy (for the page and the export), and the small queries the page and `status` read: running and failed deploys.

use rusqlite::{Connection, params};

use super::Sqlite;
use super::records::query_deploys;
use crate::journal::JournalError;
use crate::journal::types::{DeployRecord, MessageRecord, NewMessage};

/// The table of chat messages, and the indexes the page's history filters use.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id        INTEGER PRIMARY KEY,
    deploy_id INTEGER NOT NULL REFERENCES deploys (id),
    at        INTEGER NOT NULL,
    room      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    text      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_deploy ON messages (deploy_id, id);
CREATE INDEX IF NOT EXISTS deploys_by_person ON deploys (requested_by, id);
CREATE INDEX IF NOT EXISTS deploys_by_state ON deploys (state, id);
";

pub(super) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

impl Sqlite {
    /// Keeps messages the bot sent about deploys, in one transaction . A message
    /// about a deploy the journal does not have is dropped.
    pub(crate) async fn record_messages(
        &self,
        messages: Vec<NewMessage>,
    ) -> Result<(), JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO messages (deploy_id, at, room, kind, text)
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM deploys WHERE id = ?1)",
                )?;
                for m in messages {
                    insert.execute(params![m.deploy_id, m.at, m.room, m.kind, m.text])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The messages sent about deploy `deploy_id`, in the order they were sent.
    pub(crate) async fn messages(
        &self,
        deploy_id: i64,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        self.with(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT at, room, kind, text FROM messages WHERE deploy_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![deploy_id], |r| {
                Ok(MessageRecord {
                    at: r.get(0)?,
                    room: r.get(1)?,
                    kind: r.get(2)?,
                    text: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deploys running now (by any bot sharing this journal), oldest first.
    pub(crate) async fn running(&self) -> Result<Vec<DeployRecord>, JournalError> {
        self.with(|conn| query_deploys(conn, "WHERE state = 'running' ORDER BY id", params![]))
            .await
    }

    /// Deploys whose undo failed and that nothing has put right since (no later successful
    /// deploy or rollback of the same app and environment): they need a look. Newest first.
    pub(crate) async fn need_a_look(&self) -> Result<Vec<DeployRecord>, JournalError> {
        self.with(|conn| {
            query_deploys(
                conn,
                "AS d WHERE state = 'failed' AND NOT EXISTS (
                   SELECT 1 FROM deploys AS s
                   WHERE s.app = d.app AND s.env = d.env AND s.state = 'succeeded' AND s.id > d.id)
                 ORDER BY id DESC LIMIT 50",
                params![],
            )
        })
        .await
    }

    /// Every successful deploy and rollback of `app` in `env`, oldest first (the releases they
    /// made live and the migrations they ran).
    pub(crate) async fn succeeded(
        &self,
        app: String,
        env: String,
    ) -> Result<Vec<DeployRecord>, JournalError> {
        self.with(move |conn| {
            query_deploys(
                conn,
                "WHERE app = ?1 AND env = ?2 AND state = 'succeeded' ORDER BY id",
                params![app, env],
            )
        })
        .await
    }
}
