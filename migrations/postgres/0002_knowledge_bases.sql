-- Knowledge bases (each with its embedding model, chunking settings and live collection),
-- documents with their ingest status, and the raw bytes they were made from (kept for retries
-- and re-indexing; replicas share no disk, so the bytes live in the database).
CREATE TABLE knowledge_bases (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    uid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    embedding_dim INTEGER NOT NULL,
    chunk_max_tokens INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL,
    chunk_markdown INTEGER NOT NULL,
    collection TEXT NOT NULL,
    generation INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    kb_id TEXT NOT NULL,
    external_id TEXT,
    title TEXT,
    file_name TEXT,
    content_type TEXT,
    metadata TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    chunk_count INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    processed_at BIGINT,
    FOREIGN KEY (project_id, kb_id) REFERENCES knowledge_bases(project_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX documents_external ON documents(project_id, kb_id, external_id);
CREATE INDEX documents_kb_status ON documents(project_id, kb_id, status);
CREATE INDEX documents_queue ON documents(status, next_attempt_at);

CREATE TABLE document_sources (
    document_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    content BYTEA NOT NULL
);
