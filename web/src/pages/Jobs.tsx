// Jobs: start a re-index (chunking, embedding model), live progress bars, cancel, and the
// history with errors.
import { useEffect, useState } from "preact/hooks";
import { api, enc } from "../api";
import { href } from "../router";
import { Confirm, ErrorBox, Field, PageTitle, Progress, Status, fmtTime, useResource } from "../ui";
import { useEmbeddingModels, useKbs } from "./KnowledgeBases";

interface Job {
  id: string;
  kind: string;
  kb_id: string;
  status: string;
  target_generation: number | null;
  target_model: string | null;
  target_chunking: { max_tokens: number; overlap_tokens: number; markdown: boolean } | null;
  progress: { documents_done: number; documents_total: number; chunks: number; fraction: number };
  error: string | null;
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const ACTIVE = (j: Job) => j.status === "queued" || j.status === "running";

export function Jobs({ initialKb }: { initialKb?: string }) {
  const kbs = useKbs();
  const models = useEmbeddingModels();
  const [status, setStatus] = useState("");
  const jobs = useResource(
    () => api<{ data: Job[] }>("GET", `/v1/jobs?limit=50${status ? `&status=${status}` : ""}`).then((r) => r.data),
    [status],
    { ms: 1000, while: (js) => js.some(ACTIVE) },
  );
  const [f, setF] = useState({ kb: initialKb ?? "", max: "", overlap: "", markdown: "", model: "" });
  const [error, setError] = useState<unknown>(null);
  const [cancel, setCancel] = useState<Job | null>(null);
  useEffect(() => {
    if (!f.kb && kbs.data?.length) setF((x) => ({ ...x, kb: kbs.data![0].id }));
  }, [kbs.data]);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const kb = kbs.data?.find((k) => k.id === f.kb);
  async function start(e: Event) {
    e.preventDefault();
    setError(null);
    const chunking: Record<string, unknown> = {};
    if (f.max) chunking.max_tokens = Number(f.max);
    if (f.overlap) chunking.overlap_tokens = Number(f.overlap);
    if (f.markdown) chunking.markdown = f.markdown === "yes";
    const body: Record<string, unknown> = {};
    if (Object.keys(chunking).length) body.chunking = chunking;
    if (f.model) body.embedding_model = f.model;
    try {
      await api("POST", `/v1/knowledge_bases/${enc(f.kb)}/reindex`, body);
      jobs.reload();
    } catch (err) {
      setError(err);
    }
  }
  async function doCancel(j: Job) {
    setCancel(null);
    try {
      await api("POST", `/v1/jobs/${enc(j.id)}/cancel`);
      jobs.reload();
    } catch (err) {
      setError(err);
    }
  }
  const list = jobs.data ?? [];
  return (
    <>
      <PageTitle>Jobs</PageTitle>
      <form class="card grid" onSubmit={start} aria-labelledby="reindex-h">
        <h2 id="reindex-h" class="wide">
          Re-index a knowledge base
        </h2>
        <p class="muted wide">
          A new generation is built beside the live one, which keeps answering, then switched to at once. Empty fields keep
          the current setting{kb ? ` (now ${kb.chunking.max_tokens}/${kb.chunking.overlap_tokens} tokens, ${kb.embedding_model})` : ""}.
        </p>
        <Field label="Knowledge base">
          {(id) => (
            <select id={id} name="kb" value={f.kb} onChange={set("kb")}>
              {(kbs.data ?? []).map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Max tokens per chunk">
          {(id) => <input id={id} name="max_tokens" type="number" min={16} max={254} value={f.max} onInput={set("max")} />}
        </Field>
        <Field label="Overlap tokens">
          {(id) => <input id={id} name="overlap_tokens" type="number" min={0} value={f.overlap} onInput={set("overlap")} />}
        </Field>
        <Field label="Markdown splitting">
          {(id) => (
            <select id={id} name="markdown" value={f.markdown} onChange={set("markdown")}>
              <option value="">keep</option>
              <option value="yes">on</option>
              <option value="no">off</option>
            </select>
          )}
        </Field>
        <Field label="Embedding model">
          {(id) => (
            <select id={id} name="embedding_model" value={f.model} onChange={set("model")}>
              <option value="">keep</option>
              {(models.data ?? []).map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id} · {m.dimension} dimensions
                </option>
              ))}
            </select>
          )}
        </Field>
        <div class="actions">
          <button type="submit" class="primary" disabled={!f.kb}>
            Start re-index
          </button>
        </div>
      </form>
      <ErrorBox error={error ?? jobs.error} />
      <section class="card" aria-labelledby="jobs-h">
        <div class="row between wrap">
          <h2 id="jobs-h">History</h2>
          <Field label="Status">
            {(id) => (
              <select id={id} name="job_status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
                <option value="">all</option>
                {["queued", "running", "succeeded", "failed", "canceled"].map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        {list.length === 0 && jobs.data ? <p>No jobs yet.</p> : null}
        <ul class="jobs">
          {list.map((j) => (
            <li key={j.id} class="job" data-job={j.id} data-status={j.status}>
              <div class="row between wrap">
                <span>
                  <Status status={j.status} /> <strong>{j.kind}</strong> of{" "}
                  <a href={href("kbs", j.kb_id)}>{j.kb_id}</a> → generation {j.target_generation ?? "?"}
                  {j.target_model ? ` · ${j.target_model}` : ""}
                  {j.target_chunking ? ` · ${j.target_chunking.max_tokens}/${j.target_chunking.overlap_tokens} tokens` : ""}
                </span>
                {ACTIVE(j) ? (
                  <button type="button" class="danger" onClick={() => setCancel(j)}>
                    Cancel<span class="sr-only"> job {j.id}</span>
                  </button>
                ) : null}
              </div>
              <Progress value={j.progress.fraction} label={`Progress of job ${j.id}`} />
              <div class="muted">
                {j.progress.documents_done}/{j.progress.documents_total} documents · {j.progress.chunks} chunks · attempts{" "}
                {j.attempts} · created {fmtTime(j.created_at)}
                {j.finished_at ? ` · finished ${fmtTime(j.finished_at)}` : ""}
              </div>
              {j.error ? <div class="doc-error">{j.error}</div> : null}
            </li>
          ))}
        </ul>
      </section>
      <Confirm
        open={!!cancel}
        title="Cancel this re-index?"
        confirmLabel="Cancel job"
        onCancel={() => setCancel(null)}
        onConfirm={() => doCancel(cancel!)}
      >
        <p>The half-built generation is dropped; the live one keeps serving.</p>
      </Confirm>
    </>
  );
}
