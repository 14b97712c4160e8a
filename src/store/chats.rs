//! Chat logs: one row per completion that carried a chat id.

use sqlx::FromRow;

use super::{now_ms, Db, StoreError};

/// A chat log's row.
#[derive(Debug, Clone, FromRow)]
pub struct ChatLog {
    pub id: String,
    pub chat_id: String,
    pub project_id: String,
    pub user_id: Option<String>,
    pub model: String,
    pub search_query: Option<String>,
    /// JSON text: `[{chunk_id, document_id, kb_id, score}]`.
    pub retrieved: String,
    /// JSON text: stage → milliseconds.
    pub timings: String,
    /// JSON text: the backend's usage, when it gave one.
    pub usage: Option<String>,
    pub outcome: String,
    pub error: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, chat_id, project_id, user_id, model, search_query, retrieved, timings, usage, outcome, error, created_at";

impl Db {
    pub async fn insert_chat_log(&self, log: &ChatLog) -> Result<(), StoreError> {
        sqlx::query(&format!("INSERT INTO chat_logs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(&log.id)
            .bind(&log.chat_id)
            .bind(&log.project_id)
            .bind(&log.user_id)
            .bind(&log.model)
            .bind(&log.search_query)
            .bind(&log.retrieved)
            .bind(&log.timings)
            .bind(&log.usage)
            .bind(&log.outcome)
            .bind(&log.error)
            .bind(if log.created_at == 0 { now_ms() } else { log.created_at })
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn chat_logs(
        &self,
        project: &str,
        chat_id: &str,
    ) -> Result<Vec<ChatLog>, StoreError> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM chat_logs WHERE project_id = $1 AND chat_id = $2 ORDER BY created_at, id"))
            .bind(project)
            .bind(chat_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }
}
