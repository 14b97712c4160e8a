//! Documents of a knowledge base: multipart or JSON upload (202, or the final state with
//! `?wait=true`), idempotent upsert by external id, list, get, chunks, delete.

use std::time::{Duration, Instant};

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::routes::Routes;
use crate::api::views;
use crate::auth::policy::Rule;
use crate::auth::Caller;
use crate::documents::{self, Upload};
use crate::error::{ApiError, Code};
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
#[serde(deny_unknown_fields)]
struct JsonDocument {
    external_id: Option<String>,
    title: Option<String>,
    text: String,
    metadata: Option<Map<String, Value>>,
    /// Names the format (`notes.md` → Markdown); plain text when absent.
    file_name: Option<String>,
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
    let uploads = read_uploads(&state, &req, body).await?;
    let mut results = Vec::with_capacity(uploads.len());
    for up in uploads {
        results.push(documents::submit(&state, &kb, up).await?);
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
    let mut uploads = read_uploads(&state, &req, body).await?;
    if uploads.len() != 1 {
        return Err(ApiError::invalid("file", "PUT takes exactly one document"));
    }
    let mut up = uploads.remove(0);
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

/// The documents in a request: a JSON body (one document) or multipart files. Multipart fields
/// `metadata` (a JSON object) and `external_id` apply to the file part before them; fields
/// before the first file apply to every file. Sizes are checked as the bytes arrive.
async fn read_uploads(
    state: &AppState,
    req: &HttpRequest,
    body: web::Payload,
) -> Result<Vec<Upload>, ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let limit = state.config.ingest.max_file_bytes;
    if ctype.starts_with("multipart/form-data") {
        return read_multipart(state, Multipart::new(req.headers(), body), limit).await;
    }
    if !ctype.starts_with("application/json") {
        return Err(ApiError::new(
            Code::InvalidContentType,
            "send multipart/form-data files or an application/json document",
        ));
    }
    let bytes = read_limited(
        body.map(|r| r.map_err(|e| ApiError::invalid("body", e.to_string()))),
        limit,
    )
    .await?;
    let doc: JsonDocument = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("invalid JSON document: {e}")))?;
    if doc.text.trim().is_empty() {
        return Err(ApiError::invalid("text", "text must not be empty"));
    }
    Ok(vec![Upload {
        external_id: doc.external_id,
        title: doc.title,
        file_name: doc.file_name,
        content_type: None,
        metadata: doc.metadata.unwrap_or_default(),
        content: doc.text.into_bytes(),
    }])
}

async fn read_multipart(
    state: &AppState,
    mut mp: Multipart,
    limit: usize,
) -> Result<Vec<Upload>, ApiError> {
    let mut uploads: Vec<Upload> = Vec::new();
    let mut shared = Map::new();
    while let Some(field) = mp.try_next().await.map_err(bad_multipart)? {
        let part = Part::of(&field);
        let data = part.read(field, limit).await?;
        if part.is_file() {
            let most = state.config.ingest.max_files_per_upload;
            if uploads.len() == most {
                return Err(ApiError::invalid(
                    "file",
                    format!("at most {most} files per upload"),
                ));
            }
            uploads.push(Upload {
                file_name: part.file_name,
                content_type: part.content_type,
                metadata: shared.clone(),
                content: data,
                ..Default::default()
            });
        } else {
            apply_field(&part.name, data, &mut uploads, &mut shared)?;
        }
    }
    if uploads.is_empty() {
        return Err(ApiError::invalid("file", "no file part in the upload"));
    }
    Ok(uploads)
}

fn bad_multipart(e: actix_multipart::MultipartError) -> ApiError {
    ApiError::invalid("body", format!("invalid multipart body: {e}"))
}

/// A multipart part's name, file name and content type.
struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
}

impl Part {
    fn of(field: &actix_multipart::Field) -> Part {
        let cd = field.content_disposition();
        Part {
            name: cd.and_then(|cd| cd.get_name()).unwrap_or("").to_owned(),
            file_name: cd.and_then(|cd| cd.get_filename()).map(str::to_owned),
            content_type: field.content_type().map(|m| m.essence_str().to_owned()),
        }
    }

    fn is_file(&self) -> bool {
        self.file_name.is_some() || self.name == "file" || self.name == "files"
    }

    /// The part's bytes: a file up to `limit` (413 naming it beyond), a field up to 1 MiB.
    async fn read(&self, field: actix_multipart::Field, limit: usize) -> Result<Vec<u8>, ApiError> {
        let cap = if self.is_file() { limit } else { 1 << 20 };
        read_limited(field.map(|r| r.map_err(bad_multipart)), cap)
            .await
            .map_err(|e| match e.code() {
                Code::PayloadTooLarge => ApiError::new(
                    Code::PayloadTooLarge,
                    format!(
                        "`{}` is larger than ingest.max_file_bytes ({limit} bytes)",
                        self.file_name.as_deref().unwrap_or(&self.name)
                    ),
                ),
                _ => e,
            })
    }
}

/// A text field: `metadata` for the file before it (or, before any file, for all), or the
/// file's `external_id` or `title`.
fn apply_field(
    name: &str,
    data: Vec<u8>,
    uploads: &mut [Upload],
    shared: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let text =
        String::from_utf8(data).map_err(|_| ApiError::invalid(name, "must be UTF-8 text"))?;
    match name {
        "metadata" => {
            let meta: Map<String, Value> = serde_json::from_str(&text).map_err(|e| {
                ApiError::invalid("metadata", format!("metadata must be a JSON object: {e}"))
            })?;
            match uploads.last_mut() {
                Some(up) => up.metadata.extend(meta),
                None => shared.extend(meta),
            }
        }
        "external_id" | "title" => {
            let up = uploads.last_mut().ok_or_else(|| {
                ApiError::invalid(
                    name,
                    format!("`{name}` must follow the file part it belongs to"),
                )
            })?;
            if name == "title" {
                up.title = Some(text)
            } else {
                up.external_id = Some(text)
            }
        }
        other => {
            return Err(ApiError::invalid(
                other,
                format!(
                    "unknown multipart field `{other}`; use file, metadata, external_id, title"
                ),
            ))
        }
    }
    Ok(())
}

/// Collect a byte stream, failing with 413 as soon as it passes `limit`.
async fn read_limited<S>(mut stream: S, limit: usize) -> Result<Vec<u8>, ApiError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, ApiError>> + Unpin,
{
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::new(
                Code::PayloadTooLarge,
                format!("upload is larger than {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
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
