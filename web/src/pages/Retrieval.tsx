// The retrieval tester: one search with every knob, explained — each hit's dense, sparse and
// fused scores side by side, the latency of each stage — and earlier queries to re-run.
import { useEffect, useState } from "preact/hooks";
import { api, enc } from "../api";
import { href } from "../router";
import { ErrorBox, Field, PageTitle, fmtScore } from "../ui";
import { useKbs } from "./KnowledgeBases";

interface Hit {
  chunk_id: string;
  document_id: string;
  kb_id: string;
  title: string | null;
  file_name: string | null;
  page: number | null;
  ordinal: number;
  text: string;
  score: number;
  scores: { dense: number | null; sparse: number | null; fused: number };
}

interface Result {
  data: Hit[];
  search_query: string;
  timings: Record<string, number>;
}

interface Form {
  kb: string;
  query: string;
  k: string;
  mode: string;
  fusion: string;
  filter: string;
  threshold: string;
  candidates: string;
}

interface Past {
  form: Form;
  at: number;
  hits: number;
  total_ms: number;
}

const HISTORY = "ragway.console.searches";

function loadHistory(): Past[] {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY) ?? "[]");
  } catch {
    return [];
  }
}

export function Retrieval({ initialKb }: { initialKb?: string }) {
  const kbs = useKbs();
  const [form, setForm] = useState<Form>({
    kb: initialKb ?? "",
    query: "",
    k: "5",
    mode: "hybrid",
    fusion: "dbsf",
    filter: "",
    threshold: "",
    candidates: "",
  });
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [history, setHistory] = useState<Past[]>(loadHistory());
  useEffect(() => {
    if (!form.kb && kbs.data?.length) setForm((f) => ({ ...f, kb: kbs.data![0].id }));
  }, [kbs.data]);
  const set = (k: keyof Form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });

  async function run(f: Form) {
    setBusy(true);
    setError(null);
    const body: Record<string, unknown> = { query: f.query, k: Number(f.k), search_mode: f.mode, explain: true };
    if (f.mode === "hybrid" && f.fusion) body.fusion = f.fusion;
    if (f.threshold.trim()) body.score_threshold = Number(f.threshold);
    if (f.candidates.trim()) body.candidates = Number(f.candidates);
    try {
      if (f.filter.trim()) body.filter = JSON.parse(f.filter);
    } catch (e) {
      setError(new Error(`Filter is not JSON: ${(e as Error).message}`));
      setBusy(false);
      return;
    }
    try {
      const r = await api<Result>("POST", `/v1/knowledge_bases/${enc(f.kb)}/search`, body);
      setResult(r);
      const past = [{ form: f, at: Date.now(), hits: r.data.length, total_ms: r.timings.total_ms }, ...history].slice(0, 20);
      setHistory(past);
      sessionStorage.setItem(HISTORY, JSON.stringify(past));
    } catch (e) {
      setError(e);
      setResult(null);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <PageTitle>Retrieval tester</PageTitle>
      <form
        class="card grid"
        aria-label="Search"
        onSubmit={(e) => {
          e.preventDefault();
          run(form);
        }}
      >
        <Field label="Knowledge base">
          {(id) => (
            <select id={id} name="kb" value={form.kb} onChange={set("kb")} required>
              {(kbs.data ?? []).map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Query" wide>
          {(id) => <input id={id} name="query" value={form.query} onInput={set("query")} required />}
        </Field>
        <Field label="k (hits)">
          {(id) => <input id={id} name="k" type="number" min={1} max={1024} value={form.k} onInput={set("k")} />}
        </Field>
        <Field label="Mode">
          {(id) => (
            <select id={id} name="mode" value={form.mode} onChange={set("mode")}>
              <option value="hybrid">hybrid (dense + BM25)</option>
              <option value="dense">dense only</option>
              <option value="sparse">sparse (BM25) only</option>
            </select>
          )}
        </Field>
        <Field label="Fusion" hint="dbsf, rrf, or rrf(k=60,dense_weight=0.6)">
          {(id) => (
            <input id={id} name="fusion" list="fusions" value={form.fusion} onInput={set("fusion")} disabled={form.mode !== "hybrid"} />
          )}
        </Field>
        <datalist id="fusions">
          <option value="dbsf" />
          <option value="rrf" />
          <option value="rrf(k=60,dense_weight=0.5)" />
        </datalist>
        <Field label="Score threshold" hint="drop hits whose final score is lower">
          {(id) => <input id={id} name="score_threshold" type="number" step="any" value={form.threshold} onInput={set("threshold")} />}
        </Field>
        <Field label="Candidates per leg" hint="default max(4k, 40)">
          {(id) => <input id={id} name="candidates" type="number" min={1} value={form.candidates} onInput={set("candidates")} />}
        </Field>
        <Field label="Filter (JSON)" hint='e.g. {"year": {"gte": 2020}} or {"file_name": "notes.md"}' wide>
          {(id) => <textarea id={id} name="filter" rows={2} value={form.filter} onInput={set("filter")} />}
        </Field>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || !form.kb}>
            {busy ? "Searching…" : "Search"}
          </button>
        </div>
      </form>
      <ErrorBox error={error ?? kbs.error} />
      {result ? <Results r={result} kb={form.kb} /> : null}
      {history.length ? (
        <section class="card" aria-labelledby="history-h">
          <h2 id="history-h">Earlier queries</h2>
          <ul class="history">
            {history.map((p, i) => (
              <li key={p.at + ":" + i}>
                <button
                  type="button"
                  onClick={() => {
                    setForm(p.form);
                    run(p.form);
                  }}
                >
                  Re-run<span class="sr-only"> “{p.form.query}”</span>
                </button>
                <span>
                  “{p.form.query}” in <strong>{p.form.kb}</strong> · {p.form.mode}
                  {p.form.mode === "hybrid" ? ` / ${p.form.fusion}` : ""} · k={p.form.k}
                  {p.form.filter ? ` · filter ${p.form.filter}` : ""}
                </span>
                <span class="muted">
                  {p.hits} hits · {p.total_ms.toFixed(1)} ms
                </span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </>
  );
}

/** Each stage's latency as its own bar against the total (stages may overlap: a chat's
 *  first_token lies inside generate), so no stage is stacked onto another. */
export function Timings({ t, label }: { t: Record<string, number>; label: string }) {
  const stages = Object.entries(t).filter(([k]) => k !== "total_ms");
  const total = t.total_ms ?? stages.reduce((a, [, v]) => a + v, 0);
  const scale = Math.max(total, ...stages.map(([, v]) => v));
  const row = (name: string, v: number, cls: string, isTotal = false) => (
    <>
      <dt class={isTotal ? "stage total" : "stage"}>{name}</dt>
      <dd class="track" aria-hidden="true">
        <span class={`fill ${cls}`} style={{ width: `${scale ? (100 * v) / scale : 0}%` }} />
      </dd>
      <dd class={isTotal ? "ms total" : "ms"}>{v.toFixed(1)} ms</dd>
    </>
  );
  return (
    <dl class="timings" aria-label={label}>
      {stages.map(([k, v], i) => row(k.replace(/_ms$/, "").replace("_", " "), v, `c${i % 5}`))}
      {row("total", total, "c-total", true)}
    </dl>
  );
}

function ScoreCell({ v, max, leg }: { v: number | null; max: number; leg: string }) {
  if (v === null) {
    return (
      <td class="num score none" data-leg={leg} title={`the ${leg} leg did not return this chunk`}>
        —<span class="sr-only"> (not returned by the {leg} leg)</span>
      </td>
    );
  }
  return (
    <td class="num score" data-leg={leg}>
      <span class="bar" aria-hidden="true" style={{ width: `${max > 0 ? Math.max(2, (100 * v) / max) : 0}%` }} />
      <span class="v">{fmtScore(v)}</span>
    </td>
  );
}

function Results({ r, kb }: { r: Result; kb: string }) {
  const max = (leg: "dense" | "sparse" | "fused") => Math.max(0, ...r.data.map((h) => h.scores[leg] ?? 0));
  const m = { dense: max("dense"), sparse: max("sparse"), fused: max("fused") };
  return (
    <section class="card" aria-labelledby="results-h" data-testid="results">
      <h2 id="results-h">
        {r.data.length} hits for “{r.search_query}”
      </h2>
      <Timings t={r.timings} label="Search latency by stage" />
      <p class="muted">
        Dense: cosine similarity of the query's embedding. Sparse: BM25 with the engine's IDF. Fused: the score that ranks
        the hits (— = that leg did not return the chunk among its candidates).
      </p>
      <div class="table-wrap">
        <table class="hits">
          <thead>
            <tr>
              <th scope="col" class="num">
                #
              </th>
              <th scope="col">Chunk</th>
              <th scope="col" class="num">
                Dense
              </th>
              <th scope="col" class="num">
                Sparse
              </th>
              <th scope="col" class="num">
                Fused
              </th>
            </tr>
          </thead>
          <tbody>
            {r.data.map((h, i) => (
              <tr key={h.chunk_id} data-chunk={h.chunk_id}>
                <td class="num">{i + 1}</td>
                <td>
                  <a href={href("kbs", h.kb_id || kb, "docs", h.document_id, String(h.ordinal))}>
                    {h.title || h.file_name || h.document_id} · #{h.ordinal}
                    {h.page !== null ? ` · page ${h.page}` : ""}
                  </a>
                  <p class="snippet">{h.text}</p>
                </td>
                <ScoreCell v={h.scores.dense} max={m.dense} leg="dense" />
                <ScoreCell v={h.scores.sparse} max={m.sparse} leg="sparse" />
                <ScoreCell v={h.scores.fused} max={m.fused} leg="fused" />
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
