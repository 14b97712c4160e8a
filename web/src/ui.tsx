// Small shared pieces: the API error box, labelled fields, a confirm dialog, progress bars,
// status badges, and a hook that loads (and optionally polls) an API resource.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";

/** An API error exactly as the API wrote it: message, and the parameter it names. */
export function ErrorBox({ error, testid }: { error: unknown; testid?: string }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : new ApiError(String((error as Error)?.message ?? error), 0);
  return (
    <div class="error" role="alert" data-testid={testid ?? "error"}>
      <strong>{e.status ? `Error ${e.status}` : "Error"}</strong>
      {e.code ? <span class="code"> {e.code}</span> : null}: <span class="message">{e.message}</span>
      {e.param ? (
        <div class="param">
          parameter: <code>{e.param}</code>
        </div>
      ) : null}
    </div>
  );
}

let fieldIds = 0;
/** A label bound to its control (every control has one), with an optional hint. */
export function Field(props: {
  label: string;
  hint?: string;
  children: (id: string) => ComponentChildren;
  wide?: boolean;
}) {
  const id = useRef(`f${++fieldIds}`).current;
  return (
    <div class={props.wide ? "field wide" : "field"}>
      <label for={id}>{props.label}</label>
      {props.children(id)}
      {props.hint ? <small id={`${id}-hint`}>{props.hint}</small> : null}
    </div>
  );
}

export function Progress({ value, label }: { value: number; label: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div class="progress-wrap">
      <progress max={100} value={pct} aria-label={label}>
        {pct}%
      </progress>
      <span class="pct">{pct}%</span>
    </div>
  );
}

export function Status({ status }: { status: string }) {
  return <span class={`badge s-${status}`}>{status}</span>;
}

/** A modal confirmation on the platform's <dialog>: focus is trapped and Escape cancels. */
export function Confirm(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useRef(`confirm-${++fieldIds}`).current;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} onCancel={props.onCancel} aria-labelledby={titleId}>
      <h2 id={titleId}>{props.title}</h2>
      <div>{props.children}</div>
      <div class="row end">
        <button type="button" onClick={props.onCancel} autofocus>
          Cancel
        </button>
        <button type="button" class="danger" onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** Load `fetcher()`; re-run on `deps`; poll every `pollMs` while `shouldPoll(data)`. */
export function useResource<T>(
  fetcher: () => Promise<T>,
  deps: unknown[],
  poll?: { ms: number; while: (d: T) => boolean },
) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const d = await fetcher();
      if (mine === seq.current) {
        setData(d);
        setError(null);
      }
    } catch (e) {
      if (mine === seq.current) setError(e);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, deps);
  useEffect(() => {
    setLoading(true);
    reload();
  }, [reload]);
  useEffect(() => {
    if (!poll || data === null || !poll.while(data)) return;
    const t = setTimeout(reload, poll.ms);
    return () => clearTimeout(t);
  }, [data, reload]);
  return { data, error, loading, reload, setData };
}

export function fmtTime(ms: number | null | undefined) {
  if (!ms) return "—";
  const d = new Date(ms);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function fmtBytes(n: number) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

export function fmtScore(x: number | null | undefined) {
  return x === null || x === undefined ? "—" : x.toFixed(4);
}

/** A page heading that takes focus on navigation, so screen readers and keyboards start there. */
export function PageTitle({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

/** Copy text with the platform clipboard; says whether it worked. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<"" | "copied" | "failed">("");
  return (
    <button
      type="button"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setState("copied");
        } catch {
          setState("failed");
        }
      }}
    >
      {label}
      <span aria-live="polite" class="copy-state">
        {state === "copied" ? " ✓ copied" : state === "failed" ? " (copy failed: select the text)" : ""}
      </span>
    </button>
  );
}
