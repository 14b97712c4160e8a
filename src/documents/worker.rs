//! The ingest worker: claims queued documents with a lease, parses, chunks and embeds them,
//! writes the new chunks, then deletes the stale ones — so a document never has no chunks.
//! Transient failures (vector store down) go back to the queue with capped backoff; permanent
//! ones (unparsable file) mark the document failed. Runs in `serve` and in `ragway worker`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ragway_ingest::chunk::ChunkSettings;
use ragway_ingest::parse::{self, ParseOptions};
use serde_json::{json, Value};

use super::chunk_id;
use crate::startup::AppState;
use crate::store::knowledge::{Document, KnowledgeBase};
use crate::vector::{Condition, Filter, MatchValue, Point, SparseVec, VectorError};

/// Points written per vector store call.
const UPSERT_BATCH: usize = 64;

/// Why processing a document stopped.
#[derive(Debug, thiserror::Error)]
enum ProcessError {
    /// Worth retrying later.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help: the document fails with this message.
    #[error("{0}")]
    Permanent(String),
    /// The claim was lost (document deleted or replaced meanwhile): drop the work silently.
    #[error("claim lost")]
    Superseded,
}

impl From<VectorError> for ProcessError {
    fn from(e: VectorError) -> Self {
        if e.is_transient() {
            ProcessError::Transient(e.to_string())
        } else {
            ProcessError::Permanent(format!("vector store rejected the chunks: {e}"))
        }
    }
}

/// Start `n` worker loops on the current runtime.
pub fn spawn(state: Arc<AppState>, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let owner = format!("{}-{i}", uuid::Uuid::new_v4().simple());
            tokio::spawn(run(state.clone(), owner))
        })
        .collect()
}

