// One knowledge base: its settings (edit, delete with confirmation), drag-and-drop upload of
// many files with progress per file, and a live document table (filter, pages, retry, delete).
import { useRef, useState } from "preact/hooks";
import { api, enc, uploadFile } from "../api";
import { href, navigate } from "../router";
import { Confirm, ErrorBox, Field, PageTitle, Progress, Status, fmtBytes, fmtTime, useResource } from "../ui";
import { DocCounts, type Kb } from "./KnowledgeBases";

export interface Doc {
  id: string;
  kb_id: string;
  external_id: string | null;
  title: string | null;
  file_name: string | null;
  size_bytes: number;
  status: string;
  error: string | null;
  chunk_count: number;
  attempts: number;
  created_at: number;
  updated_at: number;
  processed_at: number | null;
}

const PAGE = 10;
const ACTIVE = (d: { status: string }) => d.status === "queued" || d.status === "processing";

export function KnowledgeBase({ id }: { id: string }) {
  const [docsVersion, setDocsVersion] = useState(0);
  const kb = useResource(() => api<Kb>("GET", `/v1/knowledge_bases/${enc(id)}`), [id, docsVersion], {
    ms: 1000,
    while: (k) => k.documents.queued + k.documents.processing > 0 || !!k.reindex,
  });
  if (kb.error && !kb.data) {
    return (
      <>
        <PageTitle>Knowledge base {id}</PageTitle>
        <ErrorBox error={kb.error} />
      </>
    );
  }
  if (!kb.data) return <p aria-busy="true">Loading…</p>;
  const k = kb.data;
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href={href("kbs")}>Knowledge bases</a> / <span>{k.id}</span>
      </nav>
      <PageTitle>{k.name}</PageTitle>
      <p class="muted">
        {k.description || "No description."} · {k.embedding_model} ({k.embedding_dim} dimensions) ·{" "}
        {k.chunking.max_tokens}/{k.chunking.overlap_tokens} tokens{k.chunking.markdown ? " · markdown" : ""} · generation{" "}
        {k.generation}
      </p>
      <p class="row wrap">
        <DocCounts d={k.documents} />
        <span class="badge">{k.chunks} chunks</span>
        <a class="button" href={href("search", k.id)}>
          Test retrieval
        </a>
        <a class="button" href={href("jobs", k.id)}>
          Re-index
        </a>
      </p>
      {k.reindex ? (
        <p class="notice" role="status">
          Re-index running: {k.reindex.progress.documents_done}/{k.reindex.progress.documents_total} documents.{" "}
          <a href={href("jobs")}>Follow it on Jobs</a>
        </p>
      ) : null}
      <Upload kb={k.id} onUploaded={() => setDocsVersion((v) => v + 1)} />
      <Documents kb={k.id} version={docsVersion} onChange={() => kb.reload()} />
      <Settings kb={k} onSaved={() => kb.reload()} />
    </>
  );
}

interface Pending {
  key: number;
  file: File;
  externalId: string;
  progress: number;
  state: "ready" | "sending" | "sent" | "error";
  error?: unknown;
  doc?: Doc;
}

let pendingKeys = 0;

