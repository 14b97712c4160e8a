//! Parsed document → chunks → dense and BM25 vectors, the one path every ingest takes.
//! CPU work runs on tokio's blocking pool; the async caller only awaits it.

use anyhow::{anyhow, bail, Context, Result};
use tokenizers::Tokenizer;

use crate::chunk::{Chunk, ChunkSettings, Chunker};
use crate::embed::Embedder;
use crate::parse::ParsedDocument;
use crate::sparse::{Bm25, SparseVector};

/// A chunk with its vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedChunk {
    pub chunk: Chunk,
    /// L2-normalised, `Embedder::dim()` long.
    pub dense: Vec<f32>,
    pub sparse: SparseVector,
}

/// The ingest pipeline's stages. Cheap to clone: the embedder and chunker share their state.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub embedder: Embedder,
    pub chunker: Chunker,
    pub bm25: Bm25,
}

impl Pipeline {
    /// A pipeline whose chunker counts tokens with the embedder's own tokenizer.
    pub fn new(embedder: Embedder, bm25: Bm25) -> Self {
        Self {
            chunker: Chunker::new(embedder.tokenizer()),
            embedder,
            bm25,
        }
    }

    /// Chunks `doc` and computes each chunk's dense and sparse vectors, in chunk order.
    ///
    /// With `title_prefix` and a title, `"{title}\n"` is put before each chunk's text for
    /// embedding and BM25 (not in the stored `Chunk::text`), so a chunk that never names its
    /// subject can still be found by it. The prefix takes its tokens from the chunk budget
    /// (the title is cut to a quarter of `max_tokens`), so prefix + chunk still fit the model.
    #[tracing::instrument(skip_all, fields(format = %doc.format, sections = doc.sections.len()), err)]
    pub async fn process(
        &self,
        doc: &ParsedDocument,
        settings: &ChunkSettings,
        title_prefix: bool,
    ) -> Result<Vec<EmbeddedChunk>> {
        settings.validate()?;
        // [CLS] and [SEP] take two of the model's positions.
        if settings.max_tokens + 2 > self.embedder.max_length() {
            bail!(
                "invalid chunk setting 'max_tokens': {} + 2 special tokens exceeds the model's \
                 {} tokens",
                settings.max_tokens,
                self.embedder.max_length()
            );
        }
        let chunker = self.chunker.clone();
        let bm25 = self.bm25.clone();
        let doc = doc.clone();
        let settings = settings.clone();
        let (chunks, texts, sparse) = tokio::task::spawn_blocking(move || {
            let prefix = match (&doc.title, title_prefix) {
                (Some(title), true) => {
                    // Leave the chunk at least the 16 tokens `ChunkSettings` requires.
                    let budget = (settings.max_tokens / 4).min(settings.max_tokens - 16);
                    prefix_for(chunker.tokenizer(), title, budget)?
                }
                _ => Prefix::default(),
            };
            let max_tokens = settings.max_tokens - prefix.tokens;
            let settings = ChunkSettings {
                max_tokens,
                overlap_tokens: settings.overlap_tokens.min(max_tokens / 2 - 1),
                markdown: settings.markdown,
            };
            let chunks = chunker.chunk(&doc, &settings)?;
            let texts: Vec<String> = chunks
                .iter()
                .map(|c| format!("{}{}", prefix.text, c.text))
                .collect();
            let sparse: Vec<SparseVector> = texts.iter().map(|t| bm25.encode_document(t)).collect();
            anyhow::Ok((chunks, texts, sparse))
        })
        .await
        .context("chunking task panicked")??;

        let dense = self.embedder.embed(texts).await?;
        Ok(chunks
            .into_iter()
            .zip(dense)
            .zip(sparse)
            .map(|((chunk, dense), sparse)| EmbeddedChunk {
                chunk,
                dense,
                sparse,
            })
            .collect())
    }
}

#[derive(Default)]
struct Prefix {
    text: String,
    tokens: usize,
}

/// `"{title}\n"` with the title cut to at most `max_tokens` tokens at a token boundary.
fn prefix_for(tokenizer: &Tokenizer, title: &str, max_tokens: usize) -> Result<Prefix> {
    let encoding = tokenizer
        .encode(title, false)
        .map_err(|e| anyhow!("cannot tokenize the title: {e}"))?;
    let offsets = encoding.get_offsets();
    let kept = offsets.len().min(max_tokens);
    if kept == 0 {
        return Ok(Prefix::default());
    }
    // Offsets are byte positions in `title` (tokenizers keeps them aligned to the input).
    let end = offsets[kept - 1].1;
    let title = title.get(..end).unwrap_or(title).trim_end();
    Ok(Prefix {
        text: format!("{title}\n"),
        tokens: kept,
    })
}
