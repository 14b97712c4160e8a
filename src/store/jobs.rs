//! Jobs: a durable queue like the documents table. A worker claims a due job with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite) and renews it while
//! it works; every progress write is guarded by the lease, so a worker that lost its job (lease
//! ran out, job canceled) learns it at its next write and stops. A crashed worker's lease runs
//! out and another worker resumes the job, skipping the documents `job_documents` marks done.

pub use ragway_protocol::jobs::{JobKind, JobStatus};
use ragway_protocol::knowledge::ChunkingSettings;
use sqlx::{AnyConnection, FromRow};

use super::{now_ms, Db, StoreError};
use crate::config::DatabaseKind;

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
    /// The fencing token of the latest claim (see migration 0005).
    pub fence: i64,
}

const JOB_COLUMNS: &str = "id, project_id, kind, kb_id, status, target_generation, \
    target_collection, target_model, target_dim, target_max_tokens, target_overlap, \
    target_markdown, docs_total, docs_done, chunks_done, error, attempts, next_attempt_at, \
    lease_owner, lease_expires_at, retired_collection, created_at, started_at, finished_at, \
    updated_at, fence";

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
            fence: 0,
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

/// A document a job wrote into its target: at which version (`fence`, `hash`), with how
/// many points, by whom (a runner's owner, or `ingest` for an ingest worker's dual write).
#[derive(Debug, Clone, Copy)]
pub struct Mark<'a> {
    pub job: &'a str,
    pub document: &'a str,
    pub hash: &'a str,
    pub fence: i64,
    pub chunks: i64,
    pub by: &'a str,
}

/// What became of a job runner's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkOutcome {
    Marked,
    /// The job is no longer this runner's (canceled, reclaimed): stop.
    JobLost,
    /// The document's chunks are of another version now (or it is gone): the job's write is
    /// stale and was not recorded.
    DocumentMoved,
}

/// What became of a switch attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Done,
    /// The job is no longer this runner's.
    NotHeld,
    /// The knowledge base is no longer on the collection the job started from.
    Moved,
    /// A ready document is not in the target at its current version yet: catch up again.
    Behind,
}

