//! What this server offers a form to choose from: the embedding models a knowledge base may
//! use (`GET /v1/embedding_models`) and the configured rerankers (`GET /v1/rerankers`).

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::api::routes::Routes;
use crate::auth::policy::Rule;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.get("/v1/embedding_models", Rule::Token, embedding_models)
        .get("/v1/rerankers", Rule::Token, rerankers);
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
