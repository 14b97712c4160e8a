//! What can go wrong in the metadata store, classed so callers know what to retry
//! (`Unavailable`) and what to report (`Duplicate`: the thing exists). The one place sqlx's
//! error type is looked at.

/// A failure of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or the pool gave up waiting: retry later.
    #[error("database: {0}")]
    Unavailable(String),
    /// A unique key is taken: the row exists already.
    #[error("database: {0}")]
    Duplicate(String),
    /// The database holds a value this version cannot read (an unknown status, …).
    #[error("database: unreadable row: {0}")]
    Corrupt(String),
    /// Setting the database up failed (bad URL, unreachable at start, migrations).
    #[error("{0}")]
    Setup(String),
    /// Any other failure of a statement: a bug, or a database in a bad state.
    #[error("database: {0}")]
    Query(String),
}

impl StoreError {
    /// Worth retrying later (the database may come back).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Did the statement fail only because another writer held a lock it needed? SQLite: BUSY or
/// LOCKED (primary result codes 5 and 6, in any extended form); PostgreSQL: serialization
/// failure, deadlock, lock not available. Worth running again as it was.
pub(super) fn is_contention(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else {
        return false;
    };
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The extended result code; its low byte is the primary one.
        return code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
    }
    matches!(code.as_ref(), "40001" | "40P01" | "55P03")
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            e if is_contention(e) => StoreError::Unavailable(format!("database busy: {err}")),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(err.to_string())
            }
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Duplicate(err.to_string())
            }
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
                StoreError::Corrupt(err.to_string())
            }
            _ => StoreError::Query(err.to_string()),
        }
    }
}