/// Lock the row of job `id` if it is queued or running (the ingest worker's dual write is
/// recorded only then); false when it has ended.
pub(super) async fn lock_active_job(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE jobs SET updated_at = $2 WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Record `mark` and keep the job's counters exact (the caller holds the job row's lock).
pub(super) async fn record_mark(
    conn: &mut AnyConnection,
    mark: &Mark<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let previous: Option<(i64,)> =
        sqlx::query_as("SELECT chunks FROM job_documents WHERE job_id = $1 AND document_id = $2")
            .bind(mark.job)
            .bind(mark.document)
            .fetch_optional(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO job_documents (job_id, document_id, content_hash, chunks, owner, done_at, fence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_id, document_id) DO UPDATE SET \
         content_hash = excluded.content_hash, chunks = excluded.chunks, owner = excluded.owner, \
         done_at = excluded.done_at, fence = excluded.fence",
    )
    .bind(mark.job)
    .bind(mark.document)
    .bind(mark.hash)
    .bind(mark.chunks)
    .bind(mark.by)
    .bind(now)
    .bind(mark.fence)
    .execute(&mut *conn)
    .await?;
    let (docs, delta) = match previous {
        Some((before,)) => (0i64, mark.chunks - before),
        None => (1, mark.chunks),
    };
    sqlx::query(
        "UPDATE jobs SET docs_done = docs_done + $2, chunks_done = chunks_done + $3 WHERE id = $1",
    )
    .bind(mark.job)
    .bind(docs)
    .bind(delta)
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    /// Insert a new job. A second active re-index of the same knowledge base violates the
    /// unique index: `Ok(false)`.
    pub async fn insert_job(&self, job: &Job) -> Result<bool, StoreError> {
        let res = sqlx::query(&format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
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
        .bind(job.fence)
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
    /// one whose lease ran out (its worker died) after fewer than `max_attempts` claims. The
    /// claim takes the row's next fence; every later write of the job checks it.
    pub async fn claim_job(
        &self,
        owner: &str,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Option<Job>, StoreError> {
        let sql = self.claim_sql(
            "jobs",
            "running",
            ", started_at = COALESCE(started_at, $3)",
            JOB_COLUMNS,
        );
        self.retrying("claim_job", || {
            let now = now_ms();
            sqlx::query_as(&sql)
                .bind(owner)
                .bind(now + lease_ms)
                .bind(now)
                .bind(max_attempts)
                .fetch_optional(&self.pool)
        })
        .await
    }

    /// Fail the jobs whose lease ran out after `max_attempts` claims (each runner died or
    /// stalled); their half-built collections are retired, for the sweep to drop.
    pub async fn fail_abandoned_jobs(&self, max_attempts: i64) -> Result<u64, StoreError> {
        let sql = Db::abandon_sql(
            "jobs",
            "running",
            ", finished_at = $1, retired_collection = target_collection",
        );
        let error = Db::abandoned_message(max_attempts);
        let done = self
            .retrying("fail_abandoned_jobs", || {
                sqlx::query(&sql)
                    .bind(now_ms())
                    .bind(&error)
                    .bind(max_attempts)
                    .execute(&self.pool)
            })
            .await?;
        Ok(done.rows_affected())
    }

    /// Extend the lease; false when the claim (`owner`, `fence`) no longer holds the job
    /// (canceled, reclaimed).
    pub async fn renew_job_lease(
        &self,
        id: &str,
        owner: &str,
        fence: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .retrying("renew_job_lease", || {
                sqlx::query(
                    "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 \
                     AND fence = $4 AND status = 'running'",
                )
                .bind(id)
                .bind(owner)
                .bind(now_ms() + lease_ms)
                .bind(fence)
                .execute(&self.pool)
            })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Record the number of documents the job covers; false when the job is no longer ours.
    pub async fn set_job_total(
        &self,
        id: &str,
        owner: &str,
        fence: i64,
        total: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .retrying("set_job_total", || {
                sqlx::query(
                    "UPDATE jobs SET docs_total = $3, updated_at = $4 WHERE id = $1 AND lease_owner = $2 \
                     AND fence = $5 AND status = 'running'",
                )
                .bind(id)
                .bind(owner)
                .bind(total)
                .bind(now_ms())
                .bind(fence)
                .execute(&self.pool)
            })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The job runner's mark: `mark.document` is written into the target at `mark.fence`, in
    /// one transaction that checks the job's claim (`owner`, `job_fence`) and that the
    /// document's chunks are still those of `mark.fence` (otherwise the job's write is stale:
    /// `DocumentMoved`, nothing recorded). `older`: older points of the document were seen in
    /// the target; the document is flagged until they are removed.
    pub async fn mark_job_document(
        &self,
        mark: &Mark<'_>,
        owner: &str,
        job_fence: i64,
        older: bool,
    ) -> Result<MarkOutcome, StoreError> {
        self.retrying("mark_job_document", || {
            self.mark_job_document_once(mark, owner, job_fence, older)
        })
        .await
    }

    async fn mark_job_document_once(
        &self,
        mark: &Mark<'_>,
        owner: &str,
        job_fence: i64,
        older: bool,
    ) -> Result<MarkOutcome, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // The job row's lock serialises marks of one job (the counters stay exact without a
        // recount, which is O(documents) per mark) and orders them against the switch.
        let held = sqlx::query(
            "UPDATE jobs SET updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND fence = $4 \
             AND status = 'running'",
        )
        .bind(mark.job)
        .bind(owner)
        .bind(now)
        .bind(job_fence)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() == 0 {
            return Ok(MarkOutcome::JobLost);
        }
        let lock = match self.kind {
            DatabaseKind::Postgres => " FOR UPDATE",
            DatabaseKind::Sqlite => "",
        };
        let current: Option<(i64,)> = sqlx::query_as(&format!(
            "SELECT chunk_fence FROM documents WHERE id = $1 AND chunk_fence = $2{lock}"
        ))
        .bind(mark.document)
        .bind(mark.fence)
        .fetch_optional(&mut *tx)
        .await?;
        if current.is_none() {
            tx.commit().await?;
            return Ok(MarkOutcome::DocumentMoved);
        }
        if older {
            sqlx::query(
                "UPDATE documents SET stale_below = COALESCE(stale_below, $2) WHERE id = $1",
            )
            .bind(mark.document)
            .bind(mark.fence)
            .execute(&mut *tx)
            .await?;
        }
        record_mark(&mut tx, mark, now).await?;
        tx.commit().await?;
        Ok(MarkOutcome::Marked)
    }

    /// The fence at which `job` wrote `document` into its target, if it did.
    pub async fn job_mark_fence(
        &self,
        job: &str,
        document: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT fence FROM job_documents WHERE job_id = $1 AND document_id = $2",
        )
        .bind(job)
        .bind(document)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(f,)| f))
    }

    /// Ready documents of the job's knowledge base it has not written at their current
    /// version (no mark, or a mark of another fence), by id after `after` (keyset paging: a
    /// pass over the knowledge base reads each document once), at most `limit`.
    pub async fn job_pending_documents(
        &self,
        job: &Job,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<super::knowledge::Document>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {} FROM documents d LEFT JOIN job_documents m ON m.job_id = $1 AND m.document_id = d.id \
             WHERE d.project_id = $2 AND d.kb_id = $3 AND d.status = 'ready' AND d.id > $5 \
             AND (m.document_id IS NULL OR m.fence <> d.chunk_fence) ORDER BY d.id LIMIT $4",
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
        self.retrying("unmark_job_document", || async {
            let mut tx = self.begin_write().await?;
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
            tx.commit().await
        })
        .await
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
    /// collection, model and chunking), give each document the chunk count it has there, and
    /// mark the job succeeded — only if the job's claim (`owner`, `fence`) still holds it,
    /// the knowledge base is still on `old_collection`, and every ready document is in the
    /// target at its current version.
    pub async fn complete_reindex(
        &self,
        job: &Job,
        owner: &str,
        fence: i64,
        old_collection: &str,
    ) -> Result<Switch, StoreError> {
        self.retrying("complete_reindex", || {
            self.complete_reindex_once(job, owner, fence, old_collection)
        })
        .await
    }

    async fn complete_reindex_once(
        &self,
        job: &Job,
        owner: &str,
        fence: i64,
        old_collection: &str,
    ) -> Result<Switch, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'succeeded', error = NULL, lease_owner = NULL, lease_expires_at = NULL, \
             retired_collection = $4, finished_at = $3, updated_at = $3 \
             WHERE id = $1 AND lease_owner = $2 AND fence = $5 AND status = 'running'",
        )
        .bind(&job.id)
        .bind(owner)
        .bind(now)
        .bind(old_collection)
        .bind(fence)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Switch::NotHeld);
        }
        // A document that became ready at a new version after the last pass looked (its worker
        // did not write the target): not yet, catch up first.
        let behind: Option<(String,)> = sqlx::query_as(
            "SELECT d.id FROM documents d LEFT JOIN job_documents m ON m.job_id = $1 AND m.document_id = d.id \
             WHERE d.project_id = $2 AND d.kb_id = $3 AND d.status = 'ready' \
             AND (m.document_id IS NULL OR m.fence <> d.chunk_fence) LIMIT 1",
        )
        .bind(&job.id)
        .bind(&job.project_id)
        .bind(&job.kb_id)
        .fetch_optional(&mut *tx)
        .await?;
        if behind.is_some() {
            return Ok(Switch::Behind);
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
            return Ok(Switch::Moved);
        }
        // What each document has in the new generation: its mark's chunks, or none (a failed
        // or never-ready document is not carried over).
        sqlx::query(
            "UPDATE documents SET chunk_count = COALESCE((SELECT m.chunks FROM job_documents m \
             WHERE m.job_id = $1 AND m.document_id = documents.id), 0) WHERE project_id = $2 AND kb_id = $3",
        )
        .bind(&job.id)
        .bind(&job.project_id)
        .bind(&job.kb_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Switch::Done)
    }

    /// End a job this worker's claim (`owner`, `fence`) holds: failed for good, or
    /// (`retry_at`) queued again.
    pub async fn fail_job(
        &self,
        id: &str,
        owner: &str,
        fence: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let st = match retry_at {
            Some(_) => JobStatus::Queued,
            None => JobStatus::Failed,
        };
        let done = self
            .retrying("fail_job", || {
                let now = now_ms();
                sqlx::query(
                    "UPDATE jobs SET status = $3, error = $4, next_attempt_at = $5, lease_owner = NULL, lease_expires_at = NULL, \
                     updated_at = $6, finished_at = CASE WHEN $3 = 'failed' THEN $6 ELSE finished_at END, \
                     retired_collection = CASE WHEN $3 = 'failed' THEN target_collection ELSE retired_collection END \
                     WHERE id = $1 AND lease_owner = $2 AND fence = $7 AND status = 'running'",
                )
                .bind(id)
                .bind(owner)
                .bind(st.as_str())
                .bind(error)
                .bind(retry_at.unwrap_or(now))
                .bind(now)
                .bind(fence)
                .execute(&self.pool)
            })
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
