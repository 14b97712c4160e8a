//! Knowledge-base requests: creating one (`POST /v1/knowledge_bases`) and re-indexing it
//! (`POST /v1/knowledge_bases/{kb}/reindex`), with the chunking settings both take.

use serde::{Deserialize, Serialize};

use crate::jobs::JobView;

use crate::params::{count, object_at};
use crate::ParamError;

/// `POST /v1/knowledge_bases`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKnowledgeBase {
    /// Caller-chosen slug; generated when absent.
    pub id: Option<String>,
    /// Display name; the id when absent.
    pub name: Option<String>,
    pub description: Option<String>,
    /// A configured embedding model; the default model when absent.
    pub embedding_model: Option<String>,
    /// Chunking settings; the server's defaults for each field absent.
    #[serde(default, deserialize_with = "chunking")]
    pub chunking: Option<Chunking>,
}

impl NewKnowledgeBase {
    /// A request for knowledge base `id` with every default.
    pub fn with_id(id: impl Into<String>) -> Self {
        NewKnowledgeBase {
            id: Some(id.into()),
            ..Default::default()
        }
    }
}

/// `POST /v1/knowledge_bases/{kb}/reindex`: what the new generation should use; absent
/// fields keep the knowledge base's current settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReindexRequest {
    #[serde(default, deserialize_with = "chunking")]
    pub chunking: Option<Chunking>,
    /// Switch to this embedding model (one of the server's `embedding.models`).
    pub embedding_model: Option<String>,
}

/// Chunking settings as requested: each field may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunking {
    /// Tokens per chunk, 16..=254 (the embedding model reads 256 with its two markers).
    #[serde(default, deserialize_with = "count")]
    pub max_tokens: Option<usize>,
    /// Tokens repeated between neighbouring chunks; less than half of `max_tokens`.
    #[serde(default, deserialize_with = "count")]
    pub overlap_tokens: Option<usize>,
    /// Split Markdown/HTML/DOCX along their structure.
    pub markdown: Option<bool>,
}

fn chunking<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Chunking>, D::Error> {
    object_at(d, "chunking")
}

/// Chunking settings with every field decided and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkingSettings {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
    pub markdown: bool,
}

impl Chunking {
    /// The settings of `requested`, each field absent taken from `base`, range-checked.
    pub fn resolve(
        requested: Option<&Chunking>,
        base: ChunkingSettings,
    ) -> Result<ChunkingSettings, ParamError> {
        let max_tokens = requested
            .and_then(|c| c.max_tokens)
            .unwrap_or(base.max_tokens);
        let overlap_tokens = requested
            .and_then(|c| c.overlap_tokens)
            .unwrap_or(base.overlap_tokens);
        let markdown = requested.and_then(|c| c.markdown).unwrap_or(base.markdown);
        if !(16..=254).contains(&max_tokens) {
            return Err(ParamError::new(
                "chunking.max_tokens",
                "max_tokens must be in 16..=254 (the embedding model reads 256 tokens)",
            ));
        }
        if overlap_tokens * 2 >= max_tokens {
            return Err(ParamError::new(
                "chunking.overlap_tokens",
                "overlap_tokens must be less than half of max_tokens",
            ));
        }
        Ok(ChunkingSettings {
            max_tokens,
            overlap_tokens,
            markdown,
        })
    }
}

/// Chunking settings as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChunkingView {
    pub max_tokens: i64,
    pub overlap_tokens: i64,
    pub markdown: bool,
}

/// A knowledge base, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct KnowledgeBaseView {
    pub project_id: String,
    pub id: String,
    pub name: String,
    pub description: String,
    pub embedding_model: String,
    pub embedding_dim: i64,
    pub chunk_max_tokens: i64,
    pub chunk_overlap: i64,
    pub chunking: ChunkingView,
    /// The live generation (re-indexing builds the next one).
    pub generation: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A knowledge base with its contents, as shown by create, get and update.
#[derive(Debug, Clone, Serialize)]
pub struct KnowledgeBaseDescription {
    #[serde(flatten)]
    pub kb: KnowledgeBaseView,
    pub documents: DocumentCounts,
    /// Chunks of all its documents.
    pub chunks: i64,
    /// The queued or running re-index, if any.
    pub reindex: Option<JobView>,
}

/// Documents by status.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DocumentCounts {
    pub queued: i64,
    pub processing: i64,
    pub ready: i64,
    pub failed: i64,
}

impl DocumentCounts {
    /// Record that `n` documents have `status`.
    pub fn set(&mut self, status: crate::documents::DocumentStatus, n: i64) {
        use crate::documents::DocumentStatus;
        *match status {
            DocumentStatus::Queued => &mut self.queued,
            DocumentStatus::Processing => &mut self.processing,
            DocumentStatus::Ready => &mut self.ready,
            DocumentStatus::Failed => &mut self.failed,
        } = n;
    }
}

/// A knowledge base as listed: with its documents by status and their chunks.
#[derive(Debug, Clone, Serialize)]
pub struct KnowledgeBaseSummary {
    #[serde(flatten)]
    pub kb: KnowledgeBaseView,
    pub documents: DocumentCounts,
    /// Chunks of all its documents.
    pub chunks: i64,
}
