//! The job runner: claims a due job with a lease (each claim a fencing token), renews it
//! while working, and runs it. A re-index writes each ready document into the target
//! collection at the document's current version (its `chunk_fence`) and marks it done in
//! `job_documents`, in a transaction that checks both the job's claim and that the version is
//! still the document's (a write overtaken by an ingest is discarded), so a job resumed by
//! another worker after a crash skips what is done. Transient failures (vector store down)
//! queue the job again with backoff; permanent ones (a document past
//! `ingest.document_timeout_secs`, a model that is gone) fail it, and so does a job whose
//! runners died `jobs.max_attempts` times. Runs in `serve` (`jobs.workers`) and in
//! `ragway worker`.

use std::sync::Arc;
use std::time::Duration;

use crate::documents::worker::{
    deadline_message, has_older, index_into, of_claim, parse_document, remove_older, ProcessError,
    Target,
};
use crate::state::AppState;
use crate::store::jobs::{Job, JobKind, JobStatus, Mark, MarkOutcome, Switch};
use crate::store::knowledge::{Document, KnowledgeBase};
use crate::store::StoreError;
use crate::vector::{Filter, MatchValue, VectorError};

/// Documents fetched per pass of the pending query.
const PAGE: i64 = 32;

/// Pause point (see `lease::Pauses`), keyed by document id: the job wrote the document into
/// its target and has not marked it done yet.
pub const PAUSE_BEFORE_MARK: &str = "job.before_mark";

/// Why a job stopped before finishing.
#[derive(Debug, thiserror::Error)]
enum RunError {
    /// Worth retrying later (the job resumes where it stopped).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help: the job fails with this message.
    #[error("{0}")]
    Permanent(String),
    /// The job is no longer this worker's (canceled, or its lease ran out and another worker
    /// took it): stop without touching it.
    #[error("job no longer held")]
    Lost,
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        RunError::Transient(e.to_string())
    }
}

impl From<VectorError> for RunError {
    fn from(e: VectorError) -> Self {
        match e {
            e if e.is_transient() => RunError::Transient(e.to_string()),
            // The target dropped under us: canceled (the next guarded write says so) or a bug.
            VectorError::CollectionNotFound(c) => {
                RunError::Transient(format!("collection `{c}` disappeared"))
            }
            e => RunError::Permanent(format!("vector store: {e}")),
        }
    }
}

/// Start `n` job runners on the current runtime.
pub fn spawn(state: Arc<AppState>, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    crate::lease::spawn(n, "job", |owner| run(state.clone(), owner))
}

/// Claim and run jobs until the task is dropped.
pub async fn run(state: Arc<AppState>, owner: String) {
    tracing::info!(%owner, "job runner started");
    let idle = Duration::from_millis(1000);
    crate::lease::drive("jobs", &state.jobs_notify, idle, || {
        run_once(&state, &owner)
    })
    .await
}