/// Claim and process documents until the task is dropped.
pub async fn run(state: Arc<AppState>, owner: String) {
    tracing::info!(%owner, "ingest worker started");
    loop {
        match run_once(&state, &owner).await {
            Ok(true) => continue,
            Ok(false) => {
                let notified = state.ingest_notify.notified();
                let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
            }
            Err(e) => {
                tracing::error!(error = ?e, "ingest queue unavailable");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Process at most one due document; false when none was due.
pub async fn run_once(state: &Arc<AppState>, owner: &str) -> anyhow::Result<bool> {
    let lease_ms = state.config.ingest.lease_secs as i64 * 1000;
    let Some(doc) = state
        .db
        .claim_document(owner, lease_ms)
        .await
        .context("claiming a document")?
    else {
        return Ok(false);
    };
    let span = tracing::info_span!("ingest", document_id = %doc.id, kb = %doc.kb_id, attempt = doc.attempts);
    // Processing runs in its own task so a panic fails one document, not the worker.
    let work = tokio::spawn({
        let state = state.clone();
        let doc = doc.clone();
        let owner = owner.to_owned();
        async move { process_with_lease(&state, &owner, &doc).await }
    });
    let result = match work.await {
        Ok(r) => r,
        Err(join) => Err(ProcessError::Permanent(format!(
            "internal error while processing: {join}"
        ))),
    };
    let db = &state.db;
    match result {
        Ok(chunks) => tracing::info!(parent: &span, chunks, "document ready"),
        Err(ProcessError::Superseded) => {
            tracing::info!(parent: &span, "document changed or deleted while processing")
        }
        Err(ProcessError::Permanent(msg)) => {
            tracing::warn!(parent: &span, error = %msg, "document failed");
            db.fail_document(&doc.id, owner, &msg, None).await?;
        }
        Err(ProcessError::Transient(msg)) if doc.attempts >= state.config.ingest.max_attempts => {
            let msg = format!("gave up after {} attempts: {msg}", doc.attempts);
            tracing::warn!(parent: &span, error = %msg, "document failed");
            db.fail_document(&doc.id, owner, &msg, None).await?;
        }
        Err(ProcessError::Transient(msg)) => {
            let backoff = (1000i64 << doc.attempts.clamp(0, 6)).min(60_000);
            tracing::warn!(parent: &span, error = %msg, backoff_ms = backoff, "will retry");
            db.fail_document(&doc.id, owner, &msg, Some(crate::store::now_ms() + backoff))
                .await?;
        }
    }
    Ok(true)
}

/// Process while renewing the lease, so long documents are not reclaimed mid-way.
async fn process_with_lease(
    state: &AppState,
    owner: &str,
    doc: &Document,
) -> Result<usize, ProcessError> {
    let lease_ms = state.config.ingest.lease_secs as i64 * 1000;
    let renew = async {
        let mut tick = tokio::time::interval(Duration::from_millis(lease_ms as u64 / 3));
        tick.tick().await;
        loop {
            tick.tick().await;
            match state.db.renew_lease(&doc.id, owner, lease_ms).await {
                Ok(true) => {}
                Ok(false) => return ProcessError::Superseded,
                Err(e) => tracing::warn!(error = %e, "could not renew lease"),
            }
        }
    };
    tokio::select! {
        r = process(state, owner, doc) => r,
        lost = renew => Err(lost),
    }
}

async fn process(state: &AppState, owner: &str, doc: &Document) -> Result<usize, ProcessError> {
    let db = &state.db;
    let transient = |e: sqlx::Error| ProcessError::Transient(format!("database: {e}"));
    let kb = db
        .get_kb(&doc.project_id, &doc.kb_id)
        .await
        .map_err(transient)?
        .ok_or(ProcessError::Superseded)?;
    let bytes = db
        .document_source(&doc.id)
        .await
        .map_err(transient)?
        .ok_or(ProcessError::Superseded)?;

    let opts = ParseOptions {
        json_text_field: state.config.ingest.json_text_field.clone(),
        json_title_field: state.config.ingest.json_title_field.clone(),
    };
    let (file_name, content_type) = (doc.file_name.clone(), doc.content_type.clone());
    let parsed = tokio::task::spawn_blocking(move || {
        parse::parse(&bytes, file_name.as_deref(), content_type.as_deref(), &opts)
    })
    .await
    .map_err(|e| ProcessError::Permanent(format!("parser crashed: {e}")))?
    .map_err(|e| ProcessError::Permanent(e.to_string()))?;

    let settings = ChunkSettings {
        max_tokens: kb.chunk_max_tokens as usize,
        overlap_tokens: kb.chunk_overlap as usize,
        markdown: kb.markdown(),
    };
    let title = doc
        .title
        .clone()
        .or_else(|| parsed.title.clone())
        .or_else(|| doc.file_name.clone());
    let mut parsed = parsed;
    parsed.title = title.clone();
    let chunks = state
        .pipeline
        .process(&parsed, &settings, state.config.ingest.title_in_chunks)
        .await
        .map_err(|e| ProcessError::Permanent(format!("{e:#}")))?;
    if chunks.is_empty() {
        return Err(ProcessError::Permanent("document has no text".into()));
    }

    let metadata = doc.metadata_value();
    let points: Vec<Point> = chunks
        .into_iter()
        .map(|c| Point {
            id: chunk_id(&kb.uid, &doc.id, &doc.content_hash, c.chunk.ordinal),
            payload: payload(&kb, doc, title.as_deref(), &metadata, &c.chunk),
            dense: c.dense,
            sparse: SparseVec {
                indices: c.sparse.indices,
                values: c.sparse.values,
            },
        })
        .collect();
    let count = points.len();
    write_chunks(state, &kb, doc, points).await?;
    if !db
        .finish_document(&doc.id, owner, &doc.content_hash, count as i64)
        .await
        .map_err(transient)?
    {
        // Deleted meanwhile: take back what we wrote. Replaced: the newer run deletes our
        // chunks as stale.
        if db
            .document_by_id(&doc.id)
            .await
            .map_err(transient)?
            .is_none()
        {
            let mine = Filter::eq("document_id", MatchValue::Keyword(doc.id.clone()));
            state
                .vectors
                .delete_by_filter(&kb.collection, &mine)
                .await?;
        }
        return Err(ProcessError::Superseded);
    }
    Ok(count)
}

/// Upsert the new chunks, then delete this document's chunks of any other content version.
async fn write_chunks(
    state: &AppState,
    kb: &KnowledgeBase,
    doc: &Document,
    points: Vec<Point>,
) -> Result<(), ProcessError> {
    let mut points = points;
    while !points.is_empty() {
        let rest = points.split_off(points.len().min(UPSERT_BATCH));
        state.vectors.upsert(&kb.collection, points).await?;
        points = rest;
    }
    let stale = Filter {
        must: vec![Condition::Match {
            key: "document_id".into(),
            value: MatchValue::Keyword(doc.id.clone()),
        }],
        must_not: vec![Condition::Match {
            key: "content_hash".into(),
            value: MatchValue::Keyword(doc.content_hash.clone()),
        }],
        ..Default::default()
    };
    // A first version has nothing stale: counting (a read) spares a durable write per new
    // document, which is most of them.
    if state.vectors.count(&kb.collection, Some(&stale)).await? > 0 {
        state
            .vectors
            .delete_by_filter(&kb.collection, &stale)
            .await?;
    }
    Ok(())
}

fn payload(
    kb: &KnowledgeBase,
    doc: &Document,
    title: Option<&str>,
    metadata: &Value,
    c: &ragway_ingest::chunk::Chunk,
) -> serde_json::Map<String, Value> {
    let v = json!({
        "project_id": kb.project_id,
        "kb_id": kb.id,
        "document_id": doc.id,
        "external_id": doc.external_id,
        "content_hash": doc.content_hash,
        "title": title,
        "file_name": doc.file_name,
        "ordinal": c.ordinal,
        "section": c.section,
        "page": c.page,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "text": c.text,
        "metadata": metadata,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object literal is an object"),
    }
}