function Upload({ kb, onUploaded }: { kb: string; onUploaded: () => void }) {
  const [files, setFiles] = useState<Pending[]>([]);
  const [metadata, setMetadata] = useState("");
  const [over, setOver] = useState(false);
  const [metaError, setMetaError] = useState<unknown>(null);
  const input = useRef<HTMLInputElement>(null);
  const add = (list: FileList | null) => {
    if (!list) return;
    const added = Array.from(list).map((file) => ({ key: ++pendingKeys, file, externalId: "", progress: 0, state: "ready" as const }));
    setFiles((f) => [...f.filter((p) => p.state !== "sent"), ...added]);
  };
  const update = (key: number, patch: Partial<Pending>) =>
    setFiles((fs) => fs.map((p) => (p.key === key ? { ...p, ...patch } : p)));
  async function send() {
    setMetaError(null);
    if (metadata.trim()) {
      try {
        const m = JSON.parse(metadata);
        if (typeof m !== "object" || Array.isArray(m) || m === null) throw new Error("metadata must be a JSON object");
      } catch (e) {
        setMetaError(new Error(`Metadata: ${(e as Error).message}`));
        return;
      }
    }
    const todo = files.filter((p) => p.state === "ready" || p.state === "error");
    // All files at once, each its own request, so each has its own progress and outcome.
    await Promise.all(
      todo.map(async (p) => {
        update(p.key, { state: "sending", progress: 0, error: undefined });
        try {
          const doc = await uploadFile(kb, p.file, { metadata, externalId: p.externalId }, (x) => update(p.key, { progress: x }));
          update(p.key, { state: "sent", progress: 1, doc });
        } catch (e) {
          update(p.key, { state: "error", error: e });
        }
      }),
    );
    onUploaded();
  }
  const waiting = files.filter((p) => p.state === "ready" || p.state === "error").length;
  return (
    <section class="card" aria-labelledby="upload-h">
      <h2 id="upload-h">Upload documents</h2>
      <div
        class={over ? "drop over" : "drop"}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          add(e.dataTransfer?.files ?? null);
        }}
      >
        <p>Drop files here (text, Markdown, HTML, PDF, DOCX, JSON, JSONL), or</p>
        <label class="button" for="file-input">
          Choose files…
        </label>
        <input
          id="file-input"
          ref={input}
          class="sr-only-input"
          type="file"
          multiple
          onChange={(e) => {
            add(e.currentTarget.files);
            e.currentTarget.value = "";
          }}
        />
      </div>
      {files.length > 0 ? (
        <ul class="uploads" aria-label="Files to upload">
          {files.map((p) => (
            <li key={p.key} data-file={p.file.name}>
              <span class="name">{p.file.name}</span>
              <span class="muted">{fmtBytes(p.file.size)}</span>
              {p.state === "ready" || p.state === "error" ? (
                <input
                  aria-label={`External id for ${p.file.name} (optional)`}
                  placeholder="external id (optional)"
                  value={p.externalId}
                  onInput={(e) => update(p.key, { externalId: e.currentTarget.value })}
                />
              ) : null}
              <Progress value={p.progress} label={`Upload of ${p.file.name}`} />
              <span class="state" data-state={p.state}>
                {p.state === "sent" ? "uploaded ✓ (status below)" : p.state === "sending" ? "sending…" : p.state === "error" ? "failed" : "ready to send"}
              </span>
              {p.state === "ready" ? (
                <button type="button" class="link" onClick={() => setFiles((fs) => fs.filter((x) => x.key !== p.key))}>
                  Remove<span class="sr-only"> {p.file.name}</span>
                </button>
              ) : null}
              {p.error ? <ErrorBox error={p.error} testid="upload-error" /> : null}
            </li>
          ))}
        </ul>
      ) : null}
      <Field label="Metadata for these files (JSON object, optional)" hint='e.g. {"team": "docs", "year": 2026}; filters can use it' wide>
        {(id) => <textarea id={id} name="metadata" rows={2} value={metadata} onInput={(e) => setMetadata(e.currentTarget.value)} />}
      </Field>
      <ErrorBox error={metaError} />
      <button type="button" class="primary" disabled={waiting === 0} onClick={send}>
        Upload {waiting} {waiting === 1 ? "file" : "files"}
      </button>
    </section>
  );
}