/// Run at most one due job; false when none was due.
pub async fn run_once(state: &Arc<AppState>, owner: &str) -> Result<bool, StoreError> {
    let cfg = &state.config.jobs;
    let lease_ms = cfg.lease_secs as i64 * 1000;
    // While the vector store is down, jobs wait in the queue rather than spend attempts.
    crate::vector::wait::until_available(state.vectors.as_ref(), "jobs").await;
    let abandoned = state.db.fail_abandoned_jobs(cfg.max_attempts).await?;
    if abandoned > 0 {
        tracing::warn!(
            jobs = abandoned,
            max_attempts = cfg.max_attempts,
            "jobs failed: every runner that took them died or stalled"
        );
        // Their half-built generations go now.
        super::sweep_retired(state, None).await;
    }
    let Some(job) = state
        .db
        .claim_job(owner, lease_ms, cfg.max_attempts)
        .await?
    else {
        sweep_now_and_then(state).await;
        return Ok(false);
    };
    let span = tracing::info_span!("job", job = %job.id, kind = %job.kind, kb = %job.kb_id, attempt = job.attempts);
    tracing::info!(parent: &span, "job started");
    // In its own task so a panic fails one job, not the runner.
    let work = tokio::spawn({
        let state = state.clone();
        let job = job.clone();
        let owner = owner.to_owned();
        async move { run_with_lease(&state, &owner, &job).await }
    });
    let result = match work.await {
        Ok(r) => r,
        Err(join) => Err(RunError::Permanent(format!("internal error: {join}"))),
    };
    let db = &state.db;
    match result {
        Ok(()) => tracing::info!(parent: &span, "job succeeded"),
        Err(RunError::Lost) => {
            tracing::info!(parent: &span, "job canceled or taken over; stopped");
            // Canceled: make sure nothing we wrote after the cancel's drop survives.
            if let Some(now) = db.get_job(&job.id).await? {
                if matches!(now.status, JobStatus::Canceled | JobStatus::Failed) {
                    if let Some(target) = &now.target_collection {
                        let dropped =
                            super::drop_unless_live(state, &now.project_id, &now.kb_id, target)
                                .await;
                        if let Err(e) = dropped {
                            tracing::warn!(parent: &span, error = %e, "could not drop the job's collection");
                        }
                    }
                }
            }
        }
        Err(RunError::Permanent(msg)) => {
            tracing::warn!(parent: &span, error = %msg, "job failed");
            db.fail_job(&job.id, owner, job.fence, &msg, None).await?;
        }
        Err(RunError::Transient(msg)) if job.attempts >= state.config.jobs.max_attempts => {
            let msg = format!("gave up after {} attempts: {msg}", job.attempts);
            tracing::warn!(parent: &span, error = %msg, "job failed");
            db.fail_job(&job.id, owner, job.fence, &msg, None).await?;
        }
        Err(RunError::Transient(msg)) => {
            let backoff = crate::lease::backoff_ms(job.attempts);
            tracing::warn!(parent: &span, error = %msg, backoff_ms = backoff, "job will resume later");
            let retry_at = Some(crate::store::now_ms() + backoff);
            db.fail_job(&job.id, owner, job.fence, &msg, retry_at)
                .await?;
        }
    }
    // What the job left behind (old generation, or its own after a failure) goes now.
    super::sweep_retired(state, Some(&job.id)).await;
    Ok(true)
}

/// When idle, at most once a minute per process: drop collections that ended jobs left
/// behind because their runner died between the switch and the drop.
async fn sweep_now_and_then(state: &AppState) {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::store::now_ms();
    let last = LAST.load(Ordering::Relaxed);
    if now - last >= 60_000
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        super::sweep_retired(state, None).await;
    }
}

/// Run while renewing the lease; a failed renewal (canceled, reclaimed) stops the work.
async fn run_with_lease(state: &AppState, owner: &str, job: &Job) -> Result<(), RunError> {
    let lease_ms = state.config.jobs.lease_secs as i64 * 1000;
    crate::lease::with_lease(
        lease_ms,
        run_job(state, owner, job),
        || {
            state
                .db
                .renew_job_lease(&job.id, owner, job.fence, lease_ms)
        },
        RunError::Lost,
    )
    .await
}

async fn run_job(state: &AppState, owner: &str, job: &Job) -> Result<(), RunError> {
    match job.kind {
        JobKind::ReindexKb => reindex(state, owner, job).await,
        other @ (JobKind::IngestBatch | JobKind::DeleteKb) => Err(RunError::Permanent(format!(
            "jobs of kind `{other}` are not run by this version"
        ))),
    }
}

/// Build the job's generation, then switch the knowledge base to it.
async fn reindex(state: &AppState, owner: &str, job: &Job) -> Result<(), RunError> {
    let db = &state.db;
    let kb = db
        .get_kb(&job.project_id, &job.kb_id)
        .await?
        .ok_or_else(|| RunError::Permanent("the knowledge base was deleted".into()))?;
    let target = Target::of_job(state, job).map_err(process_error)?;
    let dim = target.pipeline.embedder.dim();
    state
        .vectors
        .ensure_collection(&target.collection, dim)
        .await?;

    catch_up(state, owner, job, &kb, &target).await?;
    // Build the search index before the switch, so the new generation answers as fast as
    // the old one from its first query; then catch up with what arrived meanwhile.
    state.vectors.optimize(&target.collection).await?;
    loop {
        catch_up(state, owner, job, &kb, &target).await?;
        drop_deleted(state, job, &target).await?;
        match db
            .complete_reindex(job, owner, job.fence, &kb.collection)
            .await?
        {
            Switch::Done => break,
            // A document became ready at a new version after the last pass looked.
            Switch::Behind => continue,
            Switch::NotHeld => return Err(RunError::Lost),
            Switch::Moved => {
                return Err(RunError::Permanent(
                    "the knowledge base changed generation while the job ran".into(),
                ))
            }
        }
    }
    tracing::info!(job = %job.id, kb = %kb.id, from = %kb.collection, to = %target.collection, "switched to the new generation");
    // The old collection is recorded as retired with the switch; `run_once` drops it next.
    // Searches that read the old pointer just before the switch retry on the new one when
    // it is gone (see retrieval).
    Ok(())
}

