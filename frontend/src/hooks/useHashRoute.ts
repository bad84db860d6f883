import { useEffect, useState } from "react";

/** The page's places. Hash routes, so the status service can serve one static index.html. */
export type Route =
  | { name: "models" }
  | { name: "new" }
  | { name: "model"; id: string };

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, "");
  if (path === "/new") return { name: "new" };
  const match = /^\/models\/([0-9a-zA-Z-]+)$/.exec(path);
  if (match?.[1]) return { name: "model", id: match[1] };
  return { name: "models" };
}

export function hrefFor(route: Route): string {
  if (route.name === "new") return "#/new";
  if (route.name === "model") return `#/models/${route.id}`;
  return "#/";
}

/** The current route, plus a counter that changes on every navigation (used as a React key). */
export function useHashRoute(): { route: Route; visit: number } {
  const [state, setState] = useState(() => ({ route: parseHash(window.location.hash), visit: 0 }));
  useEffect(() => {
    const onChange = () => setState((s) => ({ route: parseHash(window.location.hash), visit: s.visit + 1 }));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return state;
}

/** Changes the address without a navigation (e.g. once a new model has its id). */
export function replaceRoute(route: Route): void {
  window.history.replaceState(window.history.state, "", hrefFor(route));
}
