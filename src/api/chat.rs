//! `POST /v1/chat/completions` (the seed's contract) and `GET /v1/chats/{id}`.

use std::convert::Infallible;

use actix_web::{web, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::api::dialect::ClientDialect;
use crate::api::routes::Routes;
use crate::api::views;
use crate::auth::policy::Rule;
use crate::auth::Caller;
use crate::chat;
use crate::chat::stream::StreamItem;
use crate::error::ApiError;
use crate::state::AppState;
use ragway_protocol::chat::ChatRequest;

pub fn routes(r: &mut Routes) {
    r.post("/v1/chat/completions", Rule::Project, completions)
        .get("/v1/chats/{chat_id}", Rule::Project, chat_log);
}

async fn completions(
    state: web::Data<AppState>,
    caller: Caller,
    ClientDialect(dialect): ClientDialect,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let request = ChatRequest::parse(body.into_inner())?;
    let streaming = request.stream;
    let turn = chat::prepare(&state, caller, request).await?;
    if streaming {
        let items = chat::stream::start(state.into_inner(), turn, dialect).await?;
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
        StreamItem::Done => Bytes::from_static(b"data: [DONE]\n\n"),
    }
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
