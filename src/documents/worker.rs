//! The ingest worker: claims queued documents with a lease (each claim gets a fencing token,
//! the row's `fence`), parses, chunks and embeds them, writes the chunks tagged with the
//! claim's fence, flips the row to them in one transaction that checks the fence, and only
//! then removes the document's older points — so a document never has no chunks, and a worker
//! that lost its claim (stalled past its lease, or the document changed) leaves nothing that
//! stays. Transient failures (vector store down) go back to the queue with capped backoff;
//! permanent ones (unparsable file, past `ingest.document_timeout_secs`) mark the document
//! failed, and so does a document whose workers died `ingest.max_attempts` times. Runs in
//! `serve` and in `ragway worker`.

use std::sync::Arc;
use std::time::Duration;

use ragway_ingest::chunk::ChunkSettings;
use ragway_ingest::isolate::{self, ParserCommand};
use ragway_ingest::parse::{self, ParseOptions, ParsedDocument};
use ragway_ingest::pipeline::Pipeline;
use serde_json::{json, Value};

use super::{chunk_id, IngestError};
use crate::config::{IngestConfig, Isolation};
use crate::state::AppState;
use crate::store::jobs::Job;
use crate::store::knowledge::{Document, Finish, KnowledgeBase};
use crate::store::StoreError;
use crate::vector::{Condition, Filter, MatchValue, Point, RangeBounds, SparseVec, VectorError};

/// Points written per vector store call.
const UPSERT_BATCH: usize = 64;

/// Pause points (see `lease::Pauses`), keyed by document id: parsed, nothing written yet;
/// every chunk written, the document not yet marked ready.
pub const PAUSE_BEFORE_WRITE: &str = "ingest.before_write";
pub const PAUSE_BEFORE_FINISH: &str = "ingest.before_finish";
/// Flipped ready, older points not removed yet.
pub const PAUSE_AFTER_FLIP: &str = "ingest.after_flip";

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
    let cfg = &state.config.ingest;
    let lease_ms = cfg.lease_secs as i64 * 1000;
    // While the vector store is down, documents wait in the queue rather than fail.
    crate::vector::wait::until_available(state.vectors.as_ref(), "ingest").await;
    for doc in state.db.fail_abandoned_documents(cfg.max_attempts).await? {
        tracing::warn!(document_id = %doc.id, kb = %doc.kb_id, attempts = doc.attempts, "document failed: every worker that took it died or stalled");
        discard_claim(state, &doc).await;
    }
    let Some(doc) = state
        .db
        .claim_document(owner, lease_ms, cfg.max_attempts)
        .await?
    else {
        sweep_now_and_then(state).await;
        return Ok(false);
    };
    let span = tracing::info_span!("ingest", document_id = %doc.id, kb = %doc.kb_id, attempt = doc.attempts, fence = doc.fence);
    let result = process_with_deadline(state, owner, &doc).await;
    settle(state, owner, &doc, result, &span).await?;
    Ok(true)
}

/// Process in a task of its own (a panic fails one document, not the worker), at most
/// `ingest.document_timeout_secs`.
async fn process_with_deadline(
    state: &Arc<AppState>,
    owner: &str,
    doc: &Document,
) -> Result<usize, ProcessError> {
    let secs = state.config.ingest.document_timeout_secs;
    let work = tokio::spawn({
        let state = state.clone();
        let doc = doc.clone();
        let owner = owner.to_owned();
        async move { process_with_lease(&state, &owner, &doc).await }
    });
    let abort = work.abort_handle();
    match tokio::time::timeout(Duration::from_secs(secs), work).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(ProcessError::Permanent(format!(
            "internal error while processing: {join}"
        ))),
        Err(_) => {
            abort.abort();
            Err(ProcessError::Permanent(deadline_message(secs)))
        }
    }
}

/// The error of a document (or a job's document) that ran past its deadline.
pub(crate) fn deadline_message(secs: u64) -> String {
    format!("processing took longer than ingest.document_timeout_secs ({secs} s)")
}

