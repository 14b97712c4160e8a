//! Retrieval only: the same retrieval code the chat endpoint uses, for debugging and evaluation.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::knowledge;
use crate::retrieval::{self, user_filter, SearchParams};
use crate::startup::AppState;
use crate::vector::SearchMode;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/knowledge_bases/{kb_id}/search", web::post().to(search));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    query: String,
    k: Option<usize>,
    filter: Option<Value>,
    search_mode: Option<String>,
    score_threshold: Option<f32>,
    candidates: Option<usize>,
    max_chunks_per_document: Option<usize>,
    fusion: Option<String>,
    /// Per-leg scores on each hit and per-stage timings on the response.
    #[serde(default)]
    explain: bool,
}

pub fn parse_mode(s: &str, param: &str) -> Result<SearchMode, ApiError> {
    match s {
        "hybrid" => Ok(SearchMode::Hybrid),
        "dense" => Ok(SearchMode::Dense),
        "sparse" => Ok(SearchMode::Sparse),
        other => Err(ApiError::invalid(
            param,
            format!("unknown search_mode `{other}`; use hybrid, dense or sparse"),
        )),
    }
}

impl SearchRequest {
    fn params(&self) -> Result<SearchParams, ApiError> {
        let k = self.k.unwrap_or(5);
        if !(1..=1024).contains(&k) {
            return Err(ApiError::invalid("k", "k must be in 1..=1024"));
        }
        if let Some(c) = self.candidates {
            if !(1..=10_000).contains(&c) {
                return Err(ApiError::invalid(
                    "candidates",
                    "candidates must be in 1..=10000",
                ));
            }
        }
        if self.max_chunks_per_document == Some(0) {
            return Err(ApiError::invalid(
                "max_chunks_per_document",
                "max_chunks_per_document must be at least 1",
            ));
        }
        Ok(SearchParams {
            k,
            filter: self
                .filter
                .as_ref()
                .map(|f| user_filter::parse(f, "filter"))
                .transpose()?,
            mode: self
                .search_mode
                .as_deref()
                .map(|m| parse_mode(m, "search_mode"))
                .transpose()?
                .unwrap_or_default(),
            fusion: self
                .fusion
                .as_deref()
                .map(|f| crate::retrieval::parse_fusion(f, "fusion"))
                .transpose()?
                .unwrap_or(SearchParams::default().fusion),
            score_threshold: self.score_threshold,
            candidates: self.candidates,
            max_chunks_per_document: self.max_chunks_per_document,
        })
    }
}

async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    let params = body.params()?;
    if body.explain {
        return explained(&state, &kb, &body.query, &params).await;
    }
    let started = std::time::Instant::now();
    let chunks = retrieval::search(&state, std::slice::from_ref(&kb), &body.query, &params).await?;
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "search_query": body.query,
        "data": chunks,
        "took_ms": started.elapsed().as_secs_f64() * 1000.0,
    })))
}

/// `explain: true`: each hit with `scores: {dense, sparse, fused}`, and `timings`.
async fn explained(
    state: &AppState,
    kb: &crate::store::knowledge::KnowledgeBase,
    query: &str,
    params: &SearchParams,
) -> Result<HttpResponse, ApiError> {
    let out = retrieval::explain::search_explained(state, std::slice::from_ref(kb), query, params)
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
