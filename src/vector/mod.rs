//! The vector store: one small trait, two implementations — Qdrant Edge in-process (`edge`)
//! and a Qdrant server or cluster through qdrant-client (`qdrant`). Backend types stay inside
//! their adapter; the rest of ragway speaks only the types below.

use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

pub mod edge;
pub mod qdrant;
pub mod wait;

// The filter and the search options are the protocol's (users send them); re-exported so an
// adapter speaks one module's types.
pub use ragway_protocol::filter::{Condition, Filter, MatchValue, RangeBounds};
pub use ragway_protocol::search::{Fusion, SearchMode};

/// Name of the dense vector in every collection.
pub const DENSE: &str = "dense";
/// Name of the sparse (BM25 term weights, IDF applied by the engine) vector.
pub const SPARSE: &str = "bm25";

/// A sparse vector: term ids and their weights, ids unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

/// One stored chunk: its deterministic id, both vectors and its payload.
#[derive(Debug, Clone)]
pub struct Point {
    pub id: Uuid,
    pub dense: Vec<f32>,
    pub sparse: SparseVec,
    pub payload: Map<String, Value>,
}

/// A scored (or, from `scroll`, unscored = 0.0) point with its payload.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: Uuid,
    pub score: f32,
    pub payload: Map<String, Value>,
}

/// A query. `dense` must be set for `Dense`/`Hybrid`, `sparse` for `Sparse`/`Hybrid`.
#[derive(Debug, Clone)]
pub struct Query {
    pub mode: SearchMode,
    pub dense: Option<Vec<f32>>,
    pub sparse: Option<SparseVec>,
    /// Hits returned.
    pub limit: usize,
    /// Hits each leg fetches before fusion (hybrid only); at least `limit`.
    pub candidates: usize,
    pub fusion: Fusion,
    pub filter: Option<Filter>,
    /// Drop hits scoring below this (applied to the final, possibly fused, score).
    pub score_threshold: Option<f32>,
}

/// How new collections are laid out. A Qdrant server honours every field; Qdrant Edge (one
/// shard in this process) only the placement ones (`on_disk_*`, `quantization`), and the
/// configuration refuses the others there. Existing collections keep the settings they were
/// created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionSettings {
    /// Shards a collection is split into (spread over the cluster's nodes).
    pub shard_number: u32,
    /// Copies of each shard.
    pub replication_factor: u32,
    /// Replicas that must apply a write before it is acknowledged; at most
    /// `replication_factor`.
    pub write_consistency_factor: u32,
    /// Keep the dense vectors on disk (memory-mapped) instead of in RAM.
    pub on_disk_vectors: bool,
    /// Keep payloads (the chunk text and metadata) on disk instead of in RAM.
    pub on_disk_payload: bool,
    /// Keep the HNSW graph and the sparse index on disk (memory-mapped, read on demand).
    pub on_disk_index: bool,
    /// Keep an int8 copy of the dense vectors in RAM and search it instead of the originals.
    pub quantization: crate::config::Quantization,
}

impl From<&crate::config::VectorStoreConfig> for CollectionSettings {
    /// How new collections are laid out, from the `vector_store.*` keys.
    fn from(c: &crate::config::VectorStoreConfig) -> Self {
        CollectionSettings {
            shard_number: c.shard_number,
            replication_factor: c.replication_factor,
            write_consistency_factor: c.write_consistency_factor,
            on_disk_vectors: c.on_disk_vectors,
            on_disk_payload: c.on_disk_payload,
            on_disk_index: c.on_disk_index,
            quantization: c.quantization,
        }
    }
}

impl Default for CollectionSettings {
    /// The configuration's defaults (`VectorStoreConfig::default`): one node.
    fn default() -> Self {
        CollectionSettings::from(&crate::config::VectorStoreConfig::default())
    }
}

/// How a payload field is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexKind {
    Keyword,
    Integer,
    /// Any other kind (made by hand, not by ragway).
    Other,
}

/// Payload fields every collection indexes, and how: tenancy (`kb_id`), a document's chunks
/// (`document_id`, `external_id`), neighbours (`ordinal`).
pub const PAYLOAD_INDEXES: [(&str, IndexKind); 4] = [
    ("kb_id", IndexKind::Keyword),
    ("document_id", IndexKind::Keyword),
    ("external_id", IndexKind::Keyword),
    ("ordinal", IndexKind::Integer),
];

