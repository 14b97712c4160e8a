//! Knowledge-base requests: creating one (`POST /v1/knowledge_bases`) and re-indexing it
//! (`POST /v1/knowledge_bases/{kb}/reindex`), with the chunking settings both take.

use serde::Deserialize;

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
    pub chunking: Option<Chunking>,
    /// Switch to this embedding model (one of the server's `embedding.models`).
    pub embedding_model: Option<String>,
}

/// Chunking settings as requested: each field may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunking {
    /// Tokens per chunk, 16..=254 (the embedding model reads 256 with its two markers).
    pub max_tokens: Option<usize>,
    /// Tokens repeated between neighbouring chunks; less than half of `max_tokens`.
    pub overlap_tokens: Option<usize>,
    /// Split Markdown/HTML/DOCX along their structure.
    pub markdown: Option<bool>,
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
