//! Retrieval only: the same retrieval code the chat endpoint uses, for debugging and evaluation.

use actix_web::{web, HttpResponse};
use ragway_protocol::search::SearchRequest;
use serde_json::{json, Value};

use crate::api::routes::Routes;
use crate::auth::policy::Rule;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::knowledge;
use crate::retrieval::{self, SearchParams};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.post("/v1/knowledge_bases/{kb_id}/search", Rule::Project, search);
}

async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    let request = SearchRequest::parse(body.into_inner())?;
    if request.explain {
        return explained(&state, &kb, &request).await;
    }
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

/// `explain: true`: each hit with `scores: {dense, sparse, fused}`, and `timings`.
async fn explained(
    state: &AppState,
    kb: &crate::store::knowledge::KnowledgeBase,
    request: &SearchRequest,
) -> Result<HttpResponse, ApiError> {
    let query = &request.query;
    let params = SearchParams::from(request);
    let out = retrieval::explain::search_explained(state, std::slice::from_ref(kb), query, &params)
        .await?;
    let data: Vec<Value> = out
        .hits
        .into_iter()
        .map(|(chunk, scores)| {
            let mut v = serde_json::to_value(chunk).unwrap_or_default();
            v["scores"] = json!(scores);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "search_query": query,
        "data": data,
        "took_ms": out.timings.total_ms,
        "timings": out.timings,
    })))
}
