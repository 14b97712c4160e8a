// Access: personal access tokens of the signed-in user and service keys of the project —
// create (the secret is shown once, with a copy button), list, revoke.
import { useState } from "preact/hooks";
import { api, enc, type Session } from "../api";
import { Confirm, CopyButton, ErrorBox, Field, PageTitle, fmtTime, useResource } from "../ui";

interface Token {
  id: string;
  kind: string;
  name: string;
  prefix: string;
  user_id: string | null;
  project_id: string | null;
  created_at: number;
  last_used_at?: number | null;
  revoked_at: number | null;
}

export function Access({ session }: { session: Session }) {
  return (
    <>
      <PageTitle>Access</PageTitle>
      <p class="muted">
        Signed in with a {session.tokenKind.replace("_", " ")}
        {session.userId ? ` as ${session.userId}` : ""} in project {session.project}.
      </p>
      {session.tokenKind === "pat" && session.userId ? (
        <Tokens
          title="Personal access tokens"
          what="token"
          list={`/v1/users/${enc(session.userId)}/tokens`}
          create={(name, scoped) =>
            api("POST", `/v1/users/${enc(session.userId!)}/tokens`, { name, ...(scoped ? { project_id: session.project } : {}) })
          }
          scopeLabel={`Scope to project ${session.project}`}
        />
      ) : null}
      <Tokens
        title={`Service keys of ${session.project}`}
        what="key"
        list={`/v1/projects/${enc(session.project)}/keys`}
        create={(name) => api("POST", `/v1/projects/${enc(session.project)}/keys`, { name })}
      />
    </>
  );
}

function Tokens(props: {
  title: string;
  what: "token" | "key";
  list: string;
  create: (name: string, scoped: boolean) => Promise<any>;
  scopeLabel?: string;
}) {
  const tokens = useResource(() => api<{ data: Token[] }>("GET", props.list).then((r) => r.data), [props.list]);
  const [name, setName] = useState("");
  const [scoped, setScoped] = useState(true);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const slug = props.what;
  async function create(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      const r = await props.create(name.trim() || (slug === "key" ? "service key" : "personal access token"), scoped);
      setSecret({ name: r.token.name, secret: r.secret });
      setName("");
      tokens.reload();
    } catch (err) {
      setError(err);
    }
  }
  async function revoke(t: Token) {
    setRevoking(null);
    setError(null);
    try {
      await api("DELETE", `/v1/tokens/${enc(t.id)}`);
      tokens.reload();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section class="card" aria-labelledby={`${slug}-h`} data-testid={`${slug}s`}>
      <h2 id={`${slug}-h`}>{props.title}</h2>
      <ErrorBox error={tokens.error} />
      <form onSubmit={create} class="row wrap end-items">
        <Field label={`New ${slug === "key" ? "service key" : "token"} name`}>
          {(id) => <input id={id} name={`${slug}_name`} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        {props.scopeLabel ? (
          <label class="check">
            <input type="checkbox" checked={scoped} onChange={(e) => setScoped(e.currentTarget.checked)} /> {props.scopeLabel}
          </label>
        ) : null}
        <button type="submit" class="primary">
          Create {slug === "key" ? "service key" : "token"}
        </button>
      </form>
      <ErrorBox error={error} testid={`${slug}-error`} />
      {secret ? (
        <div class="secret" role="status" data-testid="secret">
          <p>
            <strong>{secret.name}</strong>: copy the secret now. It is shown this once; ragway keeps only its hash.
          </p>
          <div class="row wrap">
            <code class="secret-value" data-testid="secret-value">
              {secret.secret}
            </code>
            <CopyButton text={secret.secret} label="Copy secret" />
            <button type="button" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
        </div>
      ) : null}
      {tokens.data && tokens.data.length ? (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col" class="narrow-hide">Prefix</th>
                <th scope="col">Scope</th>
                <th scope="col" class="narrow-hide">Created</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id} data-token={t.name} data-revoked={t.revoked_at ? "true" : "false"}>
                  <td>{t.name}</td>
                  <td class="mono narrow-hide">{t.prefix}…</td>
                  <td>{t.project_id ?? "all my projects"}</td>
                  <td class="muted narrow-hide">{fmtTime(t.created_at)}</td>
                  <td>{t.revoked_at ? <span class="badge s-failed">revoked {fmtTime(t.revoked_at)}</span> : <span class="badge s-ready">active</span>}</td>
                  <td>
                    {!t.revoked_at ? (
                      <button type="button" class="danger" onClick={() => setRevoking(t)}>
                        Revoke<span class="sr-only"> {t.name}</span>
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : tokens.data ? (
        <p>None yet.</p>
      ) : null}
      <Confirm
        open={!!revoking}
        title={`Revoke ${revoking?.name ?? ""}?`}
        confirmLabel="Revoke"
        onCancel={() => setRevoking(null)}
        onConfirm={() => revoke(revoking!)}
      >
        <p>Requests with it are refused from now on. This cannot be undone.</p>
      </Confirm>
    </section>
  );
}
