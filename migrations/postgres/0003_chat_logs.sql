-- One row per chat completion that named a chat id: what was asked, retrieved and answered,
-- with per-stage timings. JSON columns are TEXT (sqlx Any maps no JSON type).
CREATE TABLE chat_logs (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT,
    model TEXT NOT NULL,
    search_query TEXT,
    retrieved TEXT NOT NULL,
    timings TEXT NOT NULL,
    usage TEXT,
    outcome TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_logs_chat ON chat_logs(project_id, chat_id, created_at);
