//! The ingest worker: claims queued documents with a lease, parses, chunks and embeds them,
//! writes the new chunks, then deletes the stale ones — so a document never has no chunks.
//! Transient failures (vector store down) go back to the queue with capped backoff; permanent
//! ones (unparsable file) mark the document failed. Runs in `serve` and in `ragway worker`.

use std::sync::Arc;
use std::time::Duration;

use ragway_ingest::chunk::ChunkSettings;
use ragway_ingest::parse::{self, ParseOptions, ParsedDocument};
use ragway_ingest::pipeline::Pipeline;
use serde_json::{json, Value};

use super::chunk_id;
use crate::state::AppState;
use crate::store::jobs::Job;
use crate::store::knowledge::{Document, KnowledgeBase};
use crate::store::StoreError;
use crate::vector::{Condition, Filter, MatchValue, Point, SparseVec, VectorError};

/// Points written per vector store call.
const UPSERT_BATCH: usize = 64;

/// Pause points (see `lease::Pauses`), keyed by document id: parsed, nothing written yet;
/// every chunk written, the document not yet marked ready.
pub const PAUSE_BEFORE_WRITE: &str = "ingest.before_write";
pub const PAUSE_BEFORE_FINISH: &str = "ingest.before_finish";

/// Why processing a document stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
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

impl From<StoreError> for ProcessError {
    fn from(e: StoreError) -> Self {
        ProcessError::Transient(e.to_string())
    }
}

impl From<VectorError> for ProcessError {
    fn from(e: VectorError) -> Self {
        // A missing collection means the knowledge base moved to another generation (or was
        // deleted) meanwhile: a retry reads where it lives now.
        if e.is_transient() || matches!(e, VectorError::CollectionNotFound(_)) {
            ProcessError::Transient(e.to_string())
        } else {
            ProcessError::Permanent(format!("vector store rejected the chunks: {e}"))
        }
    }
}

/// Start `n` worker loops on the current runtime.
pub fn spawn(state: Arc<AppState>, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    crate::lease::spawn(n, "", |owner| run(state.clone(), owner))
}

/// Claim and process documents until the task is dropped.
pub async fn run(state: Arc<AppState>, owner: String) {
    tracing::info!(%owner, "ingest worker started");
    let idle = Duration::from_millis(500);
    crate::lease::drive("ingest", &state.ingest_notify, idle, || {
        run_once(&state, &owner)
    })
    .await
}

/// Process at most one due document; false when none was due.
pub async fn run_once(state: &Arc<AppState>, owner: &str) -> Result<bool, StoreError> {
    let lease_ms = state.config.ingest.lease_secs as i64 * 1000;
    let Some(doc) = state.db.claim_document(owner, lease_ms).await? else {
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
            let backoff = crate::lease::backoff_ms(doc.attempts);
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
    crate::lease::with_lease(
        lease_ms,
        process(state, owner, doc),
        || state.db.renew_lease(&doc.id, owner, lease_ms),
        ProcessError::Superseded,
    )
    .await
}

/// Where and how a document's chunks are written: a knowledge base's live generation, or the
/// one a re-index job is building.
#[derive(Clone)]
pub(crate) struct Target {
    pub collection: String,
    pub generation: i64,
    pub pipeline: Arc<Pipeline>,
    pub settings: ChunkSettings,
}

impl Target {
    /// The knowledge base's live generation.
    pub fn live(state: &AppState, kb: &KnowledgeBase) -> Result<Target, ProcessError> {
        let pipeline = state.models.get(&kb.embedding_model).ok_or_else(|| {
            ProcessError::Transient(format!(
                "embedding model `{}` is not configured on this worker",
                kb.embedding_model
            ))
        })?;
        Ok(Target {
            collection: kb.collection.clone(),
            generation: kb.generation,
            pipeline: pipeline.clone(),
            settings: ChunkSettings {
                max_tokens: kb.chunk_max_tokens as usize,
                overlap_tokens: kb.chunk_overlap as usize,
                markdown: kb.markdown(),
            },
        })
    }

    /// The generation a re-index job builds.
    pub fn of_job(state: &AppState, job: &Job) -> Result<Target, ProcessError> {
        let model = job.target_model.as_deref().unwrap_or_default();
        let pipeline = state.models.get(model).ok_or_else(|| {
            ProcessError::Permanent(format!(
                "embedding model `{model}` is not configured on this worker"
            ))
        })?;
        Ok(Target {
            collection: job.target_collection.clone().unwrap_or_default(),
            generation: job.target_generation.unwrap_or_default(),
            pipeline: pipeline.clone(),
            settings: ChunkSettings {
                max_tokens: job.target_max_tokens.unwrap_or_default() as usize,
                overlap_tokens: job.target_overlap.unwrap_or_default() as usize,
                markdown: job.target_markdown.unwrap_or_default() != 0,
            },
        })
    }
}

/// Parse a document's stored bytes (off the async workers); the title is the given one, else
/// the parsed one, else the file name.
pub(crate) async fn parse_document(
    state: &AppState,
    doc: &Document,
    bytes: Vec<u8>,
) -> Result<ParsedDocument, ProcessError> {
    let opts = ParseOptions {
        json_text_field: state.config.ingest.json_text_field.clone(),
        json_title_field: state.config.ingest.json_title_field.clone(),
    };
    let (file_name, content_type) = (doc.file_name.clone(), doc.content_type.clone());
    let mut parsed = tokio::task::spawn_blocking(move || {
        parse::parse(&bytes, file_name.as_deref(), content_type.as_deref(), &opts)
    })
    .await
    .map_err(|e| ProcessError::Permanent(format!("parser crashed: {e}")))?
    .map_err(|e| ProcessError::Permanent(e.to_string()))?;
    parsed.title = doc
        .title
        .clone()
        .or_else(|| parsed.title.clone())
        .or_else(|| doc.file_name.clone());
    Ok(parsed)
}

/// Chunk and embed `parsed` for `target`, write the chunks, delete the document's stale
/// ones there. Returns the number of chunks.
pub(crate) async fn index_into(
    state: &AppState,
    kb: &KnowledgeBase,
    target: &Target,
    doc: &Document,
    parsed: &ParsedDocument,
) -> Result<usize, ProcessError> {
    let chunks = target
        .pipeline
        .process(
            parsed,
            &target.settings,
            state.config.ingest.title_in_chunks,
        )
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
            payload: payload(
                kb,
                target.generation,
                doc,
                parsed.title.as_deref(),
                &metadata,
                &c.chunk,
            ),
            dense: c.dense,
            sparse: SparseVec {
                indices: c.sparse.indices,
                values: c.sparse.values,
            },
        })
        .collect();
    let count = points.len();
    write_chunks(state, &target.collection, doc, points).await?;
    Ok(count)
}

