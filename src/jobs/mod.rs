//! Background jobs. `reindex_kb` rebuilds a knowledge base into a new generation — a new
//! collection, possibly with another embedding model (and dimension) or other chunking —
//! beside the live one, while searches keep answering from the live one; then switches the
//! knowledge base to it in one transaction and drops the old collection. Documents ingested
//! or deleted meanwhile go to both generations (see `documents::worker`), and the job's last
//! pass before the switch catches up with any it missed. A canceled or failed job drops its
//! half-built collection and leaves the old generation serving.

use ragway_protocol::knowledge::{Chunking, ChunkingSettings, ReindexRequest};
use ragway_protocol::ParamError;

use crate::state::{AppState, UnknownModel};
use crate::store::jobs::{Job, NewJob, ReindexTarget};
use crate::store::knowledge::KnowledgeBase;
use crate::store::{now_ms, StoreError};
use crate::vector::VectorError;

pub mod worker;

/// Pause point (see `lease::Pauses`), keyed by knowledge base id: a re-index request made its
/// target collection and has not inserted its job yet.
pub const PAUSE_BEFORE_INSERT: &str = "reindex.before_insert";

/// Why a job could not be queued, found or canceled.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A request value is wrong (the chunking settings).
    #[error(transparent)]
    Invalid(#[from] ParamError),
    /// The request named an embedding model this server does not offer.
    #[error(transparent)]
    UnknownModel(#[from] UnknownModel),
    /// A re-index of the knowledge base is queued or running already.
    #[error("knowledge base `{kb}` is being re-indexed already{}", .active.as_ref().map(|(job, status)| format!(" (job `{job}`, {status}); cancel it or wait")).unwrap_or_default())]
    AlreadyReindexing {
        kb: String,
        /// The active job and its status, when known.
        active: Option<(String, String)>,
    },
    /// No such job in the caller's project.
    #[error("job `{0}` does not exist in this project")]
    NotFound(String),
    /// The job ended before it could be canceled; `status` is how (or `deleted`).
    #[error("job `{id}` has ended already ({status})")]
    Ended { id: String, status: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vector(#[from] VectorError),
}

/// Queue a re-index of `kb`. 409 when one is already queued or running.
pub async fn enqueue_reindex(
    state: &AppState,
    kb: &KnowledgeBase,
    req: ReindexRequest,
) -> Result<Job, JobError> {
    let chunking = Chunking::resolve(
        req.chunking.as_ref(),
        ChunkingSettings {
            max_tokens: kb.chunk_max_tokens as usize,
            overlap_tokens: kb.chunk_overlap as usize,
            markdown: kb.markdown(),
        },
    )?;
    let model = req
        .embedding_model
        .clone()
        .unwrap_or_else(|| kb.embedding_model.clone());
    let dim = state.pipeline_for(&model)?.embedder.dim();
    if let Some(active) = state.db.active_reindex(&kb.project_id, &kb.id).await? {
        return Err(JobError::AlreadyReindexing {
            kb: kb.id.clone(),
            active: Some((active.id, active.status.to_string())),
        });
    }
    let generation = kb.generation.max(
        state
            .db
            .max_target_generation(&kb.project_id, &kb.id)
            .await?,
    ) + 1;
    let docs_total = state
        .db
        .ready_document_count(&kb.project_id, &kb.id)
        .await?;
    let target = ReindexTarget {
        generation,
        collection: String::new(),
        model,
        dim: dim as i64,
        chunking,
    };
    let mut new = NewJob::reindex(&kb.project_id, &kb.id, target, docs_total);
    // Named after the job too: two requests racing to the same generation never share a
    // collection, so the loser's cleanup cannot drop the winner's.
    let collection = KnowledgeBase::job_collection_name(&kb.uid, generation, &new.id);
    if let Some(t) = new.target.as_mut() {
        t.collection = collection.clone();
    }
    let job = Job::queued(new, now_ms());
    // The target collection exists before the job is visible, so documents ingested from now
    // on can be written to it.
    state.vectors.ensure_collection(&collection, dim).await?;
    state.pauses.reach(PAUSE_BEFORE_INSERT, &kb.id).await;
    if !state.db.insert_job(&job).await? {
        if let Err(e) = state.vectors.delete_collection(&collection).await {
            tracing::warn!(%collection, error = %e, "could not drop the collection of a re-index that lost a race");
        }
        let active = state.db.active_reindex(&kb.project_id, &kb.id).await?;
        return Err(JobError::AlreadyReindexing {
            kb: kb.id.clone(),
            active: active.map(|j| (j.id, j.status.to_string())),
        });
    }
    state.jobs_notify.notify_waiters();
    tracing::info!(job = %job.id, kb = %kb.id, generation, "re-index queued");
    Ok(job)
}

/// The job `id` of `project`; 404 otherwise.
pub async fn get(state: &AppState, project: &str, id: &str) -> Result<Job, JobError> {
    match state.db.get_job(id).await? {
        Some(job) if job.project_id == project => Ok(job),
        _ => Err(JobError::NotFound(id.to_owned())),
    }
}

/// Cancel a queued or running job and drop what it built; the live generation is untouched.
/// 409 when the job has ended already.
pub async fn cancel(state: &AppState, job: &Job, reason: Option<&str>) -> Result<Job, JobError> {
    if !state.db.cancel_job(&job.id, reason).await? {
        let now = state.db.get_job(&job.id).await?;
        return Err(JobError::Ended {
            id: job.id.clone(),
            status: now.map_or_else(|| "deleted".to_owned(), |j| j.status.to_string()),
        });
    }
    sweep_retired(state, Some(&job.id)).await;
    tracing::info!(job = %job.id, "job canceled");
    Ok(state
        .db
        .get_job(&job.id)
        .await?
        .unwrap_or_else(|| job.clone()))
}

/// Drop `collection` of knowledge base `kb` unless it is the live one.
pub async fn drop_unless_live(
    state: &AppState,
    project: &str,
    kb: &str,
    collection: &str,
) -> Result<(), VectorError> {
    if let Ok(Some(kb)) = state.db.get_kb(project, kb).await {
        if kb.collection == collection {
            return Ok(());
        }
    }
    state.vectors.delete_collection(collection).await
}

/// Drop the collections ended jobs left behind (every job's, or just `job`'s): the old
/// generation after a switch, the half-built one after a cancel or failure. The job row
/// remembers the collection until it is gone, so a crash between the switch and the drop
/// leaks nothing: the next sweep (any runner, when idle) finishes it.
pub async fn sweep_retired(state: &AppState, job: Option<&str>) {
    let rows = match state.db.retired_collections(job).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "could not list retired collections");
            return;
        }
    };
    for (id, project, kb, collection) in rows {
        match drop_unless_live(state, &project, &kb, &collection).await {
            Ok(()) => {
                if let Err(e) = state.db.clear_retired(&id).await {
                    tracing::warn!(job = %id, error = %e, "could not record a dropped collection");
                } else {
                    tracing::info!(job = %id, %collection, "retired collection dropped");
                }
            }
            Err(e) => {
                tracing::warn!(job = %id, %collection, error = %e, "could not drop a retired collection; will retry")
            }
        }
    }
}
