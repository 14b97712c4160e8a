//! Jobs: a durable queue like the documents table. A worker claims a due job with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite) and renews it while
//! it works; every progress write is guarded by the lease, so a worker that lost its job (lease
//! ran out, job canceled) learns it at its next write and stops. A crashed worker's lease runs
//! out and another worker resumes the job, skipping the documents `job_documents` marks done.

pub use ragway_protocol::jobs::{JobKind, JobStatus};
use ragway_protocol::knowledge::ChunkingSettings;
use sqlx::FromRow;

use super::{now_ms, Db, StoreError};

/// A job's row.
#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: String,
    pub project_id: String,
    #[sqlx(try_from = "String")]
    pub kind: JobKind,
    pub kb_id: String,
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub target_generation: Option<i64>,
    pub target_collection: Option<String>,
    pub target_model: Option<String>,
    pub target_dim: Option<i64>,
    pub target_max_tokens: Option<i64>,
    pub target_overlap: Option<i64>,
    /// 0 or 1 (see `KnowledgeBase::chunk_markdown`).
    pub target_markdown: Option<i64>,
    pub docs_total: i64,
    pub docs_done: i64,
    pub chunks_done: i64,
    pub error: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// A collection the ended job left behind, until it is dropped.
    pub retired_collection: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, project_id, kind, kb_id, status, target_generation, \
    target_collection, target_model, target_dim, target_max_tokens, target_overlap, \
    target_markdown, docs_total, docs_done, chunks_done, error, attempts, next_attempt_at, \
    lease_owner, lease_expires_at, retired_collection, created_at, started_at, finished_at, \
    updated_at";

/// A job to queue: what it does. `Job::queued` adds the status and bookkeeping.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub project_id: String,
    pub kind: JobKind,
    pub kb_id: String,
    /// What a re-index builds.
    pub target: Option<ReindexTarget>,
    /// Documents the job covers, as far as known when it is queued.
    pub docs_total: i64,
}

/// The generation a re-index builds: its collection, model and chunking.
#[derive(Debug, Clone)]
pub struct ReindexTarget {
    pub generation: i64,
    pub collection: String,
    pub model: String,
    pub dim: i64,
    pub chunking: ChunkingSettings,
}

impl NewJob {
    /// A re-index of knowledge base `kb_id` into `target`, under a fresh id.
    pub fn reindex(
        project_id: impl Into<String>,
        kb_id: impl Into<String>,
        target: ReindexTarget,
        docs_total: i64,
    ) -> NewJob {
        NewJob {
            id: format!("job_{}", uuid::Uuid::new_v4().simple()),
            project_id: project_id.into(),
            kind: JobKind::ReindexKb,
            kb_id: kb_id.into(),
            target: Some(target),
            docs_total,
        }
    }
}

impl Job {
    /// The row of `new`, queued at `now`, not yet attempted.
    pub fn queued(new: NewJob, now: i64) -> Job {
        let t = new.target.as_ref();
        Job {
            id: new.id,
            project_id: new.project_id,
            kind: new.kind,
            kb_id: new.kb_id,
            status: JobStatus::Queued,
            target_generation: t.map(|t| t.generation),
            target_collection: t.map(|t| t.collection.clone()),
            target_model: t.map(|t| t.model.clone()),
            target_dim: t.map(|t| t.dim),
            target_max_tokens: t.map(|t| t.chunking.max_tokens as i64),
            target_overlap: t.map(|t| t.chunking.overlap_tokens as i64),
            target_markdown: t.map(|t| i64::from(t.chunking.markdown)),
            docs_total: new.docs_total,
            docs_done: 0,
            chunks_done: 0,
            error: None,
            attempts: 0,
            next_attempt_at: now,
            lease_owner: None,
            lease_expires_at: None,
            retired_collection: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        }
    }

    /// The chunking a re-index builds with, when all of it is recorded.
    pub fn target_chunking(&self) -> Option<ChunkingSettings> {
        Some(ChunkingSettings {
            max_tokens: usize::try_from(self.target_max_tokens?).ok()?,
            overlap_tokens: usize::try_from(self.target_overlap?).ok()?,
            markdown: self.target_markdown? != 0,
        })
    }

    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }
}

