//! Who leads each chat network, and the `when free` queue kept for the next leader, in a PostgreSQL journal.
//!
//! The lead is a row per network held under a lease, like a deploy lock, with times from the
//! database's clock. Every claim takes a transaction-scoped advisory lock on its network first,
//! so that two bots claiming at once are serialised and never both win.

use std::sync::Arc;

use super::{NOW, Postgres};
use crate::journal::{JournalError, LeaderClaim, LeaderRecord, Owner, QueuedLine};

/// Serialises the claims on one network's lead.
async fn lock_network(
    tx: &tokio_postgres::Transaction<'_>,
    network: &str,
) -> Result<(), JournalError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("bosun.leader/{network}")],
    )
    .await?;
    Ok(())
}

impl Postgres {
    /// Renews `owner`'s lead on `network`, or takes it when nobody holds it or its holder's
    /// lease ran out; otherwise says who leads.
    pub(crate) async fn claim_leader(
        &self,
        network: String,
        lease_ms: i64,
        owner: Arc<Owner>,
    ) -> Result<LeaderClaim, JournalError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_network(&tx, &network).await?;
        let now: i64 = tx.query_one(&format!("SELECT {NOW}"), &[]).await?.get(0);
        let held = tx
            .query_opt(
                "SELECT instance, heartbeat_at FROM leaders WHERE network = $1",
                &[&network],
            )
            .await?
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)));
        let claim = match held {
            Some((instance, _)) if instance == owner.instance => {
                tx.execute(
                    "UPDATE leaders SET heartbeat_at = $2 WHERE network = $1",
                    &[&network, &now],
                )
                .await?;
                LeaderClaim::Leads { from: None }
            }
            Some((instance, beat)) if beat + lease_ms > now => LeaderClaim::Follows {
                instance,
                expires_in_ms: beat + lease_ms - now,
            },
            held => {
                tx.execute(
                    "INSERT INTO leaders (network, instance, since, heartbeat_at) VALUES ($1, $2, $3, $3)
                     ON CONFLICT (network) DO UPDATE SET instance = EXCLUDED.instance,
                       since = EXCLUDED.since, heartbeat_at = EXCLUDED.heartbeat_at",
                    &[&network, &owner.instance, &now],
                )
                .await?;
                LeaderClaim::Leads {
                    from: held.map(|(instance, _)| instance),
                }
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Gives up `owner`'s lead on `network` (if it holds it), so that another bot takes it at once.
    pub(crate) async fn resign_leader(
        &self,
        network: String,
        owner: Arc<Owner>,
    ) -> Result<bool, JournalError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM leaders WHERE network = $1 AND instance = $2",
                &[&network, &owner.instance],
            )
            .await?
            > 0)
    }

    /// Who leads `network`, if anyone has (its lease may have run out).
    pub(crate) async fn leader(
        &self,
        network: String,
    ) -> Result<Option<LeaderRecord>, JournalError> {
        let client = self.client().await?;
        Ok(client
            .query_opt(
                "SELECT network, instance, since, heartbeat_at FROM leaders WHERE network = $1",
                &[&network],
            )
            .await?
            .map(|r| LeaderRecord {
                network: r.get(0),
                instance: r.get(1),
                since: r.get(2),
                heartbeat_at: r.get(3),
            }))
    }

    /// Keeps a `when free` request of `network`, after those already kept.
    pub(crate) async fn queue_line(
        &self,
        network: String,
        q: QueuedLine,
    ) -> Result<(), JournalError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO queued (network, app, env, room, who, display, line, direct)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &network,
                    &q.app,
                    &q.env,
                    &q.room,
                    &q.who,
                    &q.display,
                    &q.line,
                    &i64::from(q.direct),
                ],
            )
            .await?;
        Ok(())
    }

    /// Forgets the requests of `who` for `app`/`env` on `network` (one started). Returns how many.
    pub(crate) async fn dequeue_line(
        &self,
        network: String,
        app: String,
        env: String,
        who: Option<String>,
    ) -> Result<usize, JournalError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM queued WHERE network = $1 AND app = $2 AND env = $3
                   AND who IS NOT DISTINCT FROM $4",
                &[&network, &app, &env, &who],
            )
            .await? as usize)
    }

    /// Takes (reads and forgets) every request kept for `network`, oldest first.
    pub(crate) async fn take_queue(
        &self,
        network: String,
    ) -> Result<Vec<QueuedLine>, JournalError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH taken AS (DELETE FROM queued WHERE network = $1 RETURNING *)
                 SELECT app, env, room, who, display, line, direct FROM taken ORDER BY id",
                &[&network],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| QueuedLine {
                app: r.get(0),
                env: r.get(1),
                room: r.get(2),
                who: r.get(3),
                display: r.get(4),
                line: r.get(5),
                direct: r.get::<_, i64>(6) != 0,
            })
            .collect())
    }
}
