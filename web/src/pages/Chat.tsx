// The chat playground: model, rag_params and sampling settings; the answer streams (SSE over
// fetch + ReadableStream); the references arrive before the first token; each inline citation
// [@n] is a button to its reference, with the server's check beside it; the chat log links
// to per-stage timings.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, streamSse } from "../api";
import { href } from "../router";
import { ErrorBox, Field, PageTitle, fmtScore, useResource } from "../ui";
import { useKbs } from "./KnowledgeBases";

interface Reference {
  text: string;
  title: string;
  page: number | null;
  file_name: string;
  document_id: string;
  chunk_id: string;
  /** JamAI's `Chunk.context` (strings only); the chunk's place is in its own fields. */
  context: Record<string, string>;
  kb_id: string;
  ordinal: number;
  char_start: number | null;
  char_end: number | null;
  score: number;
}

interface Citation {
  chunk_index: number;
  chunk_id: string | null;
  valid: boolean;
  marker: string;
  start: number;
  end: number;
}

interface Turn {
  question: string;
  answer: string;
  references: { search_query: string; chunks: Reference[] } | null;
  citations: Citation[] | null;
  /** What the page showed when the first token came: were the references already there? */
  refsBeforeFirstToken: boolean | null;
  error: unknown;
  done: boolean;
  model: string;
}