/// Filters of `list_jobs`.
#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
    pub kb_id: Option<String>,
    /// Jobs created before this one (paging, newest first).
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

impl Db {
    /// Insert a new job. A second active re-index of the same knowledge base violates the
    /// unique index: `Ok(false)`.
    pub async fn insert_job(&self, job: &Job) -> Result<bool, StoreError> {
        let res = sqlx::query(&format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)"
        ))
        .bind(&job.id)
        .bind(&job.project_id)
        .bind(job.kind.as_str())
        .bind(&job.kb_id)
        .bind(job.status.as_str())
        .bind(job.target_generation)
        .bind(&job.target_collection)
        .bind(&job.target_model)
        .bind(job.target_dim)
        .bind(job.target_max_tokens)
        .bind(job.target_overlap)
        .bind(job.target_markdown)
        .bind(job.docs_total)
        .bind(job.docs_done)
        .bind(job.chunks_done)
        .bind(&job.error)
        .bind(job.attempts)
        .bind(job.next_attempt_at)
        .bind(&job.lease_owner)
        .bind(job.lease_expires_at)
        .bind(&job.retired_collection)
        .bind(job.created_at)
        .bind(job.started_at)
        .bind(job.finished_at)
        .bind(job.updated_at)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// A project's jobs, newest first.
    pub async fn list_jobs(&self, project: &str, f: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE project_id = $1");
        let mut n = 1;
        let mut binds: Vec<String> = Vec::new();
        for (col, val) in [
            ("status", &f.status.map(|s| s.as_str().to_owned())),
            ("kind", &f.kind.map(|k| k.as_str().to_owned())),
            ("kb_id", &f.kb_id),
        ] {
            if let Some(v) = val {
                n += 1;
                sql.push_str(&format!(" AND {col} = ${n}"));
                binds.push(v.clone());
            }
        }
        if f.before.is_some() {
            sql.push_str(&format!(
                " AND (created_at < ${} OR (created_at = ${} AND id < ${}))",
                n + 1,
                n + 1,
                n + 2
            ));
            n += 2;
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ${}",
            n + 1
        ));
        let mut q = sqlx::query_as(&sql).bind(project);
        for b in binds {
            q = q.bind(b);
        }
        if let Some((t, id)) = &f.before {
            q = q.bind(*t).bind(id.clone());
        }
        q.bind(f.limit)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// The queued or running re-index of a knowledge base, if any.
    pub async fn active_reindex(&self, project: &str, kb: &str) -> Result<Option<Job>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE project_id = $1 AND kb_id = $2 AND kind = 'reindex_kb' \
             AND status IN ('queued', 'running') LIMIT 1"
        ))
        .bind(project)
        .bind(kb)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// The highest generation any job of this knowledge base ever targeted (0 if none): a new
    /// job's target is above it and the live one, so a collection name is never reused.
    pub async fn max_target_generation(&self, project: &str, kb: &str) -> Result<i64, StoreError> {
        let (g,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(MAX(target_generation), 0) AS BIGINT) FROM jobs WHERE project_id = $1 AND kb_id = $2",
        )
        .bind(project)
        .bind(kb)
        .fetch_one(&self.pool)
        .await?;
        Ok(g)
    }

    /// Claim the next due job for `owner`: a queued one whose backoff is over, or a running
    /// one whose lease ran out (its worker died).
    pub async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<Job>, StoreError> {
        let now = now_ms();
        sqlx::query_as(&self.claim_sql(
            "jobs",
            "running",
            ", started_at = COALESCE(started_at, $3)",
            JOB_COLUMNS,
        ))
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Extend the lease; false when the job is no longer this worker's (canceled, reclaimed).
    pub async fn renew_job_lease(
        &self,
        id: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(now_ms() + lease_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Record the number of documents the job covers; false when the job is no longer ours.
    pub async fn set_job_total(
        &self,
        id: &str,
        owner: &str,
        total: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET docs_total = $3, updated_at = $4 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(total)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Mark `document` done (at `hash`, with `chunks` chunks) by the job and refresh its
    /// progress, in one transaction guarded by the lease (`owner` = None: written by the
    /// ingest worker's dual write, guarded by the job being active instead). False = not ours.
    pub async fn mark_job_document(
        &self,
        job: &str,
        owner: Option<&str>,
        document: &str,
        hash: &str,
        chunks: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let guard = match owner {
            Some(o) => sqlx::query(
                "UPDATE jobs SET updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            )
            .bind(job)
            .bind(o)
            .bind(now),
            None => sqlx::query(
                "UPDATE jobs SET updated_at = $2 WHERE id = $1 AND status IN ('queued', 'running')",
            )
            .bind(job)
            .bind(now),
        };
        if guard.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        // The guard above holds the job row's lock until commit, so marks of one job are
        // serialised and the counters below stay exact (no recount: that is O(documents) per
        // mark, quadratic over a job).
        let previous: Option<(i64,)> = sqlx::query_as(
            "SELECT chunks FROM job_documents WHERE job_id = $1 AND document_id = $2",
        )
        .bind(job)
        .bind(document)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO job_documents (job_id, document_id, content_hash, chunks, owner, done_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, document_id) DO UPDATE SET \
             content_hash = excluded.content_hash, chunks = excluded.chunks, owner = excluded.owner, \
             done_at = excluded.done_at",
        )
        .bind(job)
        .bind(document)
        .bind(hash)
        .bind(chunks)
        .bind(owner.unwrap_or("ingest"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let (docs, delta) = match previous {
            Some((before,)) => (0i64, chunks - before),
            None => (1, chunks),
        };
        sqlx::query(
            "UPDATE jobs SET docs_done = docs_done + $2, chunks_done = chunks_done + $3 WHERE id = $1",
        )
        .bind(job)
        .bind(docs)
        .bind(delta)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ready documents of the job's knowledge base it has not written at their current
    /// content (no mark, or a mark of an older version), by id after `after` (keyset paging:
    /// a pass over the knowledge base reads each document once), at most `limit`.
    pub async fn job_pending_documents(
        &self,
        job: &Job,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<super::knowledge::Document>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {} FROM documents d LEFT JOIN job_documents m ON m.job_id = $1 AND m.document_id = d.id \
             WHERE d.project_id = $2 AND d.kb_id = $3 AND d.status = 'ready' AND d.id > $5 \
             AND (m.document_id IS NULL OR m.content_hash <> d.content_hash) ORDER BY d.id LIMIT $4",
            super::knowledge::DOC_COLUMNS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(&job.id)
        .bind(&job.project_id)
        .bind(&job.kb_id)
        .bind(limit)
        .bind(after.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Documents the job marked that no longer exist (deleted during the job).
    pub async fn job_orphans(&self, job: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT m.document_id FROM job_documents m LEFT JOIN documents d ON d.id = m.document_id \
             WHERE m.job_id = $1 AND d.id IS NULL",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Forget a document the job marked (it was deleted), keeping the counters exact.
    pub async fn unmark_job_document(&self, job: &str, document: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let removed: Option<(i64,)> = sqlx::query_as(
            "DELETE FROM job_documents WHERE job_id = $1 AND document_id = $2 RETURNING chunks",
        )
        .bind(job)
        .bind(document)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((chunks,)) = removed {
            sqlx::query(
                "UPDATE jobs SET docs_done = docs_done - 1, chunks_done = chunks_done - $2 WHERE id = $1",
            )
            .bind(job)
            .bind(chunks)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Documents of the knowledge base an ingest worker claimed before `since` and still
    /// holds: such a worker did not see the job and writes only the live generation.
    pub async fn documents_claimed_before(
        &self,
        project: &str,
        kb: &str,
        since: i64,
    ) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM documents WHERE project_id = $1 AND kb_id = $2 \
             AND status = 'processing' AND updated_at < $3 AND lease_expires_at >= $4",
        )
        .bind(project)
        .bind(kb)
        .bind(since)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// How many ready documents the knowledge base has.
    pub async fn ready_document_count(&self, project: &str, kb: &str) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM documents WHERE project_id = $1 AND kb_id = $2 AND status = 'ready'",
        )
        .bind(project)
        .bind(kb)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// The switch: in one transaction, point the knowledge base at the job's generation (its
    /// collection, model and chunking), set each document's chunk count to the new one, and
    /// mark the job succeeded — only if the job is still ours and the knowledge base still on
    /// `old_collection`. False = nothing changed.
    pub async fn complete_reindex(
        &self,
        job: &Job,
        owner: &str,
        old_collection: &str,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'succeeded', error = NULL, lease_owner = NULL, lease_expires_at = NULL, \
             retired_collection = $4, finished_at = $3, updated_at = $3 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(&job.id)
        .bind(owner)
        .bind(now)
        .bind(old_collection)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let swapped = sqlx::query(
            "UPDATE knowledge_bases SET collection = $3, generation = $4, embedding_model = $5, embedding_dim = $6, \
             chunk_max_tokens = $7, chunk_overlap = $8, chunk_markdown = $9, updated_at = $10 \
             WHERE project_id = $1 AND id = $2 AND collection = $11",
        )
        .bind(&job.project_id)
        .bind(&job.kb_id)
        .bind(&job.target_collection)
        .bind(job.target_generation)
        .bind(&job.target_model)
        .bind(job.target_dim)
        .bind(job.target_max_tokens)
        .bind(job.target_overlap)
        .bind(job.target_markdown)
        .bind(now)
        .bind(old_collection)
        .execute(&mut *tx)
        .await?;
        if swapped.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE documents SET chunk_count = (SELECT m.chunks FROM job_documents m WHERE m.job_id = $1 \
             AND m.document_id = documents.id) WHERE project_id = $2 AND kb_id = $3 AND EXISTS \
             (SELECT 1 FROM job_documents m WHERE m.job_id = $1 AND m.document_id = documents.id)",
        )
        .bind(&job.id)
        .bind(&job.project_id)
        .bind(&job.kb_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// End a job this worker holds: failed for good, or (`retry_at`) queued again.
    pub async fn fail_job(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let (st, next) = match retry_at {
            Some(t) => (JobStatus::Queued, t),
            None => (JobStatus::Failed, now),
        };
        let done = sqlx::query(
            "UPDATE jobs SET status = $3, error = $4, next_attempt_at = $5, lease_owner = NULL, lease_expires_at = NULL, \
             updated_at = $6, finished_at = CASE WHEN $3 = 'failed' THEN $6 ELSE finished_at END, \
             retired_collection = CASE WHEN $3 = 'failed' THEN target_collection ELSE retired_collection END \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(st.as_str())
        .bind(error)
        .bind(next)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Cancel a queued or running job (its worker notices at its next guarded write). False
    /// when it had already ended.
    pub async fn cancel_job(&self, id: &str, reason: Option<&str>) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'canceled', error = COALESCE($2, error), lease_owner = NULL, \
             lease_expires_at = NULL, retired_collection = target_collection, finished_at = $3, updated_at = $3 \
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ended jobs that left a collection behind: (job id, project, knowledge base, collection).
    pub async fn retired_collections(
        &self,
        job: Option<&str>,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut sql = "SELECT id, project_id, kb_id, retired_collection FROM jobs \
            WHERE retired_collection IS NOT NULL AND status IN ('succeeded', 'failed', 'canceled')"
            .to_owned();
        if job.is_some() {
            sql.push_str(" AND id = $1");
        }
        let mut q = sqlx::query_as(&sql);
        if let Some(j) = job {
            q = q.bind(j);
        }
        q.fetch_all(&self.pool).await.map_err(StoreError::from)
    }

    /// Jobs by kind and status, all projects (the jobs' gauges).
    pub async fn job_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// The retired collection of `job` is gone.
    pub async fn clear_retired(&self, job: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET retired_collection = NULL WHERE id = $1")
            .bind(job)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
