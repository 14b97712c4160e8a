// The console's frame: sign-in gate, navigation, and the page for the current route.
import { useEffect, useState } from "preact/hooks";
import { currentSession, onSignedOut, setSession, type Session } from "./api";
import { href, useRoute } from "./router";
import { SignIn } from "./pages/SignIn";
import { KnowledgeBases } from "./pages/KnowledgeBases";
import { KnowledgeBase } from "./pages/KnowledgeBase";
import { DocumentView } from "./pages/Document";
import { Retrieval } from "./pages/Retrieval";
import { Chat } from "./pages/Chat";
import { ChatLog } from "./pages/ChatLog";
import { Jobs } from "./pages/Jobs";
import { Access } from "./pages/Access";

const NAV: [string, string][] = [
  ["kbs", "Knowledge bases"],
  ["search", "Retrieval"],
  ["chat", "Chat"],
  ["jobs", "Jobs"],
  ["access", "Access"],
];

export function App() {
  const [session, setS] = useState<Session | null>(currentSession());
  const [expired, setExpired] = useState(false);
  const route = useRoute();
  useEffect(() => {
    onSignedOut(() => {
      setSession(null);
      setS(null);
      setExpired(true);
    });
  }, []);
  if (!session) {
    return (
      <SignIn
        expired={expired}
        onSignedIn={(s) => {
          setSession(s);
          setS(s);
          setExpired(false);
          if (!location.hash || location.hash === "#/") location.hash = href("kbs");
        }}
      />
    );
  }
  const [page = "kbs", a, b, c, d] = route;
  let body;
  if (page === "kbs" && a && b === "docs" && c) body = <DocumentView kb={a} doc={c} chunk={d} />;
  else if (page === "kbs" && a) body = <KnowledgeBase id={a} />;
  else if (page === "search") body = <Retrieval initialKb={a} />;
  else if (page === "chat") body = <Chat />;
  else if (page === "chats" && a) body = <ChatLog id={a} />;
  else if (page === "jobs") body = <Jobs initialKb={a} />;
  else if (page === "access") body = <Access session={session} />;
  else body = <KnowledgeBases />;
  const active = page === "chats" ? "chat" : page;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href("kbs")}>
          ragway
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([k, label]) => (
              <li key={k}>
                <a href={href(k)} aria-current={active === k ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span data-testid="who">
            {session.userId ?? "admin"} · <strong>{session.project}</strong>
            <span class="kind"> ({session.tokenKind.replace("_", " ")})</span>
          </span>
          <button
            type="button"
            onClick={() => {
              setSession(null);
              setS(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1} key={route.join("/")}>
        {body}
      </main>
    </>
  );
}
