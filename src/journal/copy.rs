//! `bosun migrate-journal`: copies a SQLite journal into an empty PostgreSQL one without loss
//! (every deploy, step, file, lock, freeze, chat message, leader and queued request, and the
//! journal's identity and generation), then reads both back and compares every row.

use std::path::Path;

use rusqlite::types::Value as SqlValue;
use tokio_postgres::types::ToSql;

use super::JournalError;
use super::location::PgSettings;
use super::postgres::Postgres;
use super::sqlite::Sqlite;

/// A column's type in both databases.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
}

use Kind::{Int, Text};

/// A table copied: its name, its columns, and the order that makes a comparison exact.
type Table = (&'static str, &'static [(&'static str, Kind)], &'static str);

/// The tables copied.
const TABLES: &[Table] = &[
    (
        "deploys",
        &[
            ("id", Int),
            ("kind", Text),
            ("app", Text),
            ("env", Text),
            ("reference", Text),
            ("revision", Text),
            ("tag", Text),
            ("release", Text),
            ("previous_release", Text),
            ("previous_revision", Text),
            ("requested_by", Text),
            ("room", Text),
            ("state", Text),
            ("plan", Text),
            ("summary", Text),
            ("started_at", Int),
            ("finished_at", Int),
            ("owner_pid", Int),
            ("generation", Int),
            ("owner", Text),
        ],
        "id",
    ),
    (
        "steps",
        &[
            ("id", Int),
            ("deploy_id", Int),
            ("seq", Int),
            ("host", Text),
            ("phase", Text),
            ("label", Text),
            ("action", Text),
            ("undo", Text),
            ("state", Text),
            ("output", Text),
            ("started_at", Int),
            ("finished_at", Int),
            ("undo_of", Int),
        ],
        "id",
    ),
    (
        "files",
        &[
            ("deploy_id", Int),
            ("path", Text),
            ("size", Int),
            ("sha256", Text),
        ],
        "deploy_id, path, sha256, size",
    ),
    (
        "locks",
        &[
            ("app", Text),
            ("env", Text),
            ("kind", Text),
            ("holder", Text),
            ("reason", Text),
            ("since", Int),
            ("deploy_id", Int),
            ("owner_pid", Int),
            ("heartbeat_at", Int),
            ("generation", Int),
            ("owner", Text),
        ],
        "env, app",
    ),
    (
        "freezes",
        &[
            ("env", Text),
            ("holder", Text),
            ("reason", Text),
            ("since", Int),
            ("until", Int),
        ],
        "env",
    ),
    (
        "messages",
        &[
            ("id", Int),
            ("deploy_id", Int),
            ("at", Int),
            ("room", Text),
            ("kind", Text),
            ("text", Text),
        ],
        "id",
    ),
    (
        "leaders",
        &[
            ("network", Text),
            ("instance", Text),
            ("since", Int),
            ("heartbeat_at", Int),
        ],
        "network",
    ),
    (
        "queued",
        &[
            ("id", Int),
            ("network", Text),
            ("app", Text),
            ("env", Text),
            ("room", Text),
            ("who", Text),
            ("display", Text),
            ("line", Text),
            ("direct", Int),
        ],
        "id",
    ),
    ("meta", &[("key", Text), ("value", Text)], "key"),
];

/// One value, the same whichever database it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    fn from_sqlite(value: SqlValue, kind: Kind) -> Value {
        match (value, kind) {
            (SqlValue::Null, _) => Value::Null,
            (SqlValue::Integer(i), Int) => Value::Int(i),
            (SqlValue::Integer(i), Text) => Value::Text(i.to_string()),
            (SqlValue::Real(f), Int) => Value::Int(f as i64),
            (SqlValue::Real(f), Text) => Value::Text(f.to_string()),
            (SqlValue::Text(t), Text) => Value::Text(t),
            (SqlValue::Text(t), Int) => t.trim().parse().map_or(Value::Text(t), Value::Int),
            (SqlValue::Blob(b), _) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Value::Text(t) => Some(t.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Null => None,
        }
    }
}

/// How many rows of each table were copied (and found equal on both sides).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, usize)>,
}

impl CopyReport {
    pub fn count(&self, table: &str) -> usize {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

impl std::fmt::Display for CopyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .tables
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect();
        write!(f, "{}", parts.join(", "))
    }
}

/// Why a copy did not happen or did not match.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the target journal is not empty ({0}); bosun copies only into an empty one")]
    NotEmpty(String),
    #[error("table {table}: {detail}")]
    Mismatch { table: &'static str, detail: String },
}

fn quoted(column: &str) -> String {
    format!("\"{column}\"")
}

/// Reads every row of every table from the SQLite journal.
async fn read_sqlite(db: &Sqlite) -> Result<Vec<Vec<Vec<Value>>>, JournalError> {
    db.with(|conn| {
        let mut all = Vec::new();
        for (table, columns, order) in TABLES {
            let names: Vec<String> = columns.iter().map(|(c, _)| quoted(c)).collect();
            let mut stmt = conn.prepare(&format!(
                "SELECT {} FROM {table} ORDER BY {order}",
                names.join(", ")
            ))?;
            let rows = stmt.query_map([], |r| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| Ok(Value::from_sqlite(r.get::<_, SqlValue>(i)?, *kind)))
                    .collect::<rusqlite::Result<Vec<Value>>>()
            })?;
            all.push(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
        Ok(all)
    })
    .await
}

