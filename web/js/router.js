// Routes on the URL's hash (#/path?query), so the URL is the state a person can share or
// reload, the back button works, and any static host can serve the site.

const routes = [];
let cleanup = null;
let rendering = 0;

/** route("/orders/:id", render): render(main, params, query) may return a function to call on leave. */
export function route(pattern, render) {
  const names = [];
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, n) => { names.push(n); return "([^/]+)"; })}$`);
  routes.push({ re, names, render });
}

export function current() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(1) : "/";
  const [path, qs = ""] = raw.split("?");
  return { path: path || "/", query: Object.fromEntries(new URLSearchParams(qs)) };
}

export function href(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

export function navigate(path, query = {}, { replace = false } = {}) {
  const target = href(path, query);
  if (location.hash === target) render();
  else if (replace) {
    history.replaceState(null, "", target);
    render();
  } else location.hash = target;
}

export async function render() {
  const main = document.getElementById("main");
  const { path, query } = current();
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const token = ++rendering;
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
    main.replaceChildren();
    let off;
    try {
      off = await r.render(main, params, query);
    } catch (err) {
      if (token !== rendering) return;
      message(main, "This page could not be loaded", `${err.message || err}. Check your connection and reload.`);
      return;
    }
    if (token !== rendering) {
      if (typeof off === "function") off();
      return;
    }
    cleanup = off;
    window.dispatchEvent(new CustomEvent("routechange", { detail: { path } }));
    return;
  }
  message(main, "Page not found", "There is nothing at this address.");
  window.dispatchEvent(new CustomEvent("routechange", { detail: { path } }));
}

function message(main, heading, text) {
  const h1 = document.createElement("h1");
  h1.textContent = heading;
  const p = document.createElement("p");
  p.textContent = `${text} `;
  const a = document.createElement("a");
  a.href = "#/";
  a.textContent = "Back to the shop";
  p.append(a);
  main.replaceChildren(h1, p);
}

export function startRouter() {
  window.addEventListener("hashchange", () => {
    if (location.hash === "" || location.hash.startsWith("#/")) render();
  });
  return render();
}
