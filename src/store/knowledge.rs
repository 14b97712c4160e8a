//! Knowledge bases, documents and the ingest queue. A document row is also its queue entry:
//! `queued` rows are claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
//! writer on SQLite), so several workers never take the same one and a crashed worker's lease
//! runs out and is reclaimed.

pub use ragway_protocol::documents::{DocumentStatus, PutOutcome};
use sqlx::{AnyConnection, FromRow};

use super::{decode, now_ms, Db, StoreError};
use crate::config::DatabaseKind;

/// A knowledge base's row.
#[derive(Debug, Clone, FromRow)]
pub struct KnowledgeBase {
    pub project_id: String,
    pub id: String,
    /// Internal, never reused: names the vector collections.
    pub uid: String,
    pub name: String,
    pub description: String,
    pub embedding_model: String,
    pub embedding_dim: i64,
    pub chunk_max_tokens: i64,
    pub chunk_overlap: i64,
    /// 0 or 1: sqlx's `Any` driver maps no boolean type for SQLite.
    pub chunk_markdown: i64,
    /// The live generation's collection.
    pub collection: String,
    pub generation: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const KB_COLUMNS: &str = "project_id, id, uid, name, description, embedding_model, embedding_dim, \
    chunk_max_tokens, chunk_overlap, chunk_markdown, collection, generation, created_at, updated_at";

/// A document's row (its bytes are in `document_sources`).
#[derive(Debug, Clone, FromRow)]
pub struct Document {
    pub id: String,
    pub project_id: String,
    pub kb_id: String,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// JSON object, as text.
    pub metadata: String,
    pub content_hash: String,
    pub size_bytes: i64,
    #[sqlx(try_from = "String")]
    pub status: DocumentStatus,
    pub error: Option<String>,
    pub chunk_count: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub processed_at: Option<i64>,
    /// The fencing token of the latest claim (see migration 0005).
    pub fence: i64,
    /// The fence of the claim whose points are the document's chunks now.
    pub chunk_fence: i64,
    /// Set while older points of the document may be left in a collection.
    pub stale_below: Option<i64>,
}

impl KnowledgeBase {
    /// The vector collection of generation `generation` of the knowledge base `uid`.
    pub fn collection_name(uid: &str, generation: i64) -> String {
        format!("kb_{uid}_g{generation}")
    }

    /// The collection re-index job `job` builds generation `generation` in: named after the
    /// job too, so no two jobs ever share one.
    pub fn job_collection_name(uid: &str, generation: i64, job: &str) -> String {
        let job = job.strip_prefix("job_").unwrap_or(job);
        format!("kb_{uid}_g{generation}_{}", &job[..job.len().min(12)])
    }

    pub fn markdown(&self) -> bool {
        self.chunk_markdown != 0
    }
}

impl Document {
    pub fn metadata_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.metadata).unwrap_or_else(|_| serde_json::json!({}))
    }
}

pub(crate) const DOC_COLUMNS: &str =
    "id, project_id, kb_id, external_id, title, file_name, content_type, \
    metadata, content_hash, size_bytes, status, error, chunk_count, attempts, next_attempt_at, \
    lease_owner, lease_expires_at, created_at, updated_at, processed_at, fence, chunk_fence, stale_below";

/// What a worker's claim of a document wrote, for `Db::finish_document`.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub fence: i64,
    pub hash: &'a str,
    /// The knowledge base's live collection when the worker read it, and the chunks it wrote
    /// there.
    pub live: (&'a str, i64),
    /// The re-index job whose target the worker wrote too: job id, collection, chunks.
    pub target: Option<(&'a str, &'a str, i64)>,
    /// Older points of the document were seen: flag the row until they are removed.
    pub stale: bool,
}

/// A document to store: its row fields and the bytes it is made from.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub id: String,
    pub project_id: String,
    pub kb_id: String,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub metadata: String,
    pub content_hash: String,
    pub content: Vec<u8>,
}

