//! `POST /v1/chat/completions` (the seed's contract), `GET /v1/models`, `GET /v1/chats/{id}`.

use std::convert::Infallible;

use actix_web::{web, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::api::routes::Routes;
use crate::api::views;
use crate::auth::policy::Rule;
use crate::auth::{Caller, Principal};
use crate::chat;
use crate::chat::stream::StreamItem;
use crate::error::ApiError;
use crate::state::AppState;
use ragway_protocol::chat::ChatRequest;

pub fn routes(r: &mut Routes) {
    r.post("/v1/chat/completions", Rule::Project, completions)
        .get("/v1/models", Rule::Token, models)
        .get("/v1/chats/{chat_id}", Rule::Project, chat_log);
}

async fn completions(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let request = ChatRequest::parse(body.into_inner())?;
    let streaming = request.stream;
    let turn = chat::prepare(&state, caller, request).await?;
    if streaming {
        let items = chat::stream::start(state.into_inner(), turn).await?;
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(items.map(|item| Ok::<_, Infallible>(sse_frame(item)))));
    }
    Ok(HttpResponse::Ok().json(chat::complete(&state, turn).await?))
}

/// One item of the answer stream as SSE bytes.
fn sse_frame(item: StreamItem) -> Bytes {
    match item {
        StreamItem::Chunk(v) => Bytes::from(format!("data: {v}\n\n")),
        StreamItem::Error(e) => Bytes::from(format!("data: {}\n\n", ApiError::from(e).body())),
        StreamItem::KeepAlive => Bytes::from_static(b": keep-alive\n\n"),
        StreamItem::Done => Bytes::from_static(b"data: [DONE]\n\n"),
    }
}

async fn models(state: web::Data<AppState>, _who: Principal) -> Result<HttpResponse, ApiError> {
    let data: Vec<Value> = state
        .generation
        .models()
        .iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by, "context_length": m.context_length}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}

async fn chat_log(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let logs = state.db.chat_logs(&caller.project_id, &path).await?;
    if logs.is_empty() {
        return Err(ApiError::not_found(
            Some("chat_id"),
            format!("no chat `{path}` in this project"),
        ));
    }
    let entries: Vec<_> = logs.into_iter().map(views::chat_log).collect();
    Ok(HttpResponse::Ok()
        .json(json!({"object": "chat.log", "chat_id": path.into_inner(), "data": entries})))
}
