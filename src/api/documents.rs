//! Documents of a knowledge base: multipart or JSON upload (202, or the final state with
//! `?wait=true`), idempotent upsert by external id, list, get, chunks, delete.

use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::api::routes::Routes;
use crate::api::upload;
use crate::api::views;
use crate::auth::policy::Rule;
use crate::auth::Caller;
use crate::documents;
use crate::error::ApiError;
use crate::knowledge;
use crate::retrieval::RetrievedChunk;
use crate::state::AppState;
use crate::store::knowledge::{Document, DocumentStatus, PutOutcome};
use crate::vector::{Filter, MatchValue};

pub fn routes(r: &mut Routes) {
    const DOCS: &str = "/v1/knowledge_bases/{kb_id}/documents";
    const DOC: &str = "/v1/knowledge_bases/{kb_id}/documents/{doc}";
    r.post(DOCS, Rule::Project, upload)
        .get(DOCS, Rule::Project, list)
        .put(DOC, Rule::Project, put)
        .get(DOC, Rule::Project, get)
        .delete(DOC, Rule::Project, delete)
        .get(
            "/v1/knowledge_bases/{kb_id}/documents/{doc}/chunks",
            Rule::Project,
            chunks,
        )
        .get(
            "/v1/knowledge_bases/{kb_id}/documents/{doc}/text",
            Rule::Project,
            text,
        )
        .post(
            "/v1/knowledge_bases/{kb_id}/documents/{doc}/retry",
            Rule::Project,
            retry,
        );
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: bool,
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<WaitQuery>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    let received = upload::read(&state, &req, body).await?;
    // Every document is checked before any is queued: a bad one fails the request alone.
    for r in &received {
        documents::validate(&state, r.upload(), r.size())?;
    }
    let mut results = Vec::with_capacity(received.len());
    for r in received {
        results.push(documents::submit(&state, &kb, r.load().await?).await?);
    }
    respond(&state, results, query.wait).await
}

async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<WaitQuery>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (kb_id, external_id) = path.into_inner();
    let kb = knowledge::get(&state, &caller.project_id, &kb_id).await?;
    let mut received = upload::read(&state, &req, body).await?;
    if received.len() != 1 {
        return Err(ApiError::invalid("file", "PUT takes exactly one document"));
    }
    let mut up = received.remove(0).load().await?;
    if up.external_id.as_deref().is_some_and(|e| e != external_id) {
        return Err(ApiError::invalid(
            "external_id",
            "external_id in the body differs from the one in the path",
        ));
    }
    up.external_id = Some(external_id);
    let result = documents::submit(&state, &kb, up).await?;
    respond(&state, vec![result], query.wait).await
}

/// 202 with each document's state; with `wait`, poll until all are ready or failed (200), or
/// until `ingest.wait_timeout_secs` (202 with the states then). Unchanged documents are 200.
async fn respond(
    state: &AppState,
    results: Vec<(Document, PutOutcome)>,
    wait: bool,
) -> Result<HttpResponse, ApiError> {
    let mut docs: Vec<(Document, PutOutcome)> = results;
    let deadline = Instant::now() + Duration::from_secs(state.config.ingest.wait_timeout_secs);
    let settled = |d: &Document| d.status.is_settled();
    while wait && !docs.iter().all(|(d, _)| settled(d)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (d, _) in docs.iter_mut().filter(|(d, _)| !settled(d)) {
            if let Some(fresh) = state.db.document_by_id(&d.id).await? {
                *d = fresh;
            }
        }
    }
    let all_settled = docs
        .iter()
        .all(|(d, o)| settled(d) || *o == PutOutcome::Unchanged);
    let data: Vec<_> = docs.iter().map(|(d, o)| views::uploaded(d, *o)).collect();
    let body = json!({"object": "list", "data": data});
    Ok(if all_settled {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Accepted().json(body)
    })
}

async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let kb = knowledge::get(&state, &caller.project_id, &path).await?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<DocumentStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::invalid(
                "status",
                "status must be queued, processing, ready or failed",
            )
        })?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be in 1..=1000"));
    }
    let docs = state
        .db
        .list_documents(
            &kb.project_id,
            &kb.id,
            status,
            q.after.as_deref(),
            limit + 1,
        )
        .await?;
    let has_more = docs.len() as i64 > limit;
    let docs: Vec<_> = docs
        .iter()
        .take(limit as usize)
        .map(views::document)
        .collect();
    let last = docs.last().map(|d| d.id.clone());
    Ok(HttpResponse::Ok()
        .json(json!({"object": "list", "data": docs, "has_more": has_more, "last_id": last})))
}

async fn find(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    doc: &str,
) -> Result<(crate::store::knowledge::KnowledgeBase, Document), ApiError> {
    let kb = knowledge::get(state, &caller.project_id, kb_id).await?;
    let d = state
        .db
        .get_document(&kb.project_id, &kb.id, doc)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                Some("document_id"),
                format!("document `{doc}` does not exist in knowledge base `{kb_id}`"),
            )
        })?;
    Ok((kb, d))
}

async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, doc) = find(&state, &caller, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(views::document_with_metadata(&doc)))
}

async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kb, doc) = find(&state, &caller, &path.0, &path.1).await?;
    documents::delete(&state, &kb, &doc).await?;
    Ok(HttpResponse::Ok().json(json!({"id": doc.id, "deleted": true})))
}

async fn chunks(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kb, doc) = find(&state, &caller, &path.0, &path.1).await?;
    let filter = Filter::eq("document_id", MatchValue::Keyword(doc.id.clone()));
    let hits = state
        .vectors
        .scroll(&kb.collection, &filter, 100_000)
        .await?;
    let mut chunks: Vec<RetrievedChunk> = hits.into_iter().map(RetrievedChunk::from_hit).collect();
    chunks.sort_by_key(|c| c.ordinal);
    Ok(HttpResponse::Ok().json(json!({"object": "list", "document_id": doc.id, "data": chunks})))
}

/// `GET …/documents/{doc}/text`: the parsed text that chunk offsets point into (sections
/// joined), with each section's page and span. Parsed again from the stored file, the same
/// way the ingest worker does.
async fn text(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, doc) = find(&state, &caller, &path.0, &path.1).await?;
    let parsed = documents::text(&state, &doc).await?;
    Ok(HttpResponse::Ok().json(views::document_text(&doc, &parsed)))
}

/// `POST …/documents/{doc}/retry`: queue a failed document again with its attempts reset
/// (202); 409 naming its status otherwise.
async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, doc) = find(&state, &caller, &path.0, &path.1).await?;
    let queued = documents::retry(&state, &doc).await?;
    Ok(HttpResponse::Accepted().json(views::document_with_metadata(&queued)))
}
