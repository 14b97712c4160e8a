// A chat's log (GET /v1/chats/{id}): each request's search query, what it retrieved with
// scores, per-stage timings, usage and outcome.
import { api, enc } from "../api";
import { href } from "../router";
import { ErrorBox, PageTitle, fmtScore, fmtTime, useResource } from "../ui";
import { Timings } from "./Retrieval";

interface Entry {
  id: string;
  model: string;
  search_query: string | null;
  retrieved: { chunk_id: string; document_id: string; kb_id: string; score: number }[] | null;
  timings: Record<string, number> | null;
  usage: Record<string, number> | null;
  outcome: string;
  error: string | null;
  created_at: number;
}

export function ChatLog({ id }: { id: string }) {
  const log = useResource(() => api<{ data: Entry[] }>("GET", `/v1/chats/${enc(id)}`).then((r) => r.data), [id]);
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href={href("chat")}>Chat</a> / <span>log</span>
      </nav>
      <PageTitle>Chat log “{id}”</PageTitle>
      <ErrorBox error={log.error} />
      {(log.data ?? []).map((e, i) => (
        <section class="card" key={e.id} aria-labelledby={`entry-${i}`} data-testid="log-entry">
          <h2 id={`entry-${i}`}>
            Request {i + 1} <span class="muted">· {fmtTime(e.created_at)} · {e.model}</span>{" "}
            <span class={`badge ${e.outcome === "ok" ? "s-ready" : "s-failed"}`}>{e.outcome}</span>
          </h2>
          {e.error ? <ErrorBox error={new Error(e.error)} /> : null}
          <p>
            Search query: {e.search_query ? <q>{e.search_query}</q> : <span class="muted">none (no retrieval)</span>}
          </p>
          {e.timings ? <Timings t={e.timings} label={`Timings of request ${i + 1}`} /> : null}
          {e.usage ? (
            <p class="muted">
              Tokens: {e.usage.prompt_tokens ?? "?"} prompt + {e.usage.completion_tokens ?? "?"} completion
            </p>
          ) : null}
          {e.retrieved && e.retrieved.length ? (
            <div class="table-wrap">
              <table>
                <caption>Retrieved chunks, in the order given to the model</caption>
                <thead>
                  <tr>
                    <th scope="col" class="num">
                      #
                    </th>
                    <th scope="col">Chunk</th>
                    <th scope="col" class="num">
                      Score
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {e.retrieved.map((r, j) => (
                    <tr key={r.chunk_id}>
                      <td class="num">{j}</td>
                      <td>
                        <a href={href("kbs", r.kb_id, "docs", r.document_id)}>
                          {r.kb_id} / document {r.document_id.slice(0, 8)}
                        </a>
                        <div class="muted mono">{r.chunk_id}</div>
                      </td>
                      <td class="num">{fmtScore(r.score)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </section>
      ))}
    </>
  );
}
