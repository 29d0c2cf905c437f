//! Who leads each chat network, and the `when free` queue kept for the next leader, in a SQLite journal.
//!
//! The lead is a row per network held under a lease, like a deploy lock: its holder renews it,
//! anyone may claim it once its lease ran out, a bot that stops cleanly gives it up. Every claim
//! runs in an IMMEDIATE transaction (SQLite's single writer), so two claims never both win.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::journal::{JournalError, LeaderClaim, LeaderRecord, Owner, QueuedLine};

impl Sqlite {
    /// Renews `owner`'s lead on `network`, or takes it when nobody holds it or its holder's
    /// lease ran out; otherwise says who leads.
    pub(crate) async fn claim_leader(
        &self,
        network: String,
        lease_ms: i64,
        owner: std::sync::Arc<Owner>,
    ) -> Result<LeaderClaim, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = crate::clock::now_ms();
            let held: Option<(String, i64)> = tx
                .query_row(
                    "SELECT instance, heartbeat_at FROM leaders WHERE network = ?1",
                    params![network],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let claim = match held {
                Some((instance, _)) if instance == owner.instance => {
                    tx.execute(
                        "UPDATE leaders SET heartbeat_at = ?2 WHERE network = ?1",
                        params![network, now],
                    )?;
                    LeaderClaim::Leads { from: None }
                }
                Some((instance, beat)) if beat + lease_ms > now => LeaderClaim::Follows {
                    instance,
                    expires_in_ms: beat + lease_ms - now,
                },
                held => {
                    tx.execute(
                        "INSERT INTO leaders (network, instance, since, heartbeat_at)
                         VALUES (?1, ?2, ?3, ?3)
                         ON CONFLICT (network) DO UPDATE SET instance = ?2, since = ?3, heartbeat_at = ?3",
                        params![network, owner.instance, now],
                    )?;
                    LeaderClaim::Leads {
                        from: held.map(|(instance, _)| instance),
                    }
                }
            };
            tx.commit()?;
            Ok(claim)
        })
        .await
    }

    /// Gives up `owner`'s lead on `network` (if it holds it), so that another bot takes it at once.
    pub(crate) async fn resign_leader(
        &self,
        network: String,
        owner: std::sync::Arc<Owner>,
    ) -> Result<bool, JournalError> {
        self.with(move |conn| {
            Ok(conn.execute(
                "DELETE FROM leaders WHERE network = ?1 AND instance = ?2",
                params![network, owner.instance],
            )? > 0)
        })
        .await
    }

    /// Who leads `network`, if anyone has (its lease may have run out).
    pub(crate) async fn leader(
        &self,
        network: String,
    ) -> Result<Option<LeaderRecord>, JournalError> {
        self.with(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT network, instance, since, heartbeat_at FROM leaders WHERE network = ?1",
                    params![network],
                    |r| {
                        Ok(LeaderRecord {
                            network: r.get(0)?,
                            instance: r.get(1)?,
                            since: r.get(2)?,
                            heartbeat_at: r.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Keeps a `when free` request of `network`, after those already kept.
    pub(crate) async fn queue_line(
        &self,
        network: String,
        q: QueuedLine,
    ) -> Result<(), JournalError> {
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO queued (network, app, env, room, who, display, line, direct)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    network, q.app, q.env, q.room, q.who, q.display, q.line, q.direct
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets the requests of `who` for `app`/`env` on `network` (one started). Returns how many.
    pub(crate) async fn dequeue_line(
        &self,
        network: String,
        app: String,
        env: String,
        who: Option<String>,
    ) -> Result<usize, JournalError> {
        self.with(move |conn| {
            Ok(conn.execute(
                "DELETE FROM queued WHERE network = ?1 AND app = ?2 AND env = ?3 AND who IS ?4",
                params![network, app, env, who],
            )?)
        })
        .await
    }

    /// Takes (reads and forgets) every request kept for `network`, oldest first.
    pub(crate) async fn take_queue(
        &self,
        network: String,
    ) -> Result<Vec<QueuedLine>, JournalError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let lines = {
                let mut statement = tx.prepare(
                    "SELECT app, env, room, who, display, line, direct FROM queued
                     WHERE network = ?1 ORDER BY id",
                )?;
                statement
                    .query_map(params![network], |r| {
                        Ok(QueuedLine {
                            app: r.get(0)?,
                            env: r.get(1)?,
                            room: r.get(2)?,
                            who: r.get(3)?,
                            display: r.get(4)?,
                            line: r.get(5)?,
                            direct: r.get(6)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?
            };
            tx.execute("DELETE FROM queued WHERE network = ?1", params![network])?;
            tx.commit()?;
            Ok(lines)
        })
        .await
    }
}
