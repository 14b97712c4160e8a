//! Knowledge-base lifecycle: creation (its embedding model, chunking settings and first vector
//! collection), lookup confined to a project, deletion of its vectors and rows.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::knowledge::KnowledgeBase;
use crate::store::now_ms;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKnowledgeBase {
    /// Caller-chosen slug; generated when absent.
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A configured embedding model; the default model when absent.
    pub embedding_model: Option<String>,
    pub chunking: Option<Chunking>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunking {
    pub max_tokens: Option<usize>,
    pub overlap_tokens: Option<usize>,
    pub markdown: Option<bool>,
}

/// The collection of a knowledge base's `generation`.
pub fn collection_name(uid: &str, generation: i64) -> String {
    format!("kb_{uid}_g{generation}")
}

/// Chunking settings from a request, each field absent taken from `base`, range-checked.
pub fn resolve_chunking(
    c: Option<&Chunking>,
    base: (usize, usize, bool),
) -> Result<(usize, usize, bool), ApiError> {
    let max_tokens = c.and_then(|c| c.max_tokens).unwrap_or(base.0);
    let overlap = c.and_then(|c| c.overlap_tokens).unwrap_or(base.1);
    let markdown = c.and_then(|c| c.markdown).unwrap_or(base.2);
    if !(16..=254).contains(&max_tokens) {
        return Err(ApiError::invalid(
            "chunking.max_tokens",
            "max_tokens must be in 16..=254 (the embedding model reads 256 tokens)",
        ));
    }
    if overlap * 2 >= max_tokens {
        return Err(ApiError::invalid(
            "chunking.overlap_tokens",
            "overlap_tokens must be less than half of max_tokens",
        ));
    }
    Ok((max_tokens, overlap, markdown))
}

pub async fn create(
    state: &AppState,
    project: &str,
    req: NewKnowledgeBase,
) -> Result<KnowledgeBase, ApiError> {
    let defaults = &state.config.chunking;
    let (max_tokens, overlap, markdown) = resolve_chunking(
        req.chunking.as_ref(),
        (
            defaults.max_tokens,
            defaults.overlap_tokens,
            defaults.markdown,
        ),
    )?;
    let model = req
        .embedding_model
        .clone()
        .unwrap_or_else(|| state.pipeline.embedder.model_name().to_owned());
    let pipeline = state.pipeline_for(&model, "embedding_model")?;
    let dim = pipeline.embedder.dim();
    let uid = uuid::Uuid::new_v4().simple().to_string();
    let id = req.id.unwrap_or_else(|| format!("kb-{}", &uid[..12]));
    if state.db.get_kb(project, &id).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "knowledge base `{id}` already exists"
        )));
    }
    let now = now_ms();
    let kb = KnowledgeBase {
        project_id: project.to_owned(),
        name: req.name.unwrap_or_else(|| id.clone()),
        id,
        collection: collection_name(&uid, 1),
        uid,
        description: req.description.unwrap_or_default(),
        embedding_model: model,
        embedding_dim: dim as i64,
        chunk_max_tokens: max_tokens as i64,
        chunk_overlap: overlap as i64,
        chunk_markdown: i64::from(markdown),
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
        return Err(match e.as_database_error() {
            Some(d) if d.is_unique_violation() => {
                ApiError::Conflict(format!("knowledge base `{}` already exists", kb.id))
            }
            _ => e.into(),
        });
    }
    Ok(kb)
}

/// The knowledge base `id` of `project`; 404 otherwise (other projects' are invisible).
pub async fn get(state: &AppState, project: &str, id: &str) -> Result<KnowledgeBase, ApiError> {
    state.db.get_kb(project, id).await?.ok_or_else(|| {
        ApiError::not_found(
            Some("kb_id"),
            format!("knowledge base `{id}` does not exist in this project"),
        )
    })
}

/// The knowledge base with its document counts by status.
pub async fn describe(state: &AppState, kb: &KnowledgeBase) -> Result<Value, ApiError> {
    let mut v = kb.to_json();
    let mut docs = empty_counts();
    let mut chunks = 0;
    for (status, n, c) in state.db.kb_document_counts(&kb.project_id, &kb.id).await? {
        docs[status] = json!(n);
        chunks += c;
    }
    v["documents"] = docs;
    v["chunks"] = json!(chunks);
    v["reindex"] = match state.db.active_reindex(&kb.project_id, &kb.id).await? {
        Some(job) => job.to_json(),
        None => Value::Null,
    };
    Ok(v)
}

/// Every knowledge base of `project`, each with its document counts by status and chunk
/// count (one grouped query for all of them).
pub async fn list(state: &AppState, project: &str) -> Result<Vec<Value>, ApiError> {
    let mut counts: std::collections::HashMap<String, (Value, i64)> = Default::default();
    for (kb, status, n, c) in state.db.project_document_counts(project).await? {
        let entry = counts.entry(kb).or_insert_with(|| (empty_counts(), 0));
        entry.0[status] = json!(n);
        entry.1 += c;
    }
    Ok(state
        .db
        .list_kbs(project)
        .await?
        .iter()
        .map(|kb| {
            let mut v = kb.to_json();
            let (docs, chunks) = counts.remove(&kb.id).unwrap_or_else(|| (empty_counts(), 0));
            v["documents"] = docs;
            v["chunks"] = json!(chunks);
            v
        })
        .collect())
}

fn empty_counts() -> Value {
    json!({"queued": 0, "processing": 0, "ready": 0, "failed": 0})
}

/// Cancel its re-index (dropping the half-built generation), drop the vectors, then the rows
/// (documents and sources cascade).
pub async fn delete(state: &AppState, kb: &KnowledgeBase) -> Result<(), ApiError> {
    if let Some(job) = state.db.active_reindex(&kb.project_id, &kb.id).await? {
        crate::jobs::cancel(state, &job, Some("the knowledge base was deleted")).await?;
    }
    state.vectors.delete_collection(&kb.collection).await?;
    state.db.delete_kb(&kb.project_id, &kb.id).await?;
    Ok(())
}
