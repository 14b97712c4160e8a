//! What this server offers a form to choose from: the embedding models a knowledge base may
//! use (`GET /v1/embedding_models`) and the configured rerankers (`GET /v1/rerankers`).

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/embedding_models", web::get().to(embedding_models))
        .route("/v1/rerankers", web::get().to(rerankers));
}

async fn embedding_models(
    state: web::Data<AppState>,
    _who: Principal,
) -> Result<HttpResponse, ApiError> {
    let default = state.pipeline.embedder.model_name();
    let data: Vec<Value> = state
        .models
        .iter()
        .map(|(id, p)| json!({"id": id, "dimension": p.embedder.dim(), "default": id == default}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}

async fn rerankers(state: web::Data<AppState>, _who: Principal) -> Result<HttpResponse, ApiError> {
    let data: Vec<Value> = state
        .rerankers
        .names()
        .into_iter()
        .map(|id| json!({"id": id}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}
