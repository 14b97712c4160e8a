//! Jobs of the caller's project: start a re-index, list, get, cancel.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::api::routes::Routes;
use crate::api::views;
use crate::auth::policy::Rule;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::jobs;
use crate::knowledge;
use crate::state::AppState;
use crate::store::jobs::{JobFilter, JobKind, JobStatus};
use ragway_protocol::knowledge::ReindexRequest;

pub fn routes(r: &mut Routes) {
    r.post(
        "/v1/knowledge_bases/{kb_id}/reindex",
        Rule::Project,
        reindex,
    )
    .get("/v1/jobs", Rule::Project, list)
    .get("/v1/jobs/{job_id}", Rule::Project, get)
    .post("/v1/jobs/{job_id}/cancel", Rule::Project, cancel);
}

/// `POST /v1/knowledge_bases/{kb_id}/reindex` → 202 with the queued job. An empty body
/// rebuilds with the current settings.
async fn reindex(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    let req: ReindexRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReindexRequest::default()
    } else {
        let value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid("body", format!("invalid re-index request: {e}")))?;
        ragway_protocol::params::body(value)?
    };
    let job = jobs::enqueue_reindex(&state, &kb, req).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/v1/jobs/{}", job.id)))
        .json(views::job(&job)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    kb_id: Option<String>,
    /// A job id: list the jobs created before it (the next page).
    after: Option<String>,
    limit: Option<i64>,
}

async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = q
        .status
        .as_deref()
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|e| ApiError::invalid("status", e.to_string()))?;
    let kind = q
        .kind
        .as_deref()
        .map(str::parse::<JobKind>)
        .transpose()
        .map_err(|e| ApiError::invalid("kind", e.to_string()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be in 1..=500"));
    }
    let before = match &q.after {
        Some(id) => {
            let job = jobs::get(&state, &caller.project_id, id)
                .await
                .map_err(|_| ApiError::not_found(Some("after"), format!("unknown job `{id}`")))?;
            Some((job.created_at, job.id))
        }
        None => None,
    };
    let filter = JobFilter {
        status,
        kind,
        kb_id: q.kb_id,
        before,
        limit: limit + 1,
    };
    let mut rows = state.db.list_jobs(&caller.project_id, &filter).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let data: Vec<_> = rows.iter().map(views::job).collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data, "has_more": has_more})))
}

async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = jobs::get(&state, &caller.project_id, &path).await?;
    Ok(HttpResponse::Ok().json(views::job(&job)))
}

async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = jobs::get(&state, &caller.project_id, &path).await?;
    let job = jobs::cancel(&state, &job, Some("canceled by request")).await?;
    Ok(HttpResponse::Ok().json(views::job(&job)))
}
