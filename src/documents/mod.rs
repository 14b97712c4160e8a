//! Documents: accepting uploads into the durable queue (the `documents` table), deleting them
//! with their chunks, and the worker that turns queued documents into chunks in the vector store.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::state::AppState;
use crate::store::knowledge::{Document, KnowledgeBase, NewDocument, PutOutcome};
use crate::store::StoreError;
use crate::vector::{Filter, MatchValue, VectorError};

pub mod worker;

/// Why a document could not be accepted or deleted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The upload itself is wrong; `param` names the part.
    #[error("{message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
    /// Only a failed document can be queued again.
    #[error("document `{id}` is {status}; only a failed document can be retried")]
    NotRetryable { id: String, status: String },
    /// The stored file is gone (deleted meanwhile).
    #[error("document `{0}` has no stored file")]
    NoSource(String),
    /// The stored file does not parse (the document failed for it).
    #[error("document `{id}` has no text: {reason}")]
    NoText { id: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vector(#[from] VectorError),
}

/// Namespace of ragway's deterministic (v5) ids.
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a57_9d3e_4b8a_a1f0_52c4_7e9b_d310);

/// One document to ingest, as received.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub metadata: Map<String, Value>,
    pub content: Vec<u8>,
}

/// The deterministic id of a chunk of the claim `fence` (see `worker`): a retry of one claim
/// overwrites its points, and two claims of a document never overwrite each other's.
pub fn chunk_id(
    kb_uid: &str,
    document_id: &str,
    content_hash: &str,
    fence: i64,
    ordinal: u32,
) -> Uuid {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{kb_uid}/{document_id}/{content_hash}/{fence}/{ordinal}").as_bytes(),
    )
}

/// The checks an upload of `len` bytes must pass before it is queued: not empty, a valid
/// external id, metadata within `ingest.max_metadata_bytes`.
pub fn validate(state: &AppState, upload: &Upload, len: u64) -> Result<(), IngestError> {
    if len == 0 {
        return Err(IngestError::Invalid {
            param: "file",
            message: match &upload.file_name {
                Some(name) => format!("the document `{name}` is empty"),
                None => "the document is empty".into(),
            },
        });
    }
    if let Some(ext) = &upload.external_id {
        if ext.is_empty() || ext.chars().count() > 512 {
            return Err(IngestError::Invalid {
                param: "external_id",
                message: "external_id must be 1-512 characters".into(),
            });
        }
    }
    let most = state.config.ingest.max_metadata_bytes;
    let size = metadata_json(&upload.metadata).len();
    if size > most {
        return Err(IngestError::Invalid {
            param: "metadata",
            message: format!(
                "metadata is {size} bytes as JSON; at most {most} (ingest.max_metadata_bytes) \
                 are accepted, since it is copied into every chunk"
            ),
        });
    }
    Ok(())
}

fn metadata_json(metadata: &Map<String, Value>) -> String {
    serde_json::to_string(metadata).unwrap_or_default()
}

/// Queue `upload` in `kb`; an existing document with the same external id is replaced, or left
/// alone when nothing changed.
pub async fn submit(
    state: &AppState,
    kb: &KnowledgeBase,
    upload: Upload,
) -> Result<(Document, PutOutcome), IngestError> {
    validate(state, &upload, upload.content.len() as u64)?;
    let metadata = metadata_json(&upload.metadata);
    let id = match &upload.external_id {
        Some(ext) => Uuid::new_v5(
            &ID_NAMESPACE,
            format!("{}/{}/{ext}", kb.project_id, kb.id).as_bytes(),
        ),
        None => Uuid::new_v4(),
    };
    let doc = NewDocument {
        id: id.to_string(),
        project_id: kb.project_id.clone(),
        kb_id: kb.id.clone(),
        external_id: upload.external_id,
        title: upload.title,
        file_name: upload.file_name,
        content_type: upload.content_type,
        metadata,
        content_hash: ragway_ingest::content_hash(&upload.content),
        content: upload.content,
    };
    let (stored, outcome) = state.db.put_document(&doc).await?;
    if outcome != PutOutcome::Unchanged {
        state.ingest_notify.notify_waiters();
    }
    Ok((stored, outcome))
}

/// Delete a document: its chunks leave the vector store first, so a failure there keeps the
/// row (and the caller can retry) instead of orphaning chunks. While a re-index job builds a
/// new generation, they leave that one too (the job's last pass also drops documents that
/// are gone, so a delete racing the job cannot leave chunks behind).
pub async fn delete(
    state: &AppState,
    kb: &KnowledgeBase,
    doc: &Document,
) -> Result<(), IngestError> {
    let filter = Filter::eq("document_id", MatchValue::Keyword(doc.id.clone()));
    // Job first, then the knowledge base, for the same reason as in the worker.
    let job = state.db.active_reindex(&kb.project_id, &kb.id).await?;
    let kb = state
        .db
        .get_kb(&kb.project_id, &kb.id)
        .await?
        .unwrap_or_else(|| kb.clone());
    let mut collections = vec![kb.collection.clone()];
    if let Some(target) = job.and_then(|j| j.target_collection) {
        if target != kb.collection {
            collections.push(target);
        }
    }
    for c in &collections {
        match state.vectors.delete_by_filter(c, &filter).await {
            Ok(()) | Err(VectorError::CollectionNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    state.db.delete_document(&doc.id).await?;
    Ok(())
}

/// Queue a failed document again, its attempts and error reset; the queued row comes back.
pub async fn retry(state: &AppState, doc: &Document) -> Result<Document, IngestError> {
    let Some(queued) = state.db.retry_document(&doc.id).await? else {
        let now = state.db.document_by_id(&doc.id).await?;
        return Err(IngestError::NotRetryable {
            id: doc.id.clone(),
            status: now.map_or("deleted".into(), |d| d.status.to_string()),
        });
    };
    state.ingest_notify.notify_waiters();
    Ok(queued)
}

/// The document's parsed text, as the ingest worker sees it (chunk offsets point into it).
pub async fn text(
    state: &AppState,
    doc: &Document,
) -> Result<ragway_ingest::parse::ParsedDocument, IngestError> {
    let bytes = state
        .db
        .document_source(&doc.id)
        .await?
        .ok_or_else(|| IngestError::NoSource(doc.id.clone()))?;
    worker::parse_document(state, doc, bytes)
        .await
        .map_err(|e| IngestError::NoText {
            id: doc.id.clone(),
            reason: e.to_string(),
        })
}
