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

#[derive(Debug, Deserialize)]
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

pub async fn create(
    state: &AppState,
    project: &str,
    req: NewKnowledgeBase,
) -> Result<KnowledgeBase, ApiError> {
    let defaults = &state.config.chunking;
    let c = req.chunking.unwrap_or(Chunking {
        max_tokens: None,
        overlap_tokens: None,
        markdown: None,
    });
    let max_tokens = c.max_tokens.unwrap_or(defaults.max_tokens);
    let overlap = c.overlap_tokens.unwrap_or(defaults.overlap_tokens);
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
    let model = state.pipeline.embedder.model_name().to_owned();
    if let Some(m) = &req.embedding_model {
        if *m != model {
            return Err(ApiError::invalid(
                "embedding_model",
                format!("unknown embedding model `{m}`; available: {model}"),
            ));
        }
    }
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
        embedding_dim: state.pipeline.embedder.dim() as i64,
        chunk_max_tokens: max_tokens as i64,
        chunk_overlap: overlap as i64,
        chunk_markdown: i64::from(c.markdown.unwrap_or(defaults.markdown)),
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
    let mut docs = json!({"queued": 0, "processing": 0, "ready": 0, "failed": 0});
    let mut chunks = 0;
    for (status, n, c) in state.db.kb_document_counts(&kb.project_id, &kb.id).await? {
        docs[status] = json!(n);
        chunks += c;
    }
    v["documents"] = docs;
    v["chunks"] = json!(chunks);
    Ok(v)
}

/// Drop the vectors, then the rows (documents and sources cascade).
pub async fn delete(state: &AppState, kb: &KnowledgeBase) -> Result<(), ApiError> {
    state.vectors.delete_collection(&kb.collection).await?;
    state.db.delete_kb(&kb.project_id, &kb.id).await?;
    Ok(())
}
