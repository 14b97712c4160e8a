//! Knowledge bases of the caller's project: create, list, get, update, delete.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::api::routes::Routes;
use crate::api::{validate_id, views};
use crate::auth::policy::Rule;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::knowledge;
use crate::state::AppState;
use crate::store::knowledge::KnowledgeBase;
use ragway_protocol::knowledge::{KnowledgeBaseDescription, NewKnowledgeBase};

pub fn routes(r: &mut Routes) {
    const KB: &str = "/v1/knowledge_bases/{kb_id}";
    r.post("/v1/knowledge_bases", Rule::Project, create)
        .get("/v1/knowledge_bases", Rule::Project, list)
        .get(KB, Rule::Project, get)
        .patch(KB, Rule::Project, update)
        .delete(KB, Rule::Project, delete);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    name: Option<String>,
    description: Option<String>,
}

/// The knowledge base with its contents, as create, get and update answer.
async fn describe(
    state: &AppState,
    kb: &KnowledgeBase,
) -> Result<KnowledgeBaseDescription, ApiError> {
    let contents = knowledge::contents(state, kb).await?;
    Ok(views::description(kb, &contents))
}

async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let body: NewKnowledgeBase = ragway_protocol::params::body(body.into_inner())?;
    if let Some(id) = &body.id {
        validate_id("id", id)?;
    }
    let kb = knowledge::create(&state, &caller.project_id, body).await?;
    Ok(HttpResponse::Created().json(describe(&state, &kb).await?))
}

async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let kbs: Vec<_> = knowledge::list(&state, &caller.project_id)
        .await?
        .iter()
        .map(|(kb, documents, chunks)| views::knowledge_base_summary(kb, *documents, *chunks))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": kbs})))
}

async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    Ok(HttpResponse::Ok().json(describe(&state, &kb).await?))
}

async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let body: Update = ragway_protocol::params::body(body.into_inner())?;
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    let name = body.name.clone().unwrap_or(kb.name.clone());
    let description = body.description.clone().unwrap_or(kb.description.clone());
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name", "name must not be empty"));
    }
    state
        .db
        .update_kb_info(&kb.project_id, &kb.id, &name, &description)
        .await?;
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    Ok(HttpResponse::Ok().json(describe(&state, &kb).await?))
}

async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    knowledge::delete(&state, &kb).await?;
    Ok(HttpResponse::Ok().json(json!({"id": kb.id, "deleted": true})))
}