/// Record how the claim ended. Whenever it ends without its flip (failed, queued again,
/// superseded), the points it wrote are taken away.
async fn settle(
    state: &AppState,
    owner: &str,
    doc: &Document,
    result: Result<usize, ProcessError>,
    span: &tracing::Span,
) -> Result<(), StoreError> {
    let db = &state.db;
    let fail = |msg: String, retry_at: Option<i64>| async move {
        db.fail_document(&doc.id, owner, doc.fence, &msg, retry_at)
            .await
    };
    let unflipped = match result {
        Ok(chunks) => {
            tracing::info!(parent: span, chunks, "document ready");
            return Ok(());
        }
        Err(ProcessError::Superseded) => {
            tracing::info!(parent: span, "document changed, deleted or reclaimed while processing");
            true
        }
        Err(ProcessError::Permanent(msg)) => {
            tracing::warn!(parent: span, error = %msg, "document failed");
            fail(msg, None).await?
        }
        Err(ProcessError::Transient(msg)) if doc.attempts >= state.config.ingest.max_attempts => {
            let msg = format!("gave up after {} attempts: {msg}", doc.attempts);
            tracing::warn!(parent: span, error = %msg, "document failed");
            fail(msg, None).await?
        }
        Err(ProcessError::Transient(msg)) => {
            let backoff = crate::lease::backoff_ms(doc.attempts);
            tracing::warn!(parent: span, error = %msg, backoff_ms = backoff, "will retry");
            fail(msg, Some(crate::store::now_ms() + backoff)).await?
        }
    };
    if unflipped {
        discard_claim(state, doc).await;
    }
    Ok(())
}

/// Remove the points the claim `doc.fence` wrote, unless they became the document's (its flip
/// went through after all: a lost lease noticed just after it), together with those of earlier
/// claims that never flipped either (workers that died): every fence above the row's
/// `chunk_fence` up to this one. A later claim's points (higher fences) are never touched.
/// Best effort: what is left is older than the next flip's, which removes it.
async fn discard_claim(state: &AppState, doc: &Document) {
    let db = &state.db;
    let now = match db.document_by_id(&doc.id).await {
        Ok(now) => now,
        Err(e) => {
            tracing::warn!(document_id = %doc.id, error = %e, "could not read a document to discard a claim's points");
            return;
        }
    };
    let filter = match now.map(|d| d.chunk_fence) {
        Some(current) if current == doc.fence => return,
        Some(current) if current < doc.fence => unflipped(&doc.id, current, doc.fence),
        // Gone, or a newer claim flipped: only this claim's own points.
        _ => of_claim(&doc.id, doc.fence),
    };
    let mut collections = Vec::new();
    if let Ok(Some(job)) = db.active_reindex(&doc.project_id, &doc.kb_id).await {
        collections.extend(job.target_collection);
    }
    if let Ok(Some(kb)) = db.get_kb(&doc.project_id, &doc.kb_id).await {
        collections.push(kb.collection);
    }
    for c in collections {
        match state.vectors.delete_by_filter(&c, &filter).await {
            Ok(()) | Err(VectorError::CollectionNotFound(_)) => {}
            Err(e) => {
                tracing::warn!(document_id = %doc.id, collection = %c, error = %e, "could not discard a claim's points")
            }
        }
    }
}

/// The points of `doc` written by claims after the flipped one (`current`) up to `last`.
fn unflipped(doc: &str, current: i64, last: i64) -> Filter {
    Filter {
        must: vec![
            Condition::Match {
                key: "document_id".into(),
                value: MatchValue::Keyword(doc.to_owned()),
            },
            Condition::Range {
                key: "fence".into(),
                range: RangeBounds {
                    gt: Some(current as f64),
                    lte: Some(last as f64),
                    ..Default::default()
                },
            },
        ],
        ..Default::default()
    }
}

/// The points of `doc` written by the claim `fence`.
pub(crate) fn of_claim(doc: &str, fence: i64) -> Filter {
    Filter {
        must: vec![
            Condition::Match {
                key: "document_id".into(),
                value: MatchValue::Keyword(doc.to_owned()),
            },
            Condition::Match {
                key: "fence".into(),
                value: MatchValue::Integer(fence),
            },
        ],
        ..Default::default()
    }
}

/// The points of `doc` older than the claim `fence` (points written before fences existed
/// have none, and count as older).
pub(crate) fn older_than(doc: &str, fence: i64) -> Filter {
    Filter {
        must: vec![Condition::Match {
            key: "document_id".into(),
            value: MatchValue::Keyword(doc.to_owned()),
        }],
        must_not: vec![Condition::Range {
            key: "fence".into(),
            range: RangeBounds {
                gte: Some(fence as f64),
                ..Default::default()
            },
        }],
        ..Default::default()
    }
}

