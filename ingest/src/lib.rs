//! ragway's ingest pipeline: bytes → text → chunks → dense and sparse vectors.
//! No HTTP, no database: the server drives these from its jobs and request handlers.

pub mod chunk;
pub mod embed;
#[doc(hidden)]
pub mod fixtures;
pub mod hash;
#[doc(hidden)]
pub mod hostile;
#[cfg(unix)]
pub mod isolate;
pub mod parse;
pub mod pipeline;
pub mod runtime;
pub mod sparse;
pub mod tokenizer;

pub use chunk::{Chunk, ChunkSettings, ChunkSettingsError, Chunker};
pub use embed::{Embedder, EmbedderConfig};
pub use hash::content_hash;
pub use parse::{
    parse, parse_limited, Format, Limit, ParseError, ParseLimits, ParseOptions, ParsedDocument,
    Section,
};
pub use pipeline::{EmbeddedChunk, Pipeline};
pub use runtime::init_onnxruntime;
pub use sparse::{Bm25, Bm25Config, SparseVector};
pub use tokenizer::load_tokenizer;
