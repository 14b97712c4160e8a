//! Splits parsed sections into chunks measured in the embedding model's own tokens.
//! Chunk size is what the model sees, so no chunk is silently truncated at embedding time.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use text_splitter::{ChunkCharIndex, ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::parse::ParsedDocument;

/// How to cut a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkSettings {
    /// Most model tokens per chunk ([CLS]/[SEP] not counted): 254 + 2 = MiniLM's 256.
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks, so a sentence cut at a boundary is in both.
    pub overlap_tokens: usize,
    /// Split Markdown at headings, paragraphs and list items (for structured documents).
    pub markdown: bool,
}

impl Default for ChunkSettings {
    fn default() -> Self {
        Self {
            max_tokens: 254,
            overlap_tokens: 32,
            markdown: true,
        }
    }
}

/// An invalid [`ChunkSettings`] field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunk setting '{field}': {message}")]
pub struct ChunkSettingsError {
    pub field: &'static str,
    pub message: String,
}

impl ChunkSettings {
    /// `max_tokens` ≥ 16 and `overlap_tokens` < `max_tokens / 2`.
    pub fn validate(&self) -> Result<(), ChunkSettingsError> {
        if self.max_tokens < 16 {
            return Err(ChunkSettingsError {
                field: "max_tokens",
                message: format!("must be at least 16 (got {})", self.max_tokens),
            });
        }
        if self.overlap_tokens >= self.max_tokens / 2 {
            return Err(ChunkSettingsError {
                field: "overlap_tokens",
                message: format!(
                    "must be less than half of max_tokens ({}) (got {})",
                    self.max_tokens / 2,
                    self.overlap_tokens
                ),
            });
        }
        Ok(())
    }
}

/// A piece of a section, ready to embed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position in the whole document, from 0, in reading order.
    pub ordinal: u32,
    pub text: String,
    /// 1-based page of the section it comes from (PDF).
    pub page: Option<u32>,
    /// Character (not byte) offsets of `text` within the whole document's text
    /// ([`ParsedDocument::text`], sections joined): `text` equals
    /// `doc.text().chars().skip(char_start).take(char_end - char_start)`. Whole-document
    /// offsets let a viewer place a chunk in the text without knowing the sections.
    pub char_start: usize,
    pub char_end: usize,
    /// Index of the section in `ParsedDocument::sections`.
    pub section: u32,
    /// Model tokens in `text`, without [CLS]/[SEP].
    pub token_count: usize,
}

/// Splits documents with text-splitter, sized by the model's tokenizer. Cheap to clone.
#[derive(Clone)]
pub struct Chunker {
    tokenizer: Arc<Tokenizer>,
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker").finish_non_exhaustive()
    }
}

impl Chunker {
    /// `tokenizer` must have truncation and padding off (see [`crate::load_tokenizer`]),
    /// or counts would be capped and chunks could exceed the limit.
    pub fn new(tokenizer: Arc<Tokenizer>) -> Self {
        Self { tokenizer }
    }

    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.tokenizer
    }

    /// Chunks every section of `doc`, in order. CPU-bound (tokenizes each candidate chunk):
    /// call it off the async workers.
    ///
    /// The Markdown splitter is used when `settings.markdown` and `doc.structured`.
    pub fn chunk(&self, doc: &ParsedDocument, settings: &ChunkSettings) -> Result<Vec<Chunk>> {
        settings.validate()?;
        let config = ChunkConfig::new(settings.max_tokens)
            .with_sizer(&*self.tokenizer)
            .with_overlap(settings.overlap_tokens)
            .map_err(|e| anyhow!("invalid chunk settings: {e}"))?;
        let splitter = if settings.markdown && doc.structured {
            Splitter::Markdown(MarkdownSplitter::new(config))
        } else {
            Splitter::Text(TextSplitter::new(config))
        };

        let mut chunks = Vec::new();
        let spans = doc.section_spans();
        for (section_index, section) in doc.sections.iter().enumerate() {
            let base = spans[section_index].0;
            for piece in splitter.split(&section.text) {
                let token_count = self
                    .tokenizer
                    .encode_fast(piece.chunk, false)
                    .map_err(|e| anyhow!("cannot tokenize a chunk: {e}"))?
                    .len();
                chunks.push(Chunk {
                    ordinal: u32::try_from(chunks.len())?,
                    text: piece.chunk.to_string(),
                    page: section.page,
                    char_start: base + piece.char_offset,
                    char_end: base + piece.char_offset + piece.chunk.chars().count(),
                    section: u32::try_from(section_index)?,
                    token_count,
                });
            }
        }
        Ok(chunks)
    }
}

enum Splitter<'t> {
    Text(TextSplitter<&'t Tokenizer>),
    Markdown(MarkdownSplitter<&'t Tokenizer>),
}

impl Splitter<'_> {
    fn split<'a>(&self, text: &'a str) -> Vec<ChunkCharIndex<'a>> {
        match self {
            Splitter::Text(s) => s.chunk_char_indices(text).collect(),
            Splitter::Markdown(s) => s.chunk_char_indices(text).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let small = ChunkSettings {
            max_tokens: 8,
            ..Default::default()
        };
        assert_eq!(small.validate().unwrap_err().field, "max_tokens");
        let overlap = ChunkSettings {
            max_tokens: 100,
            overlap_tokens: 50,
            markdown: false,
        };
        let err = overlap.validate().unwrap_err();
        assert_eq!(err.field, "overlap_tokens");
        assert!(err.to_string().contains("overlap_tokens"), "{err}");
        assert!(ChunkSettings::default().validate().is_ok());
    }
}
