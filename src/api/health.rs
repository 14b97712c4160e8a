//! Liveness (`/healthz`: the process answers), readiness (`/readyz`: every dependency a
//! request needs answers too) and the API's description (`/openapi.json`, from
//! `docs/openapi.json`; a test keeps it in step with the routes).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/openapi.json", web::get().to(openapi));
}

/// The OpenAPI 3.1 description of every route.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.db.ping().await {
        Ok(()) => json!({"status": "ok", "backend": format!("{:?}", state.db.kind).to_lowercase()}),
        Err(e) => json!({"status": "error", "error": e.to_string()}),
    };
    let vectors = match state.vectors.health().await {
        Ok(()) => json!({"status": "ok", "backend": state.vectors.backend()}),
        Err(e) => {
            json!({"status": "error", "backend": state.vectors.backend(), "error": e.to_string()})
        }
    };
    let embedder = json!({"status": "ok", "model": state.pipeline.embedder.model_name(), "dim": state.pipeline.embedder.dim()});
    let ready = database["status"] == "ok" && vectors["status"] == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {"database": database, "vector_store": vectors, "embedder": embedder},
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
