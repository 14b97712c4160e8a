//! Copying every row of one metadata database into another, for `ragway migrate` (SQLite →
//! PostgreSQL). Both schemas come from the same migrations, column for column; the target's
//! column types say how each value is read from the source and written.

use anyhow::{bail, Context};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::Db;
use crate::config::DatabaseKind;

/// Every table, parents before children (foreign keys hold while copying). The one cycle,
/// `users.default_project_id` → `projects`, is closed after the copy ([`DEFERRED`]).
pub const TABLES: [&str; 11] = [
    "users",
    "projects",
    "memberships",
    "invitations",
    "api_tokens",
    "knowledge_bases",
    "documents",
    "document_sources",
    "chat_logs",
    "jobs",
    "job_documents",
];

/// Columns written NULL by `copy_table` and set afterwards by [`copy_deferred`], because
/// they point at a table copied later: (table, key column, deferred column).
const DEFERRED: [(&str, &str, &str); 1] = [("users", "id", "default_project_id")];

/// A column and how its values travel.
struct Column {
    name: String,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Text,
    Bytes,
}

/// The target must hold nothing yet: copying into a live database would mix two
/// deployments' users and tokens.
pub async fn ensure_empty(target: &Db) -> anyhow::Result<()> {
    for table in TABLES {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&target.pool)
            .await?;
        if n > 0 {
            bail!("the target database is not empty: {table} has {n} rows");
        }
    }
    Ok(())
}

/// Queued or running jobs: a re-index in flight is bound to the source's vector store.
pub async fn active_jobs(db: &Db) -> anyhow::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
            .fetch_one(&db.pool)
            .await?;
    Ok(n)
}

/// Every knowledge base's live collection and its dense dimension.
pub async fn live_collections(db: &Db) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT collection, embedding_dim FROM knowledge_bases ORDER BY collection")
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Copy every row of `table` from `source` to `target` (PostgreSQL) in one transaction;
/// returns the rows copied.
pub async fn copy_table(source: &Db, target: &Db, table: &str) -> anyhow::Result<u64> {
    if target.kind != DatabaseKind::Postgres {
        bail!("the target of a copy must be PostgreSQL");
    }
    let columns = target_columns(target, table).await?;
    let names = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let placeholders = (1..=columns.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!("INSERT INTO {table} ({names}) VALUES ({placeholders})");
    let rows: Vec<AnyRow> = sqlx::query(&format!("SELECT {names} FROM {table}"))
        .fetch_all(&source.pool)
        .await
        .with_context(|| format!("reading {table}"))?;
    let mut tx = target.pool.begin().await?;
    for row in &rows {
        let mut query = sqlx::query(&insert);
        for (i, column) in columns.iter().enumerate() {
            if is_deferred(table, &column.name) {
                query = query.bind(None::<String>);
                continue;
            }
            query = match column.kind {
                Kind::Integer => query.bind(row.try_get::<Option<i64>, _>(i)?),
                Kind::Text => query.bind(row.try_get::<Option<String>, _>(i)?),
                Kind::Bytes => query.bind(row.try_get::<Option<Vec<u8>>, _>(i)?),
            };
        }
        query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("writing a row of {table}"))?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

fn is_deferred(table: &str, column: &str) -> bool {
    DEFERRED.iter().any(|(t, _, c)| *t == table && *c == column)
}

/// Set the columns `copy_table` left NULL (see [`DEFERRED`]) once every table is copied.
pub async fn copy_deferred(source: &Db, target: &Db) -> anyhow::Result<()> {
    for (table, key, column) in DEFERRED {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(&format!(
            "SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL"
        ))
        .fetch_all(&source.pool)
        .await
        .with_context(|| format!("reading {table}.{column}"))?;
        let mut tx = target.pool.begin().await?;
        for (id, value) in rows {
            sqlx::query(&format!(
                "UPDATE {table} SET {column} = $2 WHERE {key} = $1"
            ))
            .bind(id)
            .bind(value)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("writing {table}.{column}"))?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Documents a worker of the source held when it stopped go back to the queue of the
/// target, where no lease of theirs means anything.
pub async fn requeue_claimed(target: &Db) -> anyhow::Result<u64> {
    let done = sqlx::query(
        "UPDATE documents SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL \
         WHERE status = 'processing'",
    )
    .execute(&target.pool)
    .await?;
    Ok(done.rows_affected())
}

async fn target_columns(target: &Db, table: &str) -> anyhow::Result<Vec<Column>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&target.pool)
    .await?;
    if rows.is_empty() {
        bail!("the target database has no table {table}");
    }
    rows.into_iter()
        .map(|(name, data_type)| {
            let kind = match data_type.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Integer,
                "text" | "character varying" => Kind::Text,
                "bytea" => Kind::Bytes,
                other => bail!("{table}.{name} has type {other}, which the copy does not know"),
            };
            Ok(Column { name, kind })
        })
        .collect()
}
