//! ragway's ingest pipeline: bytes → text → chunks → dense and sparse vectors.
//! No HTTP, no database: the server drives these from its jobs and request handlers.
//! Parsing (`parse`, `isolate`) needs no feature; chunking and embedding need `embed` (default).

#[cfg(feature = "embed")]
pub mod chunk;
#[cfg(feature = "embed")]
pub mod embed;
#[doc(hidden)]
pub mod fixtures;
pub mod hash;
#[doc(hidden)]
pub mod hostile;
#[cfg(unix)]
pub mod isolate;
pub mod parse;
#[cfg(feature = "embed")]
pub mod pipeline;
#[cfg(feature = "embed")]
pub mod runtime;
pub mod sparse;
#[cfg(feature = "embed")]
pub mod tokenizer;

#[cfg(feature = "embed")]
pub use chunk::{Chunk, ChunkSettings, ChunkSettingsError, Chunker};
#[cfg(feature = "embed")]
pub use embed::{Embedder, EmbedderConfig};
pub use hash::content_hash;
pub use parse::{
    parse, parse_limited, Format, Limit, ParseError, ParseLimits, ParseOptions, ParsedDocument,
    Section,
};
#[cfg(feature = "embed")]
pub use pipeline::{EmbeddedChunk, Pipeline};
#[cfg(feature = "embed")]
pub use runtime::init_onnxruntime;
pub use sparse::{Bm25, Bm25Config, SparseVector};
#[cfg(feature = "embed")]
pub use tokenizer::load_tokenizer;
