-- Fencing tokens (issue 10) and poison pills (issue 17). Every claim of a document or job
-- takes the row's next fence (strictly increasing, never below the claim time in ms, so a
-- document deleted and created again under the same id never reuses one). A worker writes a
-- document's points tagged with its fence and flips the row to them only while the fence is
-- still the row's; `chunk_fence` is the fence of the points that are the document's now.
-- `stale_below`: set while older points of the document may still be in a collection (a
-- worker flipped and had not removed them yet); the ingest worker sweeps such rows.
ALTER TABLE documents ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN chunk_fence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN stale_below BIGINT;
CREATE INDEX documents_stale ON documents(stale_below) WHERE stale_below IS NOT NULL;
ALTER TABLE jobs ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
-- The fence of the document version a job wrote into its target.
ALTER TABLE job_documents ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
