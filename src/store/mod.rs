//! Metadata storage through sqlx's `Any` driver: one set of queries for SQLite (the embedded
//! default, a WAL file in the data dir) and PostgreSQL (scale-out). Timestamps are BIGINT unix
//! milliseconds and JSON is TEXT, because `Any` maps only scalars and strings. All SQL of
//! ragway lives below this module, and no sqlx type leaves it: methods answer rows, counts
//! and `StoreError`.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::config::{Config, DatabaseKind};

pub mod chats;
pub mod copy;
mod error;
pub mod jobs;
pub mod knowledge;
pub mod tenancy;

pub use error::StoreError;

/// How often a write that met lock contention is tried again (see `Db::retrying`).
const CONTENTION_RETRIES: u32 = 8;

/// The metadata database: a pool and which backend it talks to.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    pub kind: DatabaseKind,
}

/// Milliseconds since the epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A stored word (status, kind) as its enum; an unknown one is a corrupt row.
fn decode<T: TryFrom<String, Error = ragway_protocol::UnknownWord>>(
    s: String,
) -> Result<T, StoreError> {
    T::try_from(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Db {
    /// The statement that claims the next due row of a leased queue table (`documents`,
    /// `jobs`) for `$1` until `$2`, at time `$3`: a queued row whose backoff is over, or a
    /// `working` one whose lease ran out (its worker died) and that has had fewer than `$4`
    /// attempts. `FOR UPDATE SKIP LOCKED` on PostgreSQL keeps concurrent claimers apart; SQLite
    /// has a single writer. Every claim counts an attempt and takes the row's next fencing
    /// token (`fence`: above the last one and not below the claim time, see migration 0005).
    /// `extra_set` adds assignments; the claimed row comes back as `columns`.
    pub(crate) fn claim_sql(
        &self,
        table: &str,
        working: &str,
        extra_set: &str,
        columns: &str,
    ) -> String {
        let lock = match self.kind {
            DatabaseKind::Postgres => "FOR UPDATE SKIP LOCKED",
            DatabaseKind::Sqlite => "",
        };
        format!(
            "UPDATE {table} SET status = '{working}', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, fence = CASE WHEN fence + 1 > $3 THEN fence + 1 ELSE $3 END, \
             updated_at = $3{extra_set} \
             WHERE id = (SELECT id FROM {table} WHERE (status = 'queued' AND next_attempt_at <= $3) \
                OR (status = '{working}' AND lease_expires_at < $3 AND attempts < $4) \
                ORDER BY next_attempt_at, created_at LIMIT 1 {lock}) \
             RETURNING {columns}"
        )
    }

    /// The statement that fails, at time `$1` with error `$2`, the `working` rows of a leased
    /// queue table whose lease ran out after `$3` attempts: each claim's worker died or
    /// stalled, so another claim would most likely end the same way (a poison pill).
    pub(crate) fn abandon_sql(table: &str, working: &str, extra_set: &str) -> String {
        format!(
            "UPDATE {table} SET status = 'failed', error = $2, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $1{extra_set} \
             WHERE status = '{working}' AND lease_expires_at < $1 AND attempts >= $3"
        )
    }

    /// The error of a row `abandon_sql` failed.
    pub(crate) fn abandoned_message(attempts: i64) -> String {
        format!(
            "processing did not finish in {attempts} attempts (the worker crashed or timed out)"
        )
    }

    /// Connect (creating the SQLite file and data dir when needed) and apply migrations.
    pub async fn connect(config: &Config) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let kind = config
            .database_kind()
            .map_err(|e| StoreError::Setup(format!("{e:#}")))?;
        let url = config.database_url();
        if kind == DatabaseKind::Sqlite {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                StoreError::Setup(format!(
                    "creating the data directory {}: {e}",
                    config.data_dir.display()
                ))
            })?;
        }
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Setup(format!("parsing database.url: {e}")))?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.database.max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DatabaseKind::Sqlite {
                        // WAL lets readers run beside the one writer; busy_timeout makes the
                        // writers queue instead of failing with SQLITE_BUSY.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Setup(format!("connecting to the {kind:?} database: {e}")))?;
        let db = Db { pool, kind };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.kind {
            DatabaseKind::Sqlite => sqlx::migrate!("migrations/sqlite"),
            DatabaseKind::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Setup(format!("applying database migrations: {e}")))
    }

    /// A transaction that will write. On SQLite it starts with `BEGIN IMMEDIATE`, taking the
    /// write lock up front: a deferred transaction that reads first and writes later cannot
    /// wait for the lock once another writer has committed (SQLITE_BUSY at once, whatever
    /// busy_timeout says), so concurrent uploads would fail instead of queueing.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.kind {
            DatabaseKind::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            DatabaseKind::Postgres => self.pool.begin().await,
        }
    }

    /// Run `op` (one write: a statement or a whole transaction), again when the database
    /// answered with lock contention: SQLITE_BUSY/LOCKED after busy_timeout ran out (another
    /// process holds the write lock), or a PostgreSQL serialization failure or deadlock. Up to
    /// `CONTENTION_RETRIES` times with doubling, jittered waits (about 6 s in all), each one
    /// logged; then the error stands, as `Unavailable`.
    pub(crate) async fn retrying<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let mut attempt = 0u32;
        loop {
            match op().await {
                Err(e) if error::is_contention(&e) && attempt < CONTENTION_RETRIES => {
                    attempt += 1;
                    let base = 25u64 << attempt.min(7);
                    let wait = base / 2 + rand::random::<u64>() % base;
                    tracing::warn!(what, attempt, wait_ms = wait, error = %e, "database busy; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                other => return other.map_err(StoreError::from),
            }
        }
    }

    /// Is the database answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
