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
}

impl KnowledgeBase {
    /// The vector collection of generation `generation` of the knowledge base `uid`.
    pub fn collection_name(uid: &str, generation: i64) -> String {
        format!("kb_{uid}_g{generation}")
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
    lease_owner, lease_expires_at, created_at, updated_at, processed_at";

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
        sqlx::query(&format!(
            "INSERT INTO knowledge_bases ({KB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
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
        let done = sqlx::query("DELETE FROM knowledge_bases WHERE project_id = $1 AND id = $2")
            .bind(project)
            .bind(id)
            .execute(&self.pool)
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
        let done = sqlx::query("DELETE FROM documents WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
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
    /// backoff is over, and processing ones whose lease ran out (their worker died).
    pub async fn claim_document(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<Document>, StoreError> {
        let now = now_ms();
        sqlx::query_as(&self.claim_sql("documents", "processing", "", DOC_COLUMNS))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// Mark a claimed document ready. False when the claim was lost (deleted, re-queued by a
    /// newer upload, or reclaimed): the caller must then not count its work as current.
    pub async fn finish_document(
        &self,
        id: &str,
        owner: &str,
        hash: &str,
        chunks: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE documents SET status = 'ready', error = NULL, chunk_count = $4, lease_owner = NULL, \
             lease_expires_at = NULL, processed_at = $5, updated_at = $5 \
             WHERE id = $1 AND lease_owner = $2 AND content_hash = $3 AND status = 'processing'",
        )
        .bind(id)
        .bind(owner)
        .bind(hash)
        .bind(chunks)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Record a failure: `retry_at` = Some(t) queues it again at t (transient), None fails it.
    pub async fn fail_document(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let (status, next) = match retry_at {
            Some(t) => (DocumentStatus::Queued, t),
            None => (DocumentStatus::Failed, now),
        };
        let done = sqlx::query(
            "UPDATE documents SET status = $3, error = $4, next_attempt_at = $5, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $6, processed_at = CASE WHEN $3 = 'failed' THEN $6 ELSE processed_at END \
             WHERE id = $1 AND lease_owner = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(owner)
        .bind(status.as_str())
        .bind(error)
        .bind(next)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Queue a failed document again, its attempts and error reset, and return it as queued;
    /// None when it is not failed (a concurrent retry or upload got there first, or it never
    /// failed).
    pub async fn retry_document(&self, id: &str) -> Result<Option<Document>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "UPDATE documents SET status = 'queued', error = NULL, attempts = 0, next_attempt_at = $2, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'failed' \
             RETURNING {DOC_COLUMNS}"
        ))
        .bind(id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
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

    /// Extend a lease while long work goes on.
    pub async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE documents SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'processing'")
            .bind(id)
            .bind(owner)
            .bind(now_ms() + lease_ms)
            .execute(&self.pool)
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
