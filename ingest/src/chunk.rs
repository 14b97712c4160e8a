//! Splits parsed sections into chunks measured in the embedding model's own tokens.
//! Chunk size is what the model sees, so no chunk is silently truncated at embedding time.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use text_splitter::{ChunkCharIndex, ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::parse::markdown::depth_exceeds;
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
        let config = || {
            ChunkConfig::new(settings.max_tokens)
                .with_sizer(&*self.tokenizer)
                .with_overlap(settings.overlap_tokens)
                .map_err(|e| anyhow!("invalid chunk settings: {e}"))
        };
        let splitter = Splitter {
            text: TextSplitter::new(config()?),
            markdown: match settings.markdown && doc.structured {
                true => Some(MarkdownSplitter::new(config()?)),
                false => None,
            },
        };

        let mut chunks = Vec::new();
        let spans = doc.section_spans();
        for (section_index, section) in doc.sections.iter().enumerate() {
            let base = spans[section_index].0;
            for piece in split_bounded(&splitter, &section.text) {
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

/// Most bytes text-splitter is given at once. Its cost per chunk grows with the text after
/// the chunk (1 MB of one-letter words took 50 s whole, against 2 s for 1 MB of prose), so a
/// long section is cut into windows at paragraph, line or word breaks and each is split
/// alone: linear in the section's length, at the price of a forced cut per window.
const WINDOW_BYTES: usize = 32 * 1024;

/// Deepest Markdown block nesting a window may have to go to the Markdown splitter; deeper
/// windows go to the plain-text splitter. pulldown-cmark's cost grows with the square of the
/// nesting: a 256-level nested list (68 KB) took 4 s, 64 levels 6 ms. Parsing refuses far
/// deeper text (`ingest.limits.max_depth`); this bounds what is left.
const MARKDOWN_MAX_DEPTH: usize = 64;

/// Most bytes of one chunk. Tokens can be long (a run of 10 MB without a space is one
/// `[UNK]`), so the token budget alone does not bound a chunk's text.
const MAX_CHUNK_BYTES: usize = 16 * 1024;

/// A piece of a section and its char offset in the section.
struct Piece<'a> {
    chunk: &'a str,
    char_offset: usize,
}

/// Splits `text` window by window, then cuts any over-long piece, keeping char offsets
/// relative to the whole `text`.
fn split_bounded<'a>(splitter: &Splitter<'_>, text: &'a str) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    let mut window_chars = 0;
    for window in cut(text, WINDOW_BYTES) {
        for piece in splitter.split(window) {
            let mut part_chars = window_chars + piece.char_offset;
            for part in cut(piece.chunk, MAX_CHUNK_BYTES) {
                let trimmed = part.trim_start();
                let lead = part[..part.len() - trimmed.len()].chars().count();
                let trimmed = trimmed.trim_end();
                if !trimmed.is_empty() {
                    out.push(Piece {
                        chunk: trimmed,
                        char_offset: part_chars + lead,
                    });
                }
                part_chars += part.chars().count();
            }
        }
        window_chars += window.chars().count();
    }
    out
}

/// Cuts `text` into consecutive slices of at most `max` bytes that together are `text`,
/// each ending at the last paragraph break, else line break, else whitespace in its second
/// half, else at a char boundary.
fn cut(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let head = &rest[..end];
        let floor = end / 2;
        let at = [
            head.rfind("\n\n").map(|i| i + 2),
            head.rfind('\n').map(|i| i + 1),
            head.rfind(char::is_whitespace).map(|i| i + 1),
        ]
        .into_iter()
        .flatten()
        .find(|&i| i > floor && rest.is_char_boundary(i))
        .unwrap_or(end);
        parts.push(&rest[..at]);
        rest = &rest[at..];
    }
    parts.push(rest);
    parts
}

/// The plain-text splitter, and the Markdown one for structured documents.
struct Splitter<'t> {
    text: TextSplitter<&'t Tokenizer>,
    markdown: Option<MarkdownSplitter<&'t Tokenizer>>,
}

impl Splitter<'_> {
    /// Every call sees at most `WINDOW_BYTES` (see `split_bounded`).
    fn split<'a>(&self, text: &'a str) -> Vec<ChunkCharIndex<'a>> {
        match &self.markdown {
            Some(md) if !depth_exceeds(text, MARKDOWN_MAX_DEPTH) => {
                md.chunk_char_indices(text).collect()
            }
            _ => self.text.chunk_char_indices(text).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_prefers_paragraphs_then_lines_then_words() {
        let text = "aaaa\n\nbbbb\ncc dd eeeeeeeeeeeeeeeeeeee";
        let parts = cut(text, 12);
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0], "aaaa\n\nbbbb\n");
        assert!(parts.iter().all(|p| p.len() <= 12), "{parts:?}");
        // No break at all: cut at a char boundary.
        let parts = cut("ééééé", 3);
        assert_eq!(parts, ["é", "é", "é", "é", "é"]);
    }

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
