//! Group commit for the step records: the intents and outcomes that hosts write at the same moment share one transaction, and each write is answered only once that transaction is durable.
//!
//! Every host of a wave writes its step's intent, then its outcome, each of which must be on disk
//! before the step goes on. One commit (with `synchronous = FULL`, an fsync) each put 32 hosts'
//! writes in a line; here a write is queued, and whichever blocking task next holds the
//! connection takes every write queued by then into one transaction, each in a savepoint of its
//! own (one write's failure is its own), commits once and answers them all.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::journal::JournalError;

/// What one write does; its result is a row id, or 0.
type Write = Box<dyn FnOnce(&Connection) -> Result<i64, JournalError> + Send>;

/// One write, and who waits for its answer.
struct Queued {
    write: Write,
    answer: oneshot::Sender<Result<i64, JournalError>>,
}

/// The writes waiting for the connection.
#[derive(Clone, Default)]
pub(super) struct Group {
    queue: Arc<Mutex<Vec<Queued>>>,
}

impl Group {
    /// Runs `write` in the next group transaction on `conn`; its result once that is committed.
    pub(super) async fn write<F>(
        &self,
        conn: &Arc<Mutex<Connection>>,
        write: F,
    ) -> Result<i64, JournalError>
    where
        F: FnOnce(&Connection) -> Result<i64, JournalError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        self.lock().push(Queued {
            write: Box::new(write),
            answer,
        });
        // This task takes the queue once it holds the connection. If an earlier one took this
        // write, that one held the connection until it had answered, so the answer is there by
        // the time this task ends.
        let (conn, group) = (conn.clone(), self.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let batch = std::mem::take(&mut *group.lock());
            if !batch.is_empty() {
                commit(&mut conn, batch);
            }
        })
        .await
        .map_err(|_| JournalError::Join)?;
        answered.await.map_err(|_| JournalError::Join)?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs `batch` in one transaction, each write in a savepoint, and answers every write after the
/// commit (or with the reason it could not be made).
fn commit(conn: &mut Connection, batch: Vec<Queued>) {
    let (writes, answers): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|q| (q.write, q.answer)).unzip();
    let mut results = Vec::with_capacity(writes.len());
    let done = (|| -> Result<(), rusqlite::Error> {
        let mut tx = conn.transaction()?;
        for write in writes {
            let savepoint = tx.savepoint()?;
            let result = write(&savepoint);
            // A failed write's savepoint is rolled back as it is dropped.
            if result.is_ok() {
                savepoint.commit()?;
            }
            results.push(result);
        }
        tx.commit()
    })();
    match done {
        Ok(()) => {
            for (answer, result) in answers.into_iter().zip(results) {
                // A writer that stopped waiting wants no answer.
                let _ = answer.send(result);
            }
        }
        Err(e) => {
            let why = e.to_string();
            for answer in answers {
                let _ = answer.send(Err(JournalError::Database(
                    format!("the group commit failed: {why}").into(),
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<Mutex<Connection>> {
        let conn = Connection::open_in_memory().expect("an in-memory database");
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL UNIQUE)")
            .expect("the table");
        Arc::new(Mutex::new(conn))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_at_once_each_get_their_own_answer_and_a_failure_stays_its_own() {
        let (conn, group) = (table(), Group::default());
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..64_i64 {
            let (conn, group) = (conn.clone(), group.clone());
            writes.spawn(async move {
                // Write 13 repeats 12's value: the UNIQUE constraint refuses it.
                let value = if n == 13 { 12 } else { n };
                let id = group
                    .write(&conn, move |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [value])?;
                        Ok(c.last_insert_rowid())
                    })
                    .await;
                (n, id)
            });
        }
        let mut ids = Vec::new();
        let mut refused = Vec::new();
        while let Some(done) = writes.join_next().await {
            match done.expect("the write task") {
                (_, Ok(id)) => ids.push(id),
                (n, Err(_)) => refused.push(n),
            }
        }
        // One of 12 and 13 came first; the other was refused, and nothing else.
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0] == 12 || refused[0] == 13);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 63, "every other write has its own row id");
        let rows: i64 = conn
            .lock()
            .expect("the connection")
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("a count");
        assert_eq!(rows, 63, "every answered write is in the table");
    }
}
