//! Documents as the API shows them: their ingest status and their view.

use serde::Serialize;
use serde_json::Value;

use crate::words::word_enum;

word_enum! {
    /// Where a document is in the ingest queue.
    pub enum DocumentStatus("status") {
        /// Waiting for a worker (or for its retry).
        Queued = "queued",
        /// A worker holds it under a lease.
        Processing = "processing",
        /// Its chunks are searchable.
        Ready = "ready",
        /// Parsing or indexing failed for good; `error` says why.
        Failed = "failed",
    }
}

impl DocumentStatus {
    /// Ready or failed: nothing more will happen to it without a new upload.
    pub fn is_settled(self) -> bool {
        matches!(self, DocumentStatus::Ready | DocumentStatus::Failed)
    }
}

word_enum! {
    /// What an upload did to the document with its external id.
    pub enum PutOutcome("outcome") {
        Created = "created",
        /// Same content, title and metadata as what is stored (and not failed): nothing to do.
        Unchanged = "unchanged",
        /// Changed: queued again; the old chunks serve until the new ones are in.
        Replaced = "replaced",
    }
}

/// A document's parsed text (`GET …/documents/{doc}/text`): what chunk offsets point into.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentText {
    pub document_id: String,
    /// The sections joined by a blank line.
    pub text: String,
    pub sections: Vec<TextSection>,
}

/// Where one section (a PDF page, a JSON record, the whole text) sits in `DocumentText::text`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TextSection {
    pub page: Option<u32>,
    pub char_start: usize,
    pub char_end: usize,
}

/// A document, as listed and shown.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub id: String,
    pub kb_id: String,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// SHA-256 of the uploaded bytes.
    pub content_hash: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    pub error: Option<String>,
    pub chunk_count: i64,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub processed_at: Option<i64>,
    /// The document's metadata object (shown by `GET …/documents/{id}`, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// What the upload did (in upload answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<PutOutcome>,
}