export function Chat() {
  const kbs = useKbs();
  const models = useResource(() => api<{ data: { id: string }[] }>("GET", "/v1/models").then((r) => r.data), []);
  const rerankers = useResource(() => api<{ data: { id: string }[] }>("GET", "/v1/rerankers").then((r) => r.data), []);
  const [chatId, setChatId] = useState(() => `console-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}`);
  const [s, setS] = useState({
    model: "",
    kbs: [] as string[],
    k: "3",
    searchQuery: "",
    reranker: "",
    inline: true,
    temperature: "0.2",
    topP: "0.6",
    maxTokens: "256",
  });
  const [input, setInput] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  // Settings start folded on a narrow screen, so the conversation comes first.
  const wide = useRef(matchMedia("(min-width: 900px)").matches).current;
  useEffect(() => {
    if (s.kbs.length === 0 && kbs.data?.length) setS((x) => ({ ...x, kbs: [kbs.data![0].id] }));
  }, [kbs.data]);
  useEffect(() => {
    if (!s.model && models.data?.length) setS((x) => ({ ...x, model: models.data![0].id }));
  }, [models.data]);
  const set = (k: keyof typeof s) => (e: Event) => {
    const t = e.currentTarget as HTMLInputElement;
    setS({ ...s, [k]: t.type === "checkbox" ? t.checked : t.value });
  };

  async function send(e: Event) {
    e.preventDefault();
    const question = input.trim();
    if (!question) return;
    setFormError(null);
    const history = turns
      .filter((t) => t.done && !t.error)
      .flatMap((t) => [
        { role: "user", content: t.question },
        { role: "assistant", content: t.answer },
      ]);
    const body: Record<string, unknown> = {
      model: s.model,
      messages: [...history, { role: "user", content: question }],
      stream: true,
      temperature: Number(s.temperature),
      top_p: Number(s.topP),
      max_tokens: Number(s.maxTokens),
      id: chatId,
    };
    if (s.kbs.length) {
      const rag: Record<string, unknown> = { k: Number(s.k), inline_citations: s.inline };
      if (s.kbs.length === 1) rag.table_id = s.kbs[0];
      else rag.knowledge_base_ids = s.kbs;
      if (s.searchQuery.trim()) rag.search_query = s.searchQuery.trim();
      if (s.reranker) rag.reranking_model = s.reranker;
      body.rag_params = rag;
    }
    const index = turns.length;
    const turn: Turn = { question, answer: "", references: null, citations: null, refsBeforeFirstToken: null, error: null, done: false, model: s.model };
    setTurns((ts) => [...ts, turn]);
    setInput("");
    setBusy(true);
    const update = (f: (t: Turn) => Turn) => setTurns((ts) => ts.map((t, i) => (i === index ? f(t) : t)));
    // The stream's state, kept outside React so the order of events is exact.
    let refsSeen = false;
    let firstToken = true;
    abort.current = new AbortController();
    try {
      await streamSse(
        "/v1/chat/completions",
        body,
        (ev) => {
          if (ev.references) {
            refsSeen = true;
            update((t) => ({ ...t, references: ev.references }));
          }
          const choice = ev.choices?.[0];
          const delta = choice?.delta?.content;
          if (delta) {
            if (firstToken) {
              firstToken = false;
              const before = refsSeen;
              update((t) => ({ ...t, refsBeforeFirstToken: before }));
            }
            update((t) => ({ ...t, answer: t.answer + delta }));
          }
          if (choice?.finish_reason && ev.citations) update((t) => ({ ...t, citations: ev.citations }));
        },
        abort.current.signal,
      );
      update((t) => ({ ...t, done: true }));
    } catch (err) {
      const e = err instanceof DOMException && err.name === "AbortError" ? new ApiError("stopped", 0) : err;
      update((t) => ({ ...t, error: e, done: true }));
    } finally {
      setBusy(false);
      abort.current = null;
    }
  }

  return (
    <>
      <PageTitle>Chat playground</PageTitle>
      <div class="chat-layout">
        <details class="card settings" open={wide}>
          <summary>Settings</summary>
          <form aria-label="Chat settings" onSubmit={(e) => e.preventDefault()}>
          <Field label="Model">
            {(id) => (
              <select id={id} name="model" value={s.model} onChange={set("model")}>
                <option value="">server default</option>
                {(models.data ?? []).map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.id}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <fieldset>
            <legend>Knowledge bases</legend>
            {(kbs.data ?? []).map((k) => (
              <label key={k.id} class="check">
                <input
                  type="checkbox"
                  name="kb"
                  value={k.id}
                  checked={s.kbs.includes(k.id)}
                  onChange={(e) =>
                    setS({ ...s, kbs: e.currentTarget.checked ? [...s.kbs, k.id] : s.kbs.filter((x) => x !== k.id) })
                  }
                />{" "}
                {k.name}
              </label>
            ))}
            {kbs.data?.length === 0 ? <p class="muted">None yet: answers come without retrieval.</p> : null}
          </fieldset>
          <Field label="k (chunks)">{(id) => <input id={id} name="k" type="number" min={1} max={1024} value={s.k} onInput={set("k")} />}</Field>
          <Field label="Search query" hint="empty: from the conversation">
            {(id) => <input id={id} name="search_query" value={s.searchQuery} onInput={set("searchQuery")} />}
          </Field>
          <Field label="Reranker">
            {(id) => (
              <select id={id} name="reranker" value={s.reranker} onChange={set("reranker")}>
                <option value="">none</option>
                {(rerankers.data ?? []).map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.id}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <label class="check">
            <input type="checkbox" name="inline_citations" checked={s.inline} onChange={set("inline")} /> Inline citations
          </label>
          <Field label="Temperature">
            {(id) => <input id={id} name="temperature" type="number" step="0.1" min={0.001} value={s.temperature} onInput={set("temperature")} />}
          </Field>
          <Field label="Top p">{(id) => <input id={id} name="top_p" type="number" step="0.05" min={0.001} max={1} value={s.topP} onInput={set("topP")} />}</Field>
          <Field label="Max tokens">{(id) => <input id={id} name="max_tokens" type="number" min={1} value={s.maxTokens} onInput={set("maxTokens")} />}</Field>
          <Field label="Chat id" hint="logged under this id">
            {(id) => <input id={id} name="chat_id" value={chatId} onInput={(e) => setChatId(e.currentTarget.value)} />}
          </Field>
          <p>
            <a href={href("chats", chatId)} data-testid="chat-log-link">
              Open the chat log
            </a>
          </p>
          </form>
        </details>
        <section class="conversation" aria-label="Conversation">
          {turns.length === 0 ? <p class="muted">Ask something about your documents.</p> : null}
          {turns.map((t, i) => (
            <TurnView key={i} t={t} n={i} />
          ))}
          <form class="card ask" onSubmit={send} aria-label="Ask">
            <Field label="Message" wide>
              {(id) => (
                <textarea
                  id={id}
                  name="message"
                  rows={3}
                  value={input}
                  onInput={(e) => setInput(e.currentTarget.value)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e);
                  }}
                />
              )}
            </Field>
            <div class="row">
              <button type="submit" class="primary" disabled={busy || !input.trim()}>
                Send
              </button>
              {busy ? (
                <button type="button" onClick={() => abort.current?.abort()}>
                  Stop
                </button>
              ) : null}
              <span class="muted">Ctrl+Enter sends</span>
            </div>
            <ErrorBox error={formError} />
          </form>
        </section>
      </div>
    </>
  );
}

const MARKER = /\[@\d+(?:\s*;\s*@\d+)*\]/g;

function TurnView({ t, n }: { t: Turn; n: number }) {
  const [focused, setFocused] = useState<number | null>(null);
  const refsId = `refs-${n}`;
  return (
    <article class="turn" data-turn={n}>
      <div class="bubble user">
        <span class="sr-only">You: </span>
        {t.question}
      </div>
      <div class="turn-meta">answer by {t.model || "the default model"}</div>
      <div
        class="bubble assistant"
        data-testid="answer"
        data-done={t.done ? "true" : "false"}
        data-refs-before-first-token={t.refsBeforeFirstToken === null ? "" : String(t.refsBeforeFirstToken)}
        aria-live="polite"
        aria-busy={!t.done}
      >
        <span class="sr-only">Answer: </span>
        <Answer t={t} onCite={(i) => {
          setFocused(i);
          document.getElementById(`${refsId}-${i}`)?.focus();
        }} />
        {!t.done && !t.answer ? <span class="muted">{t.references ? "writing…" : "retrieving…"}</span> : null}
        {t.done && t.citations ? <CheckSummary c={t.citations} /> : null}
        <ErrorBox error={t.error} testid="chat-error" />
      </div>
      {t.references ? (
        <section class="refs card" aria-label="References" data-testid="references">
          <h3>
            References <span class="muted">for the search query “{t.references.search_query}”</span>
          </h3>
          <ol start={0}>
            {t.references.chunks.map((r, i) => (
              <li
                key={r.chunk_id}
                id={`${refsId}-${i}`}
                tabIndex={-1}
                class={focused === i ? "ref focused" : "ref"}
                data-ref={i}
              >
                <div class="ref-head">
                  <strong>[@{i}]</strong> {r.title || r.file_name || r.document_id}
                  {r.page !== null ? ` · page ${r.page}` : ""} · score {fmtScore(r.score)}
                  <CitationCheck t={t} index={i} />
                </div>
                <p class="snippet">{r.text}</p>
                <a href={href("kbs", r.kb_id, "docs", r.document_id, String(r.ordinal))}>
                  Open chunk #{r.ordinal} in its document
                </a>
              </li>
            ))}
          </ol>
          {t.references.chunks.length === 0 ? <p>Nothing was retrieved for this query.</p> : null}
        </section>
      ) : null}
    </article>
  );
}

/** What the server's check said about the answer's citations, in one line. */
function CheckSummary({ c }: { c: Citation[] }) {
  if (c.length === 0) return <div class="check-summary">The answer cites no reference.</div>;
  const valid = c.filter((x) => x.valid).length;
  return (
    <div class="check-summary" data-testid="check-summary">
      Server's citation check: {valid} of {c.length} {c.length === 1 ? "citation points" : "citations point"} at a
      retrieved reference
      {c.length > valid ? `; ${c.filter((x) => !x.valid).map((x) => `@${x.chunk_index}`).join(", ")} point at nothing` : ""}.
    </div>
  );
}

/** How the server's check judged the citations of reference `index`. */
function CitationCheck({ t, index }: { t: Turn; index: number }) {
  if (!t.citations) return null;
  const cited = t.citations.filter((c) => c.chunk_index === index);
  if (cited.length === 0) return <span class="badge zero">not cited</span>;
  return <span class="badge s-ready">cited ×{cited.length}</span>;
}

/** The answer with each [@n] marker as a button to reference n and the server's verdict. */
function Answer({ t, onCite }: { t: Turn; onCite: (i: number) => void }) {
  const parts: any[] = [];
  let last = 0;
  // Citation spans count code points; markers are ASCII, so matching the string is exact.
  for (const m of t.answer.matchAll(MARKER)) {
    parts.push(t.answer.slice(last, m.index));
    const nums = [...m[0].matchAll(/@(\d+)/g)].map((x) => Number(x[1]));
    parts.push(
      <span class="cite" key={m.index}>
        [
        {nums.map((num, j) => {
          const c = t.citations?.find((c) => c.chunk_index === num);
          const verdict = !t.done ? "pending" : !t.citations ? "unchecked" : c?.valid ? "supported" : "unsupported";
          const exists = !!t.references && num < t.references.chunks.length;
          if (!exists) {
            // Points at no reference: nothing to open, so not a button.
            return (
              <>
                {j > 0 ? "; " : ""}
                <span class="cite-btn v-unsupported" data-verdict={t.done ? "unsupported" : "pending"} title={`there is no reference ${num}`}>
                  @{num}
                  <span class="verdict" aria-label=", points at no reference">
                    ✗
                  </span>
                </span>
              </>
            );
          }
          return (
            <>
              {j > 0 ? "; " : ""}
              <button
                type="button"
                class={`cite-btn v-${verdict}`}
                data-verdict={verdict}
                onClick={() => onCite(num)}
                title={
                  verdict === "supported"
                    ? `server check: reference ${num} exists (chunk ${c?.chunk_id})`
                    : verdict === "unsupported"
                      ? `server check: there is no reference ${num}`
                      : "checked when the answer is complete"
                }
              >
                @{num}
                <span class="verdict" aria-label={`, ${verdict}`}>
                  {verdict === "supported" ? "✓" : verdict === "unsupported" ? "✗" : "…"}
                </span>
              </button>
            </>
          );
        })}
        ]
      </span>,
    );
    last = (m.index ?? 0) + m[0].length;
  }
  parts.push(t.answer.slice(last));
  return <div class="answer-text">{parts}</div>;
}