/// Collection names become directory names (Edge) and URL path segments (a server): keep them
/// to a safe, portable alphabet, the same for both backends.
pub fn validate_collection_name(name: &str) -> VectorResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(VectorError::Invalid(format!(
            "invalid collection name {name:?}: use 1-128 of [A-Za-z0-9_.-], not starting with '.'"
        )))
    }
}

/// Errors classed so callers know what to retry.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The store could not be reached or is overloaded: retry with backoff.
    #[error("vector store unavailable: {0}")]
    Unavailable(String),
    /// The collection does not exist.
    #[error("collection not found: {0}")]
    CollectionNotFound(String),
    /// The request itself is wrong (dimension mismatch, bad filter): retrying will not help.
    #[error("invalid vector store request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl VectorError {
    pub fn is_transient(&self) -> bool {
        matches!(self, VectorError::Unavailable(_))
    }
}

pub type VectorResult<T> = Result<T, VectorError>;

/// The contract both backends implement. Every call is safe to retry: upserts overwrite by id,
/// deletes of missing things succeed.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync + 'static {
    /// Which backend this is ("qdrant-edge" or "qdrant"), for /readyz and logs.
    fn backend(&self) -> &'static str;
    /// Is the store reachable and working?
    async fn health(&self) -> VectorResult<()>;
    /// Create the collection (dense `dim`-dimensional cosine vector + IDF sparse vector, and
    /// keyword/integer payload indexes on `kb_id`, `document_id`, `ordinal`) if it is missing.
    /// Existing with another dimension → `Invalid`.
    async fn ensure_collection(&self, name: &str, dim: usize) -> VectorResult<()>;
    async fn collection_exists(&self, name: &str) -> VectorResult<bool>;
    /// Drop the collection and its data; missing is fine.
    async fn delete_collection(&self, name: &str) -> VectorResult<()>;
    /// Insert or overwrite points by id; durable when it returns.
    async fn upsert(&self, collection: &str, points: Vec<Point>) -> VectorResult<()>;
    async fn delete_points(&self, collection: &str, ids: &[Uuid]) -> VectorResult<()>;
    async fn delete_by_filter(&self, collection: &str, filter: &Filter) -> VectorResult<()>;
    async fn count(&self, collection: &str, filter: Option<&Filter>) -> VectorResult<u64>;
    /// The collection's indexed payload fields and how each is indexed, sorted by field.
    async fn payload_indexes(&self, collection: &str) -> VectorResult<Vec<(String, IndexKind)>>;
    /// Points matching `filter` (unscored, score 0.0), ordered by id, at most `limit`.
    async fn scroll(
        &self,
        collection: &str,
        filter: &Filter,
        limit: usize,
    ) -> VectorResult<Vec<Hit>>;
    /// Scored hits, best first.
    async fn query(&self, collection: &str, query: &Query) -> VectorResult<Vec<Hit>>;
    /// Build search indexes after bulk writes (slow; never per request). A Qdrant server does
    /// this by itself, so the default does nothing.
    async fn optimize(&self, _collection: &str) -> VectorResult<()> {
        Ok(())
    }
    /// Optimise the collections written since their last optimisation (and each once after
    /// start-up), as far as the engine finds it worth it; how many were optimised. A Qdrant
    /// server does this by itself, so the default does nothing.
    async fn optimize_written(&self) -> VectorResult<usize> {
        Ok(0)
    }
}

/// Run `optimize_written` every `every` until aborted, logging what it did: without it, an
/// embedded collection filled by uploads would be searched by brute force forever.
pub fn spawn_optimizer(
    vectors: Arc<dyn VectorStore>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let started = std::time::Instant::now();
            match vectors.optimize_written().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    collections = n,
                    ms = started.elapsed().as_millis() as u64,
                    "optimised collections (search indexes built, small segments merged)"
                ),
                Err(err) => {
                    tracing::warn!(error = %err, "optimising collections failed; retried later")
                }
            }
        }
    })
}