/// Does any of `collections` hold points of `doc` older than `fence`? (A read: most
/// documents are new, and this spares them a durable delete.) A collection that is gone (a
/// generation dropped meanwhile) holds nothing.
pub(crate) async fn has_older(
    state: &AppState,
    collections: &[&str],
    doc: &str,
    fence: i64,
) -> Result<bool, VectorError> {
    for c in collections {
        match state.vectors.count(c, Some(&older_than(doc, fence))).await {
            Ok(0) | Err(VectorError::CollectionNotFound(_)) => {}
            Ok(_) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Remove the points of `doc` older than `fence` from `collections` (one that is gone — a
/// generation dropped meanwhile — has nothing left to remove).
pub(crate) async fn remove_older(
    state: &AppState,
    collections: &[&str],
    doc: &str,
    fence: i64,
) -> Result<(), VectorError> {
    for c in collections {
        match state
            .vectors
            .delete_by_filter(c, &older_than(doc, fence))
            .await
        {
            Ok(()) | Err(VectorError::CollectionNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// When idle, at most every 10 s per process: remove the older points that flipped
/// documents still have (their worker died between its flip and the removal, or the vector
/// store failed then).
async fn sweep_now_and_then(state: &AppState) {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::store::now_ms();
    let last = LAST.load(Ordering::Relaxed);
    if now - last >= 10_000
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        if let Err(e) = sweep_stale(state).await {
            tracing::warn!(error = %e, "could not sweep older chunks; will retry");
        }
    }
}

/// Remove what flagged documents have left behind: in the live collection the points older
/// than the document's chunks, in a running re-index's target those older than the version
/// the job recorded. Returns how many documents were swept.
pub async fn sweep_stale(state: &AppState) -> Result<usize, IngestError> {
    let db = &state.db;
    let docs = db.stale_documents(100).await?;
    for doc in &docs {
        let Some(kb) = db.get_kb(&doc.project_id, &doc.kb_id).await? else {
            continue;
        };
        remove_older(state, &[&kb.collection], &doc.id, doc.chunk_fence).await?;
        let job = db.active_reindex(&doc.project_id, &doc.kb_id).await?;
        if let Some((job, target)) = job.and_then(|j| {
            let t = j.target_collection.clone()?;
            (t != kb.collection).then_some((j.id, t))
        }) {
            if let Some(fence) = db.job_mark_fence(&job, &doc.id).await? {
                remove_older(state, &[&target], &doc.id, fence).await?;
            }
        }
        if let Some(v) = doc.stale_below {
            db.clear_stale(&doc.id, v).await?;
        }
    }
    Ok(docs.len())
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
        || state.db.renew_lease(&doc.id, owner, doc.fence, lease_ms),
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

/// Parse a document's stored bytes off the async workers, under `ingest.limits.*`: in a child
/// process (`ingest.isolation = "process"`, the default: whatever the bytes do to the parser,
/// only this document fails) or on a blocking thread. The title is the given one, else the
/// parsed one, else the file name.
pub(crate) async fn parse_document(
    state: &AppState,
    doc: &Document,
    bytes: Vec<u8>,
) -> Result<ParsedDocument, ProcessError> {
    let ingest = &state.config.ingest;
    let opts = ParseOptions {
        json_text_field: ingest.json_text_field.clone(),
        json_title_field: ingest.json_title_field.clone(),
    };
    let limits = ingest.limits;
    let command = match ingest.isolation {
        Isolation::Process => Some(parser_command(ingest)?),
        Isolation::InProcess => None,
    };
    let (file_name, content_type) = (doc.file_name.clone(), doc.content_type.clone());
    let mut parsed = tokio::task::spawn_blocking(move || {
        let (name, ctype) = (file_name.as_deref(), content_type.as_deref());
        match command {
            Some(command) => isolate::parse_isolated(&command, &bytes, name, ctype, &opts, &limits),
            None => parse::parse_limited(&bytes, name, ctype, &opts, &limits),
        }
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

/// `PROGRAM parse`: `ingest.parser_program`, else this very binary.
fn parser_command(ingest: &IngestConfig) -> Result<ParserCommand, ProcessError> {
    match &ingest.parser_program {
        Some(program) => Ok(ParserCommand::new(program).arg("parse")),
        None => ParserCommand::current_exe(&["parse"]).map_err(|e| {
            ProcessError::Transient(format!("cannot find the parser program (this binary): {e}"))
        }),
    }
}

/// Chunk and embed `parsed` for `target` and write the chunks, tagged with the claim
/// `fence` (their ids too, so two claims never overwrite each other's points). Removes
/// nothing: older points go only after a flip. Returns the number of chunks.
pub(crate) async fn index_into(
    state: &AppState,
    kb: &KnowledgeBase,
    target: &Target,
    doc: &Document,
    parsed: &ParsedDocument,
    fence: i64,
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
    let version = Version {
        generation: target.generation,
        fence,
    };
    let points: Vec<Point> = chunks
        .into_iter()
        .map(|c| Point {
            id: chunk_id(&kb.uid, &doc.id, &doc.content_hash, fence, c.chunk.ordinal),
            payload: payload(
                kb,
                version,
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
    write_chunks(state, &target.collection, points).await?;
    Ok(count)
}

/// Which generation and which claim a point belongs to.
#[derive(Clone, Copy)]
struct Version {
    generation: i64,
    fence: i64,
}

/// Write the claim's points (live generation, and a running re-index's target), flip the row
/// to them under the fence, then remove the document's older points.
async fn process(state: &AppState, owner: &str, doc: &Document) -> Result<usize, ProcessError> {
    let db = &state.db;
    // The job is read before the knowledge base: a job that ends after this read has either
    // not switched yet (the knowledge base read below still shows the old generation, and the
    // chunks go to both) or switched (the read shows the new one, which is also the target).
    // The flip checks that the knowledge base still serves a collection written here.
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
    // A claim lost while parsing writes nothing (its points would only be taken back).
    if !db.holds_document(&doc.id, owner, doc.fence).await? {
        return Err(ProcessError::Superseded);
    }
    let live = Target::live(state, &kb)?;
    let count = index_into(state, &kb, &live, doc, &parsed, doc.fence).await?;
    let target = match job.filter(|j| j.target_collection.as_deref() != Some(&kb.collection)) {
        Some(job) => dual_write(state, &kb, &job, doc, &parsed).await?,
        None => None,
    };
    state.pauses.reach(PAUSE_BEFORE_FINISH, &doc.id).await;
    let mut written = vec![live.collection.as_str()];
    written.extend(target.as_ref().map(|(_, c, _)| c.as_str()));
    let stale = has_older(state, &written, &doc.id, doc.fence).await?;
    let finish = Finish {
        id: &doc.id,
        owner,
        fence: doc.fence,
        hash: &doc.content_hash,
        live: (&live.collection, count as i64),
        target: target
            .as_ref()
            .map(|(j, c, n)| (j.as_str(), c.as_str(), *n)),
        stale,
    };
    if !db.finish_document(&finish).await? {
        if db.holds_document(&doc.id, owner, doc.fence).await? {
            return Err(ProcessError::Transient(
                "the knowledge base switched generation while the document was processed".into(),
            ));
        }
        return Err(ProcessError::Superseded);
    }
    state.pauses.reach(PAUSE_AFTER_FLIP, &doc.id).await;
    if stale {
        // Failing here leaves the flag set; the sweep finishes it.
        remove_older(state, &written, &doc.id, doc.fence).await?;
        db.clear_stale(&doc.id, doc.fence).await?;
    }
    Ok(count)
}

/// Write the document into the generation a re-index job is building too; the job, the
/// target and the chunks written come back for the flip to record. A job that ended meanwhile
/// (its collection dropped or made live) is no error.
async fn dual_write(
    state: &AppState,
    kb: &KnowledgeBase,
    job: &Job,
    doc: &Document,
    parsed: &ParsedDocument,
) -> Result<Option<(String, String, i64)>, ProcessError> {
    let target = Target::of_job(state, job)?;
    let written = index_into(state, kb, &target, doc, parsed, doc.fence).await;
    let still_active = || async {
        state
            .db
            .get_job(&job.id)
            .await
            .map(|j| j.is_some_and(|j| j.is_active()))
            .map_err(ProcessError::from)
    };
    match written {
        Ok(n) => Ok(Some((job.id.clone(), target.collection, n as i64))),
        Err(ProcessError::Transient(_)) if !still_active().await? => Ok(None),
        // The live generation has it; the job meets the same error on its last pass and
        // fails with it, leaving the live generation serving.
        Err(ProcessError::Permanent(msg)) => {
            tracing::warn!(job = %job.id, error = %msg, "document could not be written to the re-index target");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Upsert the points, a batch at a time.
async fn write_chunks(
    state: &AppState,
    collection: &str,
    points: Vec<Point>,
) -> Result<(), ProcessError> {
    let mut points = points;
    while !points.is_empty() {
        let rest = points.split_off(points.len().min(UPSERT_BATCH));
        state.vectors.upsert(collection, points).await?;
        points = rest;
    }
    Ok(())
}

fn payload(
    kb: &KnowledgeBase,
    version: Version,
    doc: &Document,
    title: Option<&str>,
    metadata: &Value,
    c: &ragway_ingest::chunk::Chunk,
) -> serde_json::Map<String, Value> {
    let v = json!({
        "project_id": kb.project_id,
        "kb_id": kb.id,
        "generation": version.generation,
        "fence": version.fence,
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
