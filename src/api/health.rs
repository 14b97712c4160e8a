//! Liveness (`/healthz`, and `/health` where JamAI's SDK asks: the process answers), readiness (`/readyz`: every dependency a
//! request needs answers too), Prometheus metrics (`/metrics`) and the API's description
//! (`/openapi.json`, from `docs/openapi.json`; a test keeps it in step with the routes).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::api::routes::Routes;
use crate::auth::policy::Rule;
use crate::metrics;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.get("/healthz", Rule::Public, healthz)
        .get("/health", Rule::Public, healthz)
        .get("/readyz", Rule::Public, readyz)
        .get("/metrics", Rule::Public, metrics)
        .get("/openapi.json", Rule::Public, openapi);
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut out = String::new();
    metrics::HTTP.render(&mut out);
    let documents = match state.db.document_status_counts().await {
        Ok(rows) => Some(rows),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: database query failed");
            None
        }
    };
    metrics::render_documents(&mut out, documents.as_deref());
    if let Ok(rows) = state.db.job_counts().await {
        metrics::render_jobs(&mut out, &rows);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
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
