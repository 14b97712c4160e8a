// Routing by URL fragment (`#/kbs/handbook`): the server serves one page at `/`, so the
// console needs no server routes that could shadow the API.
import { useEffect, useState } from "preact/hooks";

function parts(): string[] {
  return location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(parts());
  useEffect(() => {
    const on = () => setRoute(parts());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** A fragment link target from path parts, each part encoded. */
export function href(...p: string[]) {
  return "#/" + p.map(encodeURIComponent).join("/");
}

export function navigate(...p: string[]) {
  location.hash = href(...p);
}