async fn process(state: &AppState, owner: &str, doc: &Document) -> Result<usize, ProcessError> {
    let db = &state.db;
    // The job is read before the knowledge base: a job that ends after this read has either
    // not switched yet (the knowledge base read below still shows the old generation, and the
    // chunks go to both) or switched (the read shows the new one, which is also the target).
    let job = db.active_reindex(&doc.project_id, &doc.kb_id).await?;
    let kb = db
        .get_kb(&doc.project_id, &doc.kb_id)
        .await?
        .ok_or(ProcessError::Superseded)?;
    let bytes = db
        .document_source(&doc.id)
        .await?
        .ok_or(ProcessError::Superseded)?;
    let parsed = parse_document(state, doc, bytes).await?;
    state.pauses.reach(PAUSE_BEFORE_WRITE, &doc.id).await;
    let live = Target::live(state, &kb)?;
    let count = index_into(state, &kb, &live, doc, &parsed).await?;
    if let Some(job) =
        job.filter(|j| j.target_collection.as_deref() != Some(kb.collection.as_str()))
    {
        dual_write(state, &kb, &job, doc, &parsed).await?;
    }
    state.pauses.reach(PAUSE_BEFORE_FINISH, &doc.id).await;
    if !db
        .finish_document(&doc.id, owner, &doc.content_hash, count as i64)
        .await?
    {
        // Deleted meanwhile: take back what we wrote. Replaced: the newer run deletes our
        // chunks as stale.
        if db.document_by_id(&doc.id).await?.is_none() {
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

/// Write the document into the generation a re-index job is building too, and mark it done
/// for the job. A job that ended meanwhile (its collection dropped or made live) is no error.
async fn dual_write(
    state: &AppState,
    kb: &KnowledgeBase,
    job: &Job,
    doc: &Document,
    parsed: &ParsedDocument,
) -> Result<(), ProcessError> {
    let target = Target::of_job(state, job)?;
    let written = index_into(state, kb, &target, doc, parsed).await;
    let still_active = || async {
        state
            .db
            .get_job(&job.id)
            .await
            .map(|j| j.is_some_and(|j| j.is_active()))
            .map_err(ProcessError::from)
    };
    match written {
        Ok(n) => {
            state
                .db
                .mark_job_document(&job.id, None, &doc.id, &doc.content_hash, n as i64)
                .await?;
            Ok(())
        }
        Err(ProcessError::Transient(_)) if !still_active().await? => Ok(()),
        // The live generation has it; the job meets the same error on its last pass and
        // fails with it, leaving the live generation serving.
        Err(ProcessError::Permanent(msg)) => {
            tracing::warn!(job = %job.id, error = %msg, "document could not be written to the re-index target");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Upsert the new chunks, then delete this document's chunks of any other content version.
async fn write_chunks(
    state: &AppState,
    collection: &str,
    doc: &Document,
    points: Vec<Point>,
) -> Result<(), ProcessError> {
    let mut points = points;
    while !points.is_empty() {
        let rest = points.split_off(points.len().min(UPSERT_BATCH));
        state.vectors.upsert(collection, points).await?;
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
    if state.vectors.count(collection, Some(&stale)).await? > 0 {
        state.vectors.delete_by_filter(collection, &stale).await?;
    }
    Ok(())
}

fn payload(
    kb: &KnowledgeBase,
    generation: i64,
    doc: &Document,
    title: Option<&str>,
    metadata: &Value,
    c: &ragway_ingest::chunk::Chunk,
) -> serde_json::Map<String, Value> {
    let v = json!({
        "project_id": kb.project_id,
        "kb_id": kb.id,
        "generation": generation,
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
