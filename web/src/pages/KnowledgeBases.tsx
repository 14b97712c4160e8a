// Knowledge bases of the project: counts by status, chunk counts, and a create form with
// chunking and embedding model.
import { useState } from "preact/hooks";
import { api } from "../api";
import { href, navigate } from "../router";
import { ErrorBox, Field, PageTitle, fmtTime, useResource } from "../ui";

export interface Kb {
  id: string;
  name: string;
  description: string;
  embedding_model: string;
  embedding_dim: number;
  chunking: { max_tokens: number; overlap_tokens: number; markdown: boolean };
  documents: Record<"queued" | "processing" | "ready" | "failed", number>;
  chunks: number;
  generation: number;
  updated_at: number;
  reindex?: any;
}

export interface EmbeddingModel {
  id: string;
  dimension: number;
  default: boolean;
}

export function useKbs() {
  return useResource(() => api<{ data: Kb[] }>("GET", "/v1/knowledge_bases").then((r) => r.data), []);
}

export function useEmbeddingModels() {
  return useResource(() => api<{ data: EmbeddingModel[] }>("GET", "/v1/embedding_models").then((r) => r.data), []);
}

export function DocCounts({ d }: { d: Kb["documents"] }) {
  return (
    <span class="counts">
      {(["ready", "processing", "queued", "failed"] as const).map((s) => (
        <span key={s} class={`badge s-${s}${d[s] ? "" : " zero"}`} title={`${d[s]} ${s}`}>
          {d[s]} {s}
        </span>
      ))}
    </span>
  );
}

export function KnowledgeBases() {
  const kbs = useKbs();
  return (
    <>
      <PageTitle>Knowledge bases</PageTitle>
      <ErrorBox error={kbs.error} />
      {kbs.data && kbs.data.length === 0 ? <p>No knowledge base yet: create the first one below.</p> : null}
      {kbs.data && kbs.data.length > 0 ? (
        <div class="table-wrap card">
          <table data-testid="kb-table">
            <caption class="sr-only">Knowledge bases with document counts by status</caption>
            <thead>
              <tr>
                <th scope="col">Knowledge base</th>
                <th scope="col">Documents</th>
                <th scope="col" class="num">
                  Chunks
                </th>
                <th scope="col">Model · chunking</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {kbs.data.map((kb) => (
                <tr key={kb.id} data-kb={kb.id}>
                  <td>
                    <a href={href("kbs", kb.id)}>{kb.name}</a>
                    {kb.name !== kb.id ? <div class="muted">{kb.id}</div> : null}
                    {kb.description ? <div class="muted">{kb.description}</div> : null}
                  </td>
                  <td>
                    <DocCounts d={kb.documents} />
                  </td>
                  <td class="num">{kb.chunks}</td>
                  <td class="muted">
                    {kb.embedding_model} · {kb.chunking.max_tokens}/{kb.chunking.overlap_tokens} tokens
                    {kb.chunking.markdown ? " · markdown" : ""}
                  </td>
                  <td class="muted">{fmtTime(kb.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <CreateKb onCreated={(id) => navigate("kbs", id)} />
    </>
  );
}

function CreateKb({ onCreated }: { onCreated: (id: string) => void }) {
  const models = useEmbeddingModels();
  const [f, setF] = useState({ id: "", name: "", description: "", model: "", max: "", overlap: "", markdown: true });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: Event) => {
    const t = e.currentTarget as HTMLInputElement;
    setF({ ...f, [k]: t.type === "checkbox" ? t.checked : t.value });
  };
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const chunking: Record<string, unknown> = { markdown: f.markdown };
    if (f.max) chunking.max_tokens = Number(f.max);
    if (f.overlap) chunking.overlap_tokens = Number(f.overlap);
    const body: Record<string, unknown> = { chunking };
    if (f.id.trim()) body.id = f.id.trim();
    if (f.name.trim()) body.name = f.name.trim();
    if (f.description.trim()) body.description = f.description.trim();
    if (f.model) body.embedding_model = f.model;
    try {
      const kb = await api<Kb>("POST", "/v1/knowledge_bases", body);
      onCreated(kb.id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="card" aria-labelledby="create-kb">
      <h2 id="create-kb">Create a knowledge base</h2>
      <form onSubmit={submit} class="grid">
        <Field label="Id" hint="Letters, digits, _ - . (generated when empty)">
          {(id) => <input id={id} name="id" value={f.id} onInput={set("id")} />}
        </Field>
        <Field label="Name">{(id) => <input id={id} name="name" value={f.name} onInput={set("name")} />}</Field>
        <Field label="Description" wide>
          {(id) => <input id={id} name="description" value={f.description} onInput={set("description")} />}
        </Field>
        <Field label="Embedding model">
          {(id) => (
            <select id={id} name="embedding_model" value={f.model} onChange={set("model")}>
              <option value="">default{models.data ? ` (${models.data.find((m) => m.default)?.id ?? ""})` : ""}</option>
              {(models.data ?? []).map((m) => (
                <option value={m.id} key={m.id}>
                  {m.id} · {m.dimension} dimensions
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Max tokens per chunk" hint="16–254; empty = server default">
          {(id) => <input id={id} name="max_tokens" type="number" min={16} max={254} value={f.max} onInput={set("max")} />}
        </Field>
        <Field label="Overlap tokens" hint="less than half of max tokens">
          {(id) => <input id={id} name="overlap_tokens" type="number" min={0} value={f.overlap} onInput={set("overlap")} />}
        </Field>
        <div class="field check">
          <label>
            <input type="checkbox" name="markdown" checked={f.markdown} onChange={set("markdown")} /> Split Markdown at
            headings
          </label>
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Create knowledge base
          </button>
        </div>
      </form>
      <ErrorBox error={error} testid="create-kb-error" />
    </section>
  );
}
