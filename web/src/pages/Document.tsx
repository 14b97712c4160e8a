// The chunk viewer: a document's chunks in order (page, character offsets, metadata), and
// the document's parsed text with the chosen chunk highlighted where it sits.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, enc } from "../api";
import { href } from "../router";
import { ErrorBox, PageTitle, Status, fmtBytes, fmtTime, useResource } from "../ui";
import type { Doc } from "./KnowledgeBase";

interface Chunk {
  chunk_id: string;
  ordinal: number;
  page: number | null;
  char_start: number | null;
  char_end: number | null;
  text: string;
  metadata: Record<string, unknown>;
  title: string | null;
}

interface DocText {
  text: string;
  sections: { page: number | null; char_start: number; char_end: number }[];
}

export function DocumentView({ kb, doc, chunk }: { kb: string; doc: string; chunk?: string }) {
  const base = `/v1/knowledge_bases/${enc(kb)}/documents/${enc(doc)}`;
  const info = useResource(() => api<Doc & { metadata: Record<string, unknown> }>("GET", base), [base], {
    ms: 1000,
    while: (d) => d.status === "queued" || d.status === "processing",
  });
  const ready = info.data?.status;
  const chunks = useResource(() => api<{ data: Chunk[] }>("GET", `${base}/chunks`).then((r) => r.data), [base, ready]);
  const text = useResource(() => api<DocText>("GET", `${base}/text`), [base]);
  const [selected, setSelected] = useState<number | null>(chunk !== undefined ? Number(chunk) : null);
  const d = info.data;
  const current = chunks.data?.find((c) => c.ordinal === selected) ?? null;
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href={href("kbs")}>Knowledge bases</a> / <a href={href("kbs", kb)}>{kb}</a> / <span>document</span>
      </nav>
      <PageTitle>{d ? d.title || d.file_name || d.external_id || d.id : "Document"}</PageTitle>
      <ErrorBox error={info.error} />
      {d ? (
        <p class="row wrap muted">
          <Status status={d.status} /> {d.file_name ?? ""} · {fmtBytes(d.size_bytes)} · {d.chunk_count} chunks · uploaded{" "}
          {fmtTime(d.created_at)}
          {d.external_id ? ` · external id ${d.external_id}` : ""}
          {Object.keys(d.metadata ?? {}).length ? (
            <code class="meta">{JSON.stringify(d.metadata)}</code>
          ) : null}
        </p>
      ) : null}
      {d?.error ? <ErrorBox error={new Error(d.error)} testid="doc-failure" /> : null}
      <div class="split">
        <section class="card chunks" aria-labelledby="chunks-h">
          <h2 id="chunks-h">Chunks {chunks.data ? `(${chunks.data.length})` : ""}</h2>
          <ErrorBox error={chunks.error} />
          <ol class="chunk-list">
            {(chunks.data ?? []).map((c) => (
              <li key={c.chunk_id} class={c.ordinal === selected ? "chunk selected" : "chunk"} data-ordinal={c.ordinal}>
                <div class="chunk-head">
                  <strong>#{c.ordinal}</strong>
                  {c.page !== null ? <span>page {c.page}</span> : null}
                  <span>
                    chars {c.char_start ?? "?"}–{c.char_end ?? "?"}
                  </span>
                  <button
                    type="button"
                    aria-pressed={c.ordinal === selected}
                    onClick={() => setSelected(c.ordinal)}
                  >
                    Show in text<span class="sr-only"> (chunk {c.ordinal})</span>
                  </button>
                </div>
                <p class="chunk-text">{c.text}</p>
                {Object.keys(c.metadata).length ? <code class="meta">{JSON.stringify(c.metadata)}</code> : null}
              </li>
            ))}
          </ol>
        </section>
        <section class="card text-panel" aria-labelledby="text-h">
          <h2 id="text-h">Document text</h2>
          <ErrorBox error={text.error} />
          {text.data ? <TextWithHighlight doc={text.data} chunk={current} /> : null}
        </section>
      </div>
    </>
  );
}

/** The text with the chunk's [char_start, char_end) marked. Offsets count Unicode code points
 *  (Rust chars), so the text is sliced by code point, not by UTF-16 unit. */
function TextWithHighlight({ doc, chunk }: { doc: DocText; chunk: Chunk | null }) {
  const points = useMemo(() => Array.from(doc.text), [doc.text]);
  const mark = useRef<HTMLElement>(null);
  useEffect(() => {
    mark.current?.scrollIntoView({ block: "center" });
  }, [chunk?.chunk_id]);
  const pageOf = (at: number) => doc.sections.find((s) => s.char_start <= at && at <= s.char_end)?.page ?? null;
  if (!chunk || chunk.char_start === null || chunk.char_end === null) {
    return (
      <>
        <p class="muted">Choose “Show in text” on a chunk to see where it sits.</p>
        <pre class="doc-text">{doc.text}</pre>
      </>
    );
  }
  const [s, e] = [chunk.char_start, chunk.char_end];
  const page = pageOf(s);
  return (
    <>
      <p class="muted" role="status">
        Chunk #{chunk.ordinal}: characters {s}–{e} of {points.length}
        {page !== null ? `, page ${page}` : ""}.
      </p>
      <pre class="doc-text">
        {points.slice(0, s).join("")}
        <mark ref={mark} data-testid="highlight">
          {points.slice(s, e).join("")}
        </mark>
        {points.slice(e).join("")}
      </pre>
    </>
  );
}
