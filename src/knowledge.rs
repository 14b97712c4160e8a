//! Knowledge-base lifecycle: creation (its embedding model, chunking settings and first vector
//! collection), lookup confined to a project, deletion of its vectors and rows.

use ragway_protocol::knowledge::{Chunking, ChunkingSettings, DocumentCounts, NewKnowledgeBase};
use ragway_protocol::ParamError;

use crate::jobs::JobError;
use crate::state::{AppState, UnknownModel};
use crate::store::jobs::Job;
use crate::store::knowledge::KnowledgeBase;
use crate::store::{now_ms, StoreError};
use crate::vector::VectorError;

/// Why a knowledge base could not be created, found or deleted.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// A request value is wrong (the chunking settings).
    #[error(transparent)]
    Invalid(#[from] ParamError),
    /// The request named an embedding model this server does not offer.
    #[error(transparent)]
    UnknownModel(#[from] UnknownModel),
    #[error("knowledge base `{0}` already exists")]
    Exists(String),
    /// No such knowledge base in the caller's project (other projects' are invisible).
    #[error("knowledge base `{0}` does not exist in this project")]
    NotFound(String),
    /// Canceling its re-index on delete failed.
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vector(#[from] VectorError),
}

pub async fn create(
    state: &AppState,
    project: &str,
    req: NewKnowledgeBase,
) -> Result<KnowledgeBase, KnowledgeError> {
    let defaults = &state.config.chunking;
    let chunking = Chunking::resolve(
        req.chunking.as_ref(),
        ChunkingSettings {
            max_tokens: defaults.max_tokens,
            overlap_tokens: defaults.overlap_tokens,
            markdown: defaults.markdown,
        },
    )?;
    let model = req
        .embedding_model
        .clone()
        .unwrap_or_else(|| state.pipeline.embedder.model_name().to_owned());
    let pipeline = state.pipeline_for(&model)?;
    let dim = pipeline.embedder.dim();
    let uid = uuid::Uuid::new_v4().simple().to_string();
    let id = req.id.unwrap_or_else(|| format!("kb-{}", &uid[..12]));
    if state.db.get_kb(project, &id).await?.is_some() {
        return Err(KnowledgeError::Exists(id));
    }
    let now = now_ms();
    let kb = KnowledgeBase {
        project_id: project.to_owned(),
        name: req.name.unwrap_or_else(|| id.clone()),
        id,
        collection: KnowledgeBase::collection_name(&uid, 1),
        uid,
        description: req.description.unwrap_or_default(),
        embedding_model: model,
        embedding_dim: dim as i64,
        chunk_max_tokens: chunking.max_tokens as i64,
        chunk_overlap: chunking.overlap_tokens as i64,
        chunk_markdown: i64::from(chunking.markdown),
        generation: 1,
        created_at: now,
        updated_at: now,
    };
    state
        .vectors
        .ensure_collection(&kb.collection, kb.embedding_dim as usize)
        .await?;
    if let Err(e) = state.db.insert_kb(&kb).await {
        let _ = state.vectors.delete_collection(&kb.collection).await;
        return Err(match e {
            StoreError::Duplicate(_) => KnowledgeError::Exists(kb.id),
            other => other.into(),
        });
    }
    Ok(kb)
}

/// The knowledge base `id` of `project`; 404 otherwise (other projects' are invisible).
pub async fn get(
    state: &AppState,
    project: &str,
    id: &str,
) -> Result<KnowledgeBase, KnowledgeError> {
    state
        .db
        .get_kb(project, id)
        .await?
        .ok_or_else(|| KnowledgeError::NotFound(id.to_owned()))
}

/// What a knowledge base holds: its documents by status, their chunks, and the re-index
/// under way, if any.
#[derive(Debug, Clone)]
pub struct Contents {
    pub documents: DocumentCounts,
    pub chunks: i64,
    pub reindex: Option<Job>,
}

/// The contents of `kb`.
pub async fn contents(state: &AppState, kb: &KnowledgeBase) -> Result<Contents, KnowledgeError> {
    let mut documents = DocumentCounts::default();
    let mut chunks = 0;
    for (status, n, c) in state.db.kb_document_counts(&kb.project_id, &kb.id).await? {
        documents.set(status, n);
        chunks += c;
    }
    let reindex = state.db.active_reindex(&kb.project_id, &kb.id).await?;
    Ok(Contents {
        documents,
        chunks,
        reindex,
    })
}

/// Every knowledge base of `project`, each with its documents by status and their chunks
/// (one grouped query for all of them; no re-index lookup).
pub async fn list(
    state: &AppState,
    project: &str,
) -> Result<Vec<(KnowledgeBase, DocumentCounts, i64)>, KnowledgeError> {
    let mut counts: std::collections::HashMap<String, (DocumentCounts, i64)> = Default::default();
    for (kb, status, n, c) in state.db.project_document_counts(project).await? {
        let entry = counts.entry(kb).or_default();
        entry.0.set(status, n);
        entry.1 += c;
    }
    Ok(state
        .db
        .list_kbs(project)
        .await?
        .into_iter()
        .map(|kb| {
            let (docs, chunks) = counts.remove(&kb.id).unwrap_or_default();
            (kb, docs, chunks)
        })
        .collect())
}

/// Cancel its re-index (dropping the half-built generation), drop the vectors, then the rows
/// (documents and sources cascade).
pub async fn delete(state: &AppState, kb: &KnowledgeBase) -> Result<(), KnowledgeError> {
    if let Some(job) = state.db.active_reindex(&kb.project_id, &kb.id).await? {
        crate::jobs::cancel(state, &job, Some("the knowledge base was deleted")).await?;
    }
    state.vectors.delete_collection(&kb.collection).await?;
    state.db.delete_kb(&kb.project_id, &kb.id).await?;
    Ok(())
}
