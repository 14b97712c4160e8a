//! Chat logs: for a request with a chat id, what was asked, retrieved and answered, with
//! per-stage timings, readable at `GET /v1/chats/{id}`. Logging never fails a request.

use serde_json::{json, Value};

use super::Turn;
use crate::state::AppState;
use crate::store::chats::ChatLog;

/// Log `turn` (when it has a chat id): `outcome` is Ok, or the error message the client got.
pub async fn record(
    state: &AppState,
    turn: &Turn,
    usage: Option<&Value>,
    outcome: Result<(), &str>,
) {
    if turn.request.chat_id.is_empty() {
        return;
    }
    let retrieved: Vec<Value> = turn
        .chunks
        .iter()
        .map(|c| json!({"chunk_id": c.chunk_id, "document_id": c.document_id, "kb_id": c.kb_id, "score": c.score}))
        .collect();
    let (outcome, error) = match outcome {
        Ok(()) => ("ok", None),
        Err(e) => ("error", Some(e.to_owned())),
    };
    let log = ChatLog {
        id: uuid::Uuid::new_v4().to_string(),
        chat_id: turn.request.chat_id.clone(),
        project_id: turn.caller.project_id.clone(),
        user_id: turn.caller.user_id.clone(),
        model: turn.model.id.clone(),
        search_query: turn.search_query.clone(),
        retrieved: Value::Array(retrieved).to_string(),
        timings: turn.timings.to_json().to_string(),
        usage: usage.map(Value::to_string),
        outcome: outcome.into(),
        error,
        created_at: 0,
    };
    if let Err(e) = state.db.insert_chat_log(&log).await {
        tracing::error!(error = %e, chat_id = %log.chat_id, "could not write the chat log");
    }
}
