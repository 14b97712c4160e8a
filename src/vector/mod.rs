//! The vector store: one small trait, two implementations — Qdrant Edge in-process (`edge`)
//! and a Qdrant server or cluster through qdrant-client (`qdrant`). Backend types stay inside
//! their adapter; the rest of ragway speaks only the types below.

use serde_json::{Map, Value};
use uuid::Uuid;

pub mod edge;
pub mod qdrant;

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
}