/// Documents deleted while the job ran: their chunks leave the target.
async fn drop_deleted(state: &AppState, job: &Job, target: &Target) -> Result<(), RunError> {
    for id in state.db.job_orphans(&job.id).await? {
        let f = Filter::eq("document_id", MatchValue::Keyword(id.clone()));
        state
            .vectors
            .delete_by_filter(&target.collection, &f)
            .await?;
        state.db.unmark_job_document(&job.id, &id).await?;
    }
    Ok(())
}

/// Write every ready document the target lacks (at its current version), until none is
/// pending and no ingest that began before the job (and so does not write to it) is still
/// running. Documents changed or added meanwhile show up again in the next pass.
async fn catch_up(
    state: &AppState,
    owner: &str,
    job: &Job,
    kb: &KnowledgeBase,
    target: &Target,
) -> Result<(), RunError> {
    let db = &state.db;
    // Passes over the knowledge base in id order; a pass that found nothing ends the catch-up.
    let mut after: Option<String> = None;
    let mut pass_found = false;
    loop {
        if after.is_none() {
            let total = db.ready_document_count(&job.project_id, &job.kb_id).await?;
            if !db.set_job_total(&job.id, owner, job.fence, total).await? {
                return Err(RunError::Lost);
            }
        }
        let pending = db
            .job_pending_documents(job, after.as_deref(), PAGE)
            .await?;
        if pending.is_empty() {
            if after.take().is_some() && pass_found {
                // The pass wrote documents; another one catches what changed meanwhile.
                pass_found = false;
                continue;
            }
            if db
                .documents_claimed_before(&job.project_id, &job.kb_id, job.created_at)
                .await?
                == 0
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        pass_found = true;
        after = pending.last().map(|d| d.id.clone());
        for doc in pending {
            write_document(state, owner, job, kb, target, &doc).await?;
        }
    }
}

/// Write one document into the target at its current version, within the processing
/// deadline, and record it under the job's claim. A write overtaken by an ingest of a newer
/// version (or a delete) is taken back; the document shows up again in the next pass.
async fn write_document(
    state: &AppState,
    owner: &str,
    job: &Job,
    kb: &KnowledgeBase,
    target: &Target,
    doc: &Document,
) -> Result<(), RunError> {
    let db = &state.db;
    let Some(bytes) = db.document_source(&doc.id).await? else {
        return Ok(()); // deleted meanwhile
    };
    let fence = doc.chunk_fence;
    let secs = state.config.ingest.document_timeout_secs;
    let written = tokio::time::timeout(Duration::from_secs(secs), async {
        let parsed = parse_document(state, doc, bytes).await?;
        index_into(state, kb, target, doc, &parsed, fence).await
    })
    .await
    .unwrap_or_else(|_| Err(ProcessError::Permanent(deadline_message(secs))))
    .map_err(|e| doc_error(&doc.id, e))?;
    state.pauses.reach(PAUSE_BEFORE_MARK, &doc.id).await;
    let collection = [target.collection.as_str()];
    let older = has_older(state, &collection, &doc.id, fence).await?;
    let mark = Mark {
        job: &job.id,
        document: &doc.id,
        hash: &doc.content_hash,
        fence,
        chunks: written as i64,
        by: owner,
    };
    match db.mark_job_document(&mark, owner, job.fence, older).await? {
        MarkOutcome::Marked if older => {
            remove_older(state, &collection, &doc.id, fence).await?;
            db.clear_stale(&doc.id, fence).await?;
        }
        MarkOutcome::Marked => {}
        MarkOutcome::JobLost => return Err(RunError::Lost),
        MarkOutcome::DocumentMoved => {
            state
                .vectors
                .delete_by_filter(&target.collection, &of_claim(&doc.id, fence))
                .await?;
        }
    }
    Ok(())
}

fn process_error(e: ProcessError) -> RunError {
    match e {
        ProcessError::Transient(m) => RunError::Transient(m),
        ProcessError::Permanent(m) => RunError::Permanent(m),
        ProcessError::Superseded => RunError::Lost,
    }
}

/// A document's failure, naming it.
fn doc_error(id: &str, e: ProcessError) -> RunError {
    match e {
        ProcessError::Transient(m) => RunError::Transient(format!("document {id}: {m}")),
        ProcessError::Permanent(m) => RunError::Permanent(format!("document {id}: {m}")),
        ProcessError::Superseded => RunError::Transient(format!("document {id} changed")),
    }
}