impl Db {
    pub async fn insert_kb(&self, kb: &KnowledgeBase) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO knowledge_bases ({KB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        self.retrying("insert_kb", || {
            sqlx::query(&sql)
                .bind(&kb.project_id)
                .bind(&kb.id)
                .bind(&kb.uid)
                .bind(&kb.name)
                .bind(&kb.description)
                .bind(&kb.embedding_model)
                .bind(kb.embedding_dim)
                .bind(kb.chunk_max_tokens)
                .bind(kb.chunk_overlap)
                .bind(kb.chunk_markdown)
                .bind(&kb.collection)
                .bind(kb.generation)
                .bind(kb.created_at)
                .bind(kb.updated_at)
                .execute(&self.pool)
        })
        .await?;
        Ok(())
    }

    pub async fn get_kb(
        &self,
        project: &str,
        id: &str,
    ) -> Result<Option<KnowledgeBase>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {KB_COLUMNS} FROM knowledge_bases WHERE project_id = $1 AND id = $2"
        ))
        .bind(project)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    pub async fn list_kbs(&self, project: &str) -> Result<Vec<KnowledgeBase>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {KB_COLUMNS} FROM knowledge_bases WHERE project_id = $1 ORDER BY id"
        ))
        .bind(project)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Change a knowledge base's name and description.
    pub async fn update_kb_info(
        &self,
        project: &str,
        id: &str,
        name: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE knowledge_bases SET name = $3, description = $4, updated_at = $5 WHERE project_id = $1 AND id = $2")
            .bind(project)
            .bind(id)
            .bind(name)
            .bind(description)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_kb(&self, project: &str, id: &str) -> Result<bool, StoreError> {
        let done = self
            .retrying("delete_kb", || {
                sqlx::query("DELETE FROM knowledge_bases WHERE project_id = $1 AND id = $2")
                    .bind(project)
                    .bind(id)
                    .execute(&self.pool)
            })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A knowledge base's documents by status: (status, documents, chunks).
    pub async fn kb_document_counts(
        &self,
        project: &str,
        kb: &str,
    ) -> Result<Vec<(DocumentStatus, i64, i64)>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*), CAST(COALESCE(SUM(chunk_count), 0) AS BIGINT) FROM documents \
             WHERE project_id = $1 AND kb_id = $2 GROUP BY status ORDER BY status",
        )
        .bind(project)
        .bind(kb)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(s, n, c)| Ok((decode(s)?, n, c)))
            .collect()
    }

    /// Documents by status, all projects (the ingest queue's gauges).
    pub async fn document_status_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as("SELECT status, COUNT(*) FROM documents GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// Insert a document, or replace the one with the same external id. Unchanged content
    /// (and title and metadata) of a document that did not fail is left alone. Concurrent
    /// calls for one external id queue on the row (the insert does nothing when it exists, and
    /// the existing row is then locked), so all of them succeed and one document remains.
    pub async fn put_document(
        &self,
        doc: &NewDocument,
    ) -> Result<(Document, PutOutcome), StoreError> {
        self.retrying("put_document", || self.put_document_once(doc))
            .await
    }

    async fn put_document_once(
        &self,
        doc: &NewDocument,
    ) -> Result<(Document, PutOutcome), sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // A row that conflicts may be deleted before it is read; then insert again.
        let mut tries = 0;
        let (id, outcome) = loop {
            tries += 1;
            if insert_document(&mut tx, doc, now).await? {
                break (doc.id.clone(), PutOutcome::Created);
            }
            let Some(old) = self.existing_document(&mut tx, doc).await? else {
                if tries < 3 {
                    continue;
                }
                return Err(sqlx::Error::RowNotFound);
            };
            let unchanged = old.content_hash == doc.content_hash
                && old.title == doc.title
                && old.metadata == doc.metadata
                && old.status != DocumentStatus::Failed;
            if unchanged {
                break (old.id, PutOutcome::Unchanged);
            }
            replace_document(&mut tx, &old.id, doc, now).await?;
            break (old.id, PutOutcome::Replaced);
        };
        let stored: Document = sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE id = $1"
        ))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((stored, outcome))
    }

    /// The stored document `doc` collides with (same external id), locked until the
    /// transaction ends on PostgreSQL (SQLite's write transaction holds the whole file).
    async fn existing_document(
        &self,
        conn: &mut AnyConnection,
        doc: &NewDocument,
    ) -> Result<Option<Document>, sqlx::Error> {
        let lock = match self.kind {
            DatabaseKind::Postgres => " FOR UPDATE",
            DatabaseKind::Sqlite => "",
        };
        sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE (project_id = $1 AND kb_id = $2 AND external_id = $3) \
             OR id = $4{lock}"
        ))
        .bind(&doc.project_id)
        .bind(&doc.kb_id)
        .bind(&doc.external_id)
        .bind(&doc.id)
        .fetch_optional(conn)
        .await
    }

    /// A document of `kb` in `project`, by id or by external id.
    pub async fn get_document(
        &self,
        project: &str,
        kb: &str,
        id_or_external: &str,
    ) -> Result<Option<Document>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE project_id = $1 AND kb_id = $2 AND (id = $3 OR external_id = $3) \
             ORDER BY CASE WHEN id = $3 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(project)
        .bind(kb)
        .bind(id_or_external)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    pub async fn document_by_id(&self, id: &str) -> Result<Option<Document>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// A page of a knowledge base's documents, oldest first, optionally of one status.
    pub async fn list_documents(
        &self,
        project: &str,
        kb: &str,
        status: Option<DocumentStatus>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Document>, StoreError> {
        let mut sql =
            format!("SELECT {DOC_COLUMNS} FROM documents WHERE project_id = $1 AND kb_id = $2");
        let mut n = 2;
        if status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
        }
        if after.is_some() {
            n += 1;
            sql.push_str(&format!(" AND id > ${n}"));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", n + 1));
        let mut q = sqlx::query_as(&sql).bind(project).bind(kb);
        if let Some(s) = status {
            q = q.bind(s.as_str());
        }
        if let Some(a) = after {
            q = q.bind(a);
        }
        q.bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    pub async fn delete_document(&self, id: &str) -> Result<bool, StoreError> {
        let done = self
            .retrying("delete_document", || {
                sqlx::query("DELETE FROM documents WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
            })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn document_source(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT content FROM document_sources WHERE document_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(c,)| c))
    }

    /// Claim the next due document for `owner` until `now + lease_ms`: queued ones whose
    /// backoff is over, and processing ones whose lease ran out (their worker died) after
    /// fewer than `max_attempts` claims. The claim takes the row's next fence.
    pub async fn claim_document(
        &self,
        owner: &str,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Option<Document>, StoreError> {
        let sql = self.claim_sql("documents", "processing", "", DOC_COLUMNS);
        self.retrying("claim_document", || {
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

    /// Fail the documents whose lease ran out after `max_attempts` claims (every worker that
    /// took them died or stalled: a poison pill); returns them, as failed.
    pub async fn fail_abandoned_documents(
        &self,
        max_attempts: i64,
    ) -> Result<Vec<Document>, StoreError> {
        let sql = format!(
            "{} RETURNING {DOC_COLUMNS}",
            Db::abandon_sql("documents", "processing", ", processed_at = $1")
        );
        let error = Db::abandoned_message(max_attempts);
        self.retrying("fail_abandoned_documents", || {
            sqlx::query_as(&sql)
                .bind(now_ms())
                .bind(&error)
                .bind(max_attempts)
                .fetch_all(&self.pool)
        })
        .await
    }

    /// Does the claim with `fence` still hold the document? (Checked before writing points,
    /// so a stalled worker that lost it writes nothing that must be taken back.)
    pub async fn holds_document(
        &self,
        id: &str,
        owner: &str,
        fence: i64,
    ) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM documents WHERE id = $1 AND lease_owner = $2 AND fence = $3 AND status = 'processing'",
        )
        .bind(id)
        .bind(owner)
        .bind(fence)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The flip: mark a claimed document ready with the points its claim wrote, in one
    /// transaction that checks the fence (a stale claim changes nothing: false) and that the
    /// knowledge base still serves a collection the claim wrote; the chunk count is that of
    /// the collection it serves. With a re-index target, the job's mark of the document is
    /// recorded in the same transaction while the job is active.
    pub async fn finish_document(&self, f: &Finish<'_>) -> Result<bool, StoreError> {
        self.retrying("finish_document", || self.finish_document_once(f))
            .await
    }

    async fn finish_document_once(&self, f: &Finish<'_>) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // The job row first: the switch takes it first too, so the two are ordered (and the
        // knowledge base read below sees a switch that came first).
        let job_active = match f.target {
            Some((job, _, _)) => super::jobs::lock_active_job(&mut tx, job, now).await?,
            None => false,
        };
        let (target, target_chunks) = f.target.map_or(("", 0), |(_, c, n)| (c, n));
        let live_kb = "(SELECT k.collection FROM knowledge_bases k \
             WHERE k.project_id = documents.project_id AND k.id = documents.kb_id)";
        let done = sqlx::query(&format!(
            "UPDATE documents SET status = 'ready', error = NULL, \
             chunk_count = CASE WHEN {live_kb} = $5 THEN $6 ELSE $4 END, chunk_fence = $3, \
             stale_below = $8, lease_owner = NULL, lease_expires_at = NULL, processed_at = $9, \
             updated_at = $9 \
             WHERE id = $1 AND lease_owner = $2 AND fence = $3 AND status = 'processing' \
             AND {live_kb} IN ($7, $5)"
        ))
        .bind(f.id)
        .bind(f.owner)
        .bind(f.fence)
        .bind(f.live.1)
        .bind(target)
        .bind(target_chunks)
        .bind(f.live.0)
        .bind(f.stale.then_some(f.fence))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let (true, Some((job, _, n))) = (job_active, f.target) {
            let mark = super::jobs::Mark {
                job,
                document: f.id,
                hash: f.hash,
                fence: f.fence,
                chunks: n,
                by: "ingest",
            };
            super::jobs::record_mark(&mut tx, &mark, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Record a failure: `retry_at` = Some(t) queues it again at t (transient), None fails it.
    /// False when the claim (`owner`, `fence`) no longer holds the document.
    pub async fn fail_document(
        &self,
        id: &str,
        owner: &str,
        fence: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let (status, next) = match retry_at {
            Some(t) => (DocumentStatus::Queued, Some(t)),
            None => (DocumentStatus::Failed, None),
        };
        let done = self
            .retrying("fail_document", || {
                let now = now_ms();
                sqlx::query(
                    "UPDATE documents SET status = $3, error = $4, next_attempt_at = $5, lease_owner = NULL, \
                     lease_expires_at = NULL, updated_at = $6, processed_at = CASE WHEN $3 = 'failed' THEN $6 ELSE processed_at END \
                     WHERE id = $1 AND lease_owner = $2 AND fence = $7 AND status = 'processing'",
                )
                .bind(id)
                .bind(owner)
                .bind(status.as_str())
                .bind(error)
                .bind(next.unwrap_or(now))
                .bind(now)
                .bind(fence)
                .execute(&self.pool)
            })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The older points of a document are gone: clear its flag, unless it was set again
    /// (by another writer, with another value) meanwhile.
    pub async fn clear_stale(&self, id: &str, value: i64) -> Result<(), StoreError> {
        self.retrying("clear_stale", || {
            sqlx::query(
                "UPDATE documents SET stale_below = NULL WHERE id = $1 AND stale_below = $2",
            )
            .bind(id)
            .bind(value)
            .execute(&self.pool)
        })
        .await?;
        Ok(())
    }

    /// Documents that may have older points left in a collection (a worker flipped and did
    /// not remove them: it died, or the vector store failed), at most `limit`.
    pub async fn stale_documents(&self, limit: i64) -> Result<Vec<Document>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE stale_below IS NOT NULL ORDER BY id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Queue a failed document again, its attempts and error reset, and return it as queued;
    /// None when it is not failed (a concurrent retry or upload got there first, or it never
    /// failed).
    pub async fn retry_document(&self, id: &str) -> Result<Option<Document>, StoreError> {
        let sql = format!(
            "UPDATE documents SET status = 'queued', error = NULL, attempts = 0, next_attempt_at = $2, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'failed' \
             RETURNING {DOC_COLUMNS}"
        );
        self.retrying("retry_document", || {
            sqlx::query_as(&sql)
                .bind(id)
                .bind(now_ms())
                .fetch_optional(&self.pool)
        })
        .await
    }

    /// Document counts and chunk sums by knowledge base and status, for a whole project.
    pub async fn project_document_counts(
        &self,
        project: &str,
    ) -> Result<Vec<(String, DocumentStatus, i64, i64)>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT kb_id, status, COUNT(*), CAST(COALESCE(SUM(chunk_count), 0) AS BIGINT) FROM documents \
             WHERE project_id = $1 GROUP BY kb_id, status ORDER BY kb_id, status",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(kb, s, n, c)| Ok((kb, decode(s)?, n, c)))
            .collect()
    }

    /// Extend a lease while long work goes on; false when the claim (`owner`, `fence`) no
    /// longer holds the document.
    pub async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        fence: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .retrying("renew_lease", || {
                sqlx::query(
                    "UPDATE documents SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 \
                     AND fence = $4 AND status = 'processing'",
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
}

/// Give document `id` the new content and queue it again.
async fn replace_document(
    conn: &mut AnyConnection,
    id: &str,
    doc: &NewDocument,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE documents SET title = $2, file_name = $3, content_type = $4, metadata = $5, \
         content_hash = $6, size_bytes = $7, status = 'queued', error = NULL, attempts = 0, \
         next_attempt_at = $8, lease_owner = NULL, lease_expires_at = NULL, updated_at = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(&doc.title)
    .bind(&doc.file_name)
    .bind(&doc.content_type)
    .bind(&doc.metadata)
    .bind(&doc.content_hash)
    .bind(doc.content.len() as i64)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE document_sources SET content = $2 WHERE document_id = $1")
        .bind(id)
        .bind(&doc.content)
        .execute(conn)
        .await?;
    Ok(())
}

/// A new queued document and its bytes, unless a document with its id or external id exists
/// (false then: nothing was written).
async fn insert_document(
    conn: &mut AnyConnection,
    doc: &NewDocument,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO documents (id, project_id, kb_id, external_id, title, file_name, content_type, \
         metadata, content_hash, size_bytes, status, error, chunk_count, attempts, next_attempt_at, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', NULL, 0, 0, $11, $11, $11) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&doc.id)
    .bind(&doc.project_id)
    .bind(&doc.kb_id)
    .bind(&doc.external_id)
    .bind(&doc.title)
    .bind(&doc.file_name)
    .bind(&doc.content_type)
    .bind(&doc.metadata)
    .bind(&doc.content_hash)
    .bind(doc.content.len() as i64)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO document_sources (document_id, content) VALUES ($1, $2)")
        .bind(&doc.id)
        .bind(&doc.content)
        .execute(conn)
        .await?;
    Ok(true)
}
