//! Retrieval only: the same retrieval code the chat endpoint uses, for debugging and evaluation.

use actix_web::{web, HttpResponse};
use ragway_protocol::search::SearchRequest;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::knowledge;
use crate::retrieval::{self, SearchParams};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/knowledge_bases/{kb_id}/search", web::post().to(search));
}

async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    let request = SearchRequest::parse(body.into_inner())?;
    let started = std::time::Instant::now();
    let kbs = std::slice::from_ref(&kb);
    let chunks =
        retrieval::search(&state, kbs, &request.query, &SearchParams::from(&request)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "search_query": request.query,
        "data": chunks,
        "took_ms": started.elapsed().as_secs_f64() * 1000.0,
    })))
}
