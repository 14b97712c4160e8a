// The public ragway API, as the console calls it: fetch with the session's headers, errors
// kept exactly as the API wrote them, SSE read from a ReadableStream, uploads with progress.

export interface Session {
  token: string;
  /** X-PROJECT-ID */
  project: string;
  /** X-USER-ID, needed with a service key (and optional with the admin token). */
  actingUser?: string;
  /** From /v1/whoami. */
  userId: string | null;
  tokenKind: "pat" | "service_key" | "admin";
}

const KEY = "ragway.console.session";

/** The session lives in this tab's sessionStorage only: never a cookie, gone with the tab. */
export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

/** An error answer of the API: `{"error": {message, type, param, code}}`, kept as written. */
export class ApiError extends Error {
  constructor(
    message: string,
    public status: number,
    public param: string | null = null,
    public code: string | null = null,
    public type: string | null = null,
  ) {
    super(message);
  }
}

function headersFor(s: Pick<Session, "token" | "project" | "actingUser"> | null, extra?: Record<string, string>) {
  const h: Record<string, string> = { ...extra };
  if (s) {
    h["Authorization"] = `Bearer ${s.token}`;
    if (s.project) h["X-PROJECT-ID"] = s.project;
    if (s.actingUser) h["X-USER-ID"] = s.actingUser;
  }
  return h;
}

async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const e = JSON.parse(text).error;
    if (e && typeof e.message === "string") {
      return new ApiError(e.message, res.status, e.param ?? null, e.code ?? null, e.type ?? null);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(text || res.statusText || `HTTP ${res.status}`, res.status);
}

let session: Session | null = loadSession();
let onUnauthorized: (() => void) | null = null;

export function currentSession() {
  return session;
}
export function setSession(s: Session | null) {
  session = s;
  saveSession(s);
}
export function onSignedOut(f: () => void) {
  onUnauthorized = f;
}

/** Call the API with the session (or the one given, for signing in). */
export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  as: Pick<Session, "token" | "project" | "actingUser"> | null = session,
): Promise<T> {
  const init: RequestInit = { method, headers: headersFor(as) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`could not reach ragway: ${(e as Error).message}`, 0);
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    // A token revoked while signed in: back to the sign-in page, with the API's message.
    if (res.status === 401 && as === session && session) onUnauthorized?.();
    throw err;
  }
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** POST a body with `stream: true` and hand each SSE `data:` JSON event to `onEvent`. */
export async function streamSse(path: string, body: unknown, onEvent: (e: any) => void, signal?: AbortSignal) {
  const res = await fetch(path, {
    method: "POST",
    headers: headersFor(session, { "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await errorFrom(res);
  if (!res.body) throw new ApiError("the response has no body to stream", res.status);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let at: number;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      // A block is one event: its `data:` lines joined; `:` lines are keep-alive comments.
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      const event = JSON.parse(data);
      if (event.error) {
        const e = event.error;
        throw new ApiError(e.message ?? "stream error", 200, e.param ?? null, e.code ?? null, e.type ?? null);
      }
      onEvent(event);
    }
  }
}

/**
 * Upload one file as multipart, reporting the bytes sent. XMLHttpRequest, not fetch: only it
 * reports upload progress, which the console shows per file.
 */
export function uploadFile(
  kb: string,
  file: File,
  opts: { metadata?: string; externalId?: string },
  onProgress: (fraction: number) => void,
): Promise<any> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    if (opts.metadata && opts.metadata.trim()) form.append("metadata", opts.metadata);
    if (opts.externalId && opts.externalId.trim()) form.append("external_id", opts.externalId.trim());
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/knowledge_bases/${encodeURIComponent(kb)}/documents`);
    for (const [k, v] of Object.entries(headersFor(session))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError("could not reach ragway", 0));
    xhr.onload = () => {
      const res = new Response(xhr.responseText, { status: xhr.status });
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(JSON.parse(xhr.responseText).data?.[0]);
      } else {
        errorFrom(res).then(reject);
      }
    };
    xhr.send(form);
  });
}

export const enc = encodeURIComponent;
