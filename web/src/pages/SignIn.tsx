// Sign in with a PAT, service key or admin token, then pick the project: the API's own
// X-PROJECT-ID / X-USER-ID rules decide (GET /v1/whoami), the console only asks.
import { useState } from "preact/hooks";
import { api, type Session } from "../api";
import { ErrorBox, Field } from "../ui";

interface Project {
  id: string;
  name: string;
}

export function SignIn({ onSignedIn, expired }: { onSignedIn: (s: Session) => void; expired: boolean }) {
  const [token, setToken] = useState("");
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [project, setProject] = useState("");
  const [actingUser, setActingUser] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function checkToken(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await api<{ data: Project[] }>("GET", "/v1/projects", undefined, { token: token.trim(), project: "" });
      setProjects(res.data);
      setProject(res.data[0]?.id ?? "");
    } catch (err) {
      setError(err);
      setProjects(null);
    } finally {
      setBusy(false);
    }
  }

  async function choose(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const as = { token: token.trim(), project, actingUser: actingUser.trim() || undefined };
    try {
      const who = await api<{ user_id: string | null; project_id: string; token_kind: Session["tokenKind"] }>(
        "GET",
        "/v1/whoami",
        undefined,
        as,
      );
      onSignedIn({ ...as, project: who.project_id, userId: who.user_id, tokenKind: who.token_kind });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="signin">
      <h1>Sign in to ragway</h1>
      {expired ? (
        <p class="notice" role="status">
          Your token was refused (revoked or expired). Sign in again.
        </p>
      ) : null}
      <p>
        Paste a personal access token, a project's service key or the admin token. It is kept in this tab only
        (session storage, never a cookie) and sent to this server alone. <code>scripts/run</code> prints a dev token
        and writes it to <code>data/dev-token</code>.
      </p>
      <form onSubmit={checkToken} aria-label="Sign in with a token">
        <Field label="Token">
          {(id) => (
            <input
              id={id}
              name="token"
              type="password"
              autocomplete="off"
              required
              value={token}
              onInput={(e) => {
                setToken(e.currentTarget.value);
                setProjects(null);
              }}
            />
          )}
        </Field>
        <button type="submit" class="primary" disabled={busy || !token.trim()}>
          Sign in
        </button>
      </form>
      {projects ? (
        <form onSubmit={choose} aria-label="Choose the project" class="step">
          {projects.length === 0 ? (
            <p>This token may not act in any project. Ask a project owner to add you.</p>
          ) : (
            <>
              <Field label="Project" hint="Sent as X-PROJECT-ID with every request.">
                {(id) => (
                  <select id={id} name="project" value={project} onChange={(e) => setProject(e.currentTarget.value)}>
                    {projects.map((p) => (
                      <option value={p.id} key={p.id}>
                        {p.name === p.id ? p.id : `${p.name} (${p.id})`}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <Field
                label="Acting user (optional)"
                hint="Sent as X-USER-ID: required with a service key, optional with the admin token, must be yours with a PAT."
              >
                {(id) => (
                  <input id={id} name="acting_user" value={actingUser} onInput={(e) => setActingUser(e.currentTarget.value)} />
                )}
              </Field>
              <button type="submit" class="primary" disabled={busy || !project}>
                Continue
              </button>
            </>
          )}
        </form>
      ) : null}
      <ErrorBox error={error} />
    </main>
  );
}