function Documents({ kb, version, onChange }: { kb: string; version: number; onChange: () => void }) {
  const [status, setStatus] = useState("");
  const [cursors, setCursors] = useState<string[]>([]); // `after` of each page shown before
  const after = cursors[cursors.length - 1];
  const docs = useResource(
    () => {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (status) q.set("status", status);
      if (after) q.set("after", after);
      return api<{ data: Doc[]; has_more: boolean; last_id: string | null }>("GET", `/v1/knowledge_bases/${enc(kb)}/documents?${q}`);
    },
    [kb, status, after, version],
    { ms: 1000, while: (r) => r.data.some(ACTIVE) },
  );
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [deleting, setDeleting] = useState<Doc | null>(null);
  const act = async (d: Doc, what: "retry" | "delete") => {
    setBusy(d.id);
    setActionError(null);
    try {
      if (what === "retry") await api("POST", `/v1/knowledge_bases/${enc(kb)}/documents/${enc(d.id)}/retry`);
      else await api("DELETE", `/v1/knowledge_bases/${enc(kb)}/documents/${enc(d.id)}`);
      await docs.reload();
      onChange();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(null);
    }
  };
  // The knowledge base's counts follow the table's changes while documents are in flight.
  const rows = docs.data?.data ?? [];
  return (
    <section class="card" aria-labelledby="docs-h">
      <div class="row between wrap">
        <h2 id="docs-h">Documents</h2>
        <Field label="Status">
          {(id) => (
            <select
              id={id}
              name="status_filter"
              value={status}
              onChange={(e) => {
                setStatus(e.currentTarget.value);
                setCursors([]);
              }}
            >
              <option value="">all</option>
              <option value="queued">queued</option>
              <option value="processing">processing</option>
              <option value="ready">ready</option>
              <option value="failed">failed</option>
            </select>
          )}
        </Field>
      </div>
      <ErrorBox error={docs.error} />
      <ErrorBox error={actionError} testid="doc-action-error" />
      {rows.length === 0 && docs.data ? <p>No documents{status ? ` with status ${status}` : ""}.</p> : null}
      {rows.length > 0 ? (
        <div class="table-wrap">
          <table data-testid="doc-table" aria-live="polite">
            <thead>
              <tr>
                <th scope="col">Document</th>
                <th scope="col">Status</th>
                <th scope="col" class="num narrow-hide">
                  Size
                </th>
                <th scope="col" class="num">
                  Chunks
                </th>
                <th scope="col" class="narrow-hide">Uploaded · processed</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.id} data-doc={d.file_name ?? d.external_id ?? d.id} data-status={d.status}>
                  <td>
                    <a href={href("kbs", kb, "docs", d.id)}>{d.title || d.file_name || d.external_id || d.id}</a>
                    {d.external_id ? <div class="muted">external id: {d.external_id}</div> : null}
                    {d.error ? (
                      <div class="doc-error" data-testid="doc-error">
                        {d.error}
                      </div>
                    ) : null}
                  </td>
                  <td>
                    <Status status={d.status} />
                    {d.attempts > 1 ? <div class="muted">{d.attempts} attempts</div> : null}
                  </td>
                  <td class="num narrow-hide">{fmtBytes(d.size_bytes)}</td>
                  <td class="num">{d.chunk_count}</td>
                  <td class="muted narrow-hide">
                    {fmtTime(d.created_at)}
                    <br />
                    {fmtTime(d.processed_at)}
                  </td>
                  <td class="actions-cell">
                    {d.status === "failed" ? (
                      <button type="button" disabled={busy === d.id} onClick={() => act(d, "retry")}>
                        Retry<span class="sr-only"> {d.file_name ?? d.id}</span>
                      </button>
                    ) : null}
                    <button type="button" class="danger" disabled={busy === d.id} onClick={() => setDeleting(d)}>
                      Delete<span class="sr-only"> {d.file_name ?? d.id}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <div class="row wrap">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors([])}>
          First page
        </button>
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button
          type="button"
          disabled={!docs.data?.has_more}
          onClick={() => docs.data?.last_id && setCursors([...cursors, docs.data.last_id])}
        >
          Next page
        </button>
        <span class="muted">page {cursors.length + 1}</span>
      </div>
      <Confirm
        open={!!deleting}
        title="Delete this document?"
        confirmLabel="Delete document"
        onCancel={() => setDeleting(null)}
        onConfirm={() => {
          const d = deleting!;
          setDeleting(null);
          act(d, "delete");
        }}
      >
        <p>
          <strong>{deleting?.file_name ?? deleting?.id}</strong> and its chunks leave the knowledge base. This cannot be
          undone.
        </p>
      </Confirm>
    </section>
  );
}

function Settings({ kb, onSaved }: { kb: Kb; onSaved: () => void }) {
  const [name, setName] = useState(kb.name);
  const [description, setDescription] = useState(kb.description);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [confirm, setConfirm] = useState(false);
  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      await api("PATCH", `/v1/knowledge_bases/${enc(kb.id)}`, { name, description });
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    }
  }
  async function remove() {
    setConfirm(false);
    try {
      await api("DELETE", `/v1/knowledge_bases/${enc(kb.id)}`);
      navigate("kbs");
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section class="card" aria-labelledby="settings-h">
      <h2 id="settings-h">Settings</h2>
      <form onSubmit={save} class="grid">
        <Field label="Name">{(id) => <input id={id} name="kb_name" value={name} onInput={(e) => setName(e.currentTarget.value)} />}</Field>
        <Field label="Description" wide>
          {(id) => (
            <input id={id} name="kb_description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
          )}
        </Field>
        <div class="actions">
          <button type="submit" class="primary">
            Save
          </button>
          {saved ? (
            <span role="status" class="ok">
              Saved.
            </span>
          ) : null}
        </div>
      </form>
      <p class="muted">Chunking and embedding model change through a re-index (Jobs), which keeps answering meanwhile.</p>
      <button type="button" class="danger" onClick={() => setConfirm(true)}>
        Delete knowledge base
      </button>
      <ErrorBox error={error} />
      <Confirm
        open={confirm}
        title={`Delete knowledge base ${kb.id}?`}
        confirmLabel="Delete knowledge base"
        onCancel={() => setConfirm(false)}
        onConfirm={remove}
      >
        <p>
          Its {kb.documents.ready + kb.documents.failed + kb.documents.queued + kb.documents.processing} documents and{" "}
          {kb.chunks} chunks are deleted with it. This cannot be undone.
        </p>
      </Confirm>
    </section>
  );
}
