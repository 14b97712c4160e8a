-- Background jobs (re-indexing a knowledge base into a new generation, …), a durable queue
-- like documents: claimed with a lease, reclaimed when the lease runs out. job_documents marks
-- each document a job has written into its target collection, so a resumed job skips them.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    kb_id TEXT NOT NULL,
    status TEXT NOT NULL,
    target_generation INTEGER,
    target_collection TEXT,
    target_model TEXT,
    target_dim INTEGER,
    target_max_tokens INTEGER,
    target_overlap INTEGER,
    target_markdown INTEGER,
    docs_total INTEGER NOT NULL,
    docs_done INTEGER NOT NULL,
    chunks_done INTEGER NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    -- A collection this job leaves behind (the old generation after a switch, the half-built
    -- one after a cancel or failure), dropped by whichever runner gets to it first.
    retired_collection TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_queue ON jobs(status, next_attempt_at);
CREATE INDEX jobs_kb ON jobs(project_id, kb_id, created_at);
CREATE INDEX jobs_retired ON jobs(retired_collection);
-- At most one re-index of a knowledge base queued or running at a time.
CREATE UNIQUE INDEX jobs_one_active_reindex ON jobs(project_id, kb_id)
    WHERE kind = 'reindex_kb' AND status IN ('queued', 'running');

-- A re-index pages through a knowledge base's ready documents by id.
CREATE INDEX documents_kb_status_id ON documents(project_id, kb_id, status, id);

CREATE TABLE job_documents (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    owner TEXT NOT NULL,
    done_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, document_id)
);
