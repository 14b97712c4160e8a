//! Chat completions: the chat log view (`GET /v1/chats/{id}`).

use serde::Serialize;
use serde_json::Value;

/// One logged completion of a chat id.
#[derive(Debug, Clone, Serialize)]
pub struct ChatLogView {
    pub id: String,
    pub chat_id: String,
    pub user_id: Option<String>,
    pub model: String,
    pub search_query: Option<String>,
    /// `[{chunk_id, document_id, kb_id, score}]` of the chunks retrieved.
    pub retrieved: Value,
    /// Stage → milliseconds (`query_ms`, `retrieve_ms`, `first_token_ms`, `generate_ms`, …).
    pub timings: Value,
    /// The backend's usage, when it gave one.
    pub usage: Option<Value>,
    /// `ok` or `error`.
    pub outcome: String,
    pub error: Option<String>,
    pub created_at: i64,
}