/// Reads every row of every table from the PostgreSQL journal.
async fn read_postgres(
    client: &impl deadpool_postgres::GenericClient,
) -> Result<Vec<Vec<Vec<Value>>>, JournalError> {
    let mut all = Vec::new();
    for (table, columns, order) in TABLES {
        let names: Vec<String> = columns.iter().map(|(c, _)| quoted(c)).collect();
        let rows = client
            .query(
                &format!("SELECT {} FROM {table} ORDER BY {order}", names.join(", ")),
                &[],
            )
            .await?;
        all.push(
            rows.iter()
                .map(|r| {
                    columns
                        .iter()
                        .enumerate()
                        .map(|(i, (_, kind))| match kind {
                            Int => r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int),
                            Text => r
                                .get::<_, Option<String>>(i)
                                .map_or(Value::Null, Value::Text),
                        })
                        .collect()
                })
                .collect(),
        );
    }
    Ok(all)
}

/// Copies the SQLite journal at `from` into the empty PostgreSQL journal `to`, then compares
/// every row of both.
pub async fn sqlite_to_postgres(from: &Path, to: &PgSettings) -> Result<CopyReport, CopyError> {
    if !from.is_file() {
        return Err(JournalError::Settings(format!("{}: no such journal", from.display())).into());
    }
    let from_path = from.to_path_buf();
    let source = tokio::task::spawn_blocking(move || Sqlite::open_blocking(&from_path))
        .await
        .map_err(|_| JournalError::Join)??;
    let target = Postgres::connect(to).await?;
    let rows = read_sqlite(&source).await?;

    let mut client = target.pool().get().await.map_err(JournalError::from)?;
    let tx = client.transaction().await.map_err(JournalError::from)?;
    let mut present = Vec::new();
    for (table, _, _) in TABLES.iter().filter(|(t, _, _)| *t != "meta") {
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .map_err(JournalError::from)?
            .get(0);
        if n > 0 {
            present.push(format!("{n} {table}"));
        }
    }
    if !present.is_empty() {
        return Err(CopyError::NotEmpty(present.join(", ")));
    }
    tx.execute("DELETE FROM meta", &[])
        .await
        .map_err(JournalError::from)?;
    for ((table, columns, _), table_rows) in TABLES.iter().zip(&rows) {
        let names: Vec<String> = columns.iter().map(|(c, _)| quoted(c)).collect();
        // A few hundred rows per statement: few round trips, well under the parameter limit.
        let per_statement = (60_000 / columns.len()).min(500);
        for chunk in table_rows.chunks(per_statement) {
            let mut placeholders = Vec::with_capacity(chunk.len());
            let mut ints: Vec<Option<i64>> = Vec::new();
            let mut texts: Vec<Option<String>> = Vec::new();
            let mut order: Vec<(Kind, usize)> = Vec::new();
            for row in chunk {
                let mut one = Vec::with_capacity(columns.len());
                for (value, (_, kind)) in row.iter().zip(columns.iter()) {
                    match kind {
                        Int => {
                            ints.push(value.int());
                            order.push((Int, ints.len() - 1));
                        }
                        Text => {
                            texts.push(value.text());
                            order.push((Text, texts.len() - 1));
                        }
                    }
                    one.push(format!("${}", order.len()));
                }
                placeholders.push(format!("({})", one.join(", ")));
            }
            let params: Vec<&(dyn ToSql + Sync)> = order
                .iter()
                .map(|(kind, i)| match kind {
                    Int => &ints[*i] as &(dyn ToSql + Sync),
                    Text => &texts[*i] as &(dyn ToSql + Sync),
                })
                .collect();
            tx.execute(
                &format!(
                    "INSERT INTO {table} ({}) VALUES {}",
                    names.join(", "),
                    placeholders.join(", ")
                ),
                &params,
            )
            .await
            .map_err(JournalError::from)?;
        }
    }
    for table in ["deploys", "steps", "messages", "queued"] {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .await
        .map_err(JournalError::from)?;
    }
    let copied = read_postgres(&tx).await?;
    let mut report = CopyReport { tables: Vec::new() };
    for (((table, _, _), want), got) in TABLES.iter().zip(&rows).zip(&copied) {
        if want.len() != got.len() {
            return Err(CopyError::Mismatch {
                table,
                detail: format!(
                    "{} rows in the SQLite journal, {} copied",
                    want.len(),
                    got.len()
                ),
            });
        }
        if let Some(i) = (0..want.len()).find(|&i| want[i] != got[i]) {
            return Err(CopyError::Mismatch {
                table,
                detail: format!("row {}: {:?} became {:?}", i + 1, want[i], got[i]),
            });
        }
        report.tables.push((*table, want.len()));
    }
    tx.commit().await.map_err(JournalError::from)?;
    Ok(report)
}
