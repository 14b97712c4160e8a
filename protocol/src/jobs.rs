//! Background jobs as the API shows them: kinds, statuses and the job view.

use serde::Serialize;

use crate::knowledge::ChunkingView;
use crate::words::word_enum;

word_enum! {
    /// What a job does.
    pub enum JobKind("kind") {
        /// Rebuild a knowledge base into a new generation, then switch to it.
        ReindexKb = "reindex_kb",
        IngestBatch = "ingest_batch",
        DeleteKb = "delete_kb",
    }
}

word_enum! {
    /// Where a job is: `queued → running → succeeded | failed | canceled` (a transient failure
    /// puts a running job back to `queued`).
    pub enum JobStatus("status") {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
    }
}

impl JobStatus {
    /// Queued or running: it may still change something.
    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// A job, as listed and shown.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Always `job`.
    pub object: &'static str,
    pub id: String,
    pub kind: JobKind,
    pub kb_id: String,
    pub status: JobStatus,
    /// The generation a re-index builds.
    pub target_generation: Option<i64>,
    pub target_model: Option<String>,
    /// The chunking a re-index builds with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_chunking: Option<ChunkingView>,
    pub docs_total: i64,
    pub docs_done: i64,
    pub chunks_done: i64,
    pub progress: JobProgress,
    pub error: Option<String>,
    pub attempts: i64,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

/// How far a job got.
#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    pub documents_done: i64,
    pub documents_total: i64,
    pub chunks: i64,
    /// Documents done over total, 0..=1 (1 for a succeeded job with no documents).
    pub fraction: f64,
}
