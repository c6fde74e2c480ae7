// A list fed by the API's cursor pages: "Load more" asks for the next page, `load(true)` starts
// over (a filter changed, or a `gap` said live events were missed), `put` adds one item (a live
// event) at the top. Every page with a list uses this one.

import { h } from "./dom.js";
import { errorBox } from "./widgets.js";

/**
 * fetchPage(cursor) → {items, nextCursor}; render(item, {fresh}) → an entry with `el`;
 * keyOf(item) → its id; problems: where errors go; onLoaded(list) after each page.
 */
export function pagedList({ fetchPage, container, render, keyOf = (item) => item.id, problems, onLoaded = () => {} }) {
  const entries = new Map();
  let cursor = null;
  let alive = true;
  let generation = 0;
  const button = h("button", { type: "button", class: "secondary" }, "Load more");
  const more = h("div", { class: "more" }, button);
  more.hidden = true;
  const loading = h("p", { class: "loading" }, "Loading…");

  function put(item, { atTop = false, fresh = false } = {}) {
    const key = keyOf(item);
    if (entries.has(key)) return entries.get(key);
    const entry = render(item, { fresh });
    entries.set(key, entry);
    if (atTop) container.prepend(entry.el);
    else container.append(entry.el);
    return entry;
  }

  async function load(reset = false) {
    const mine = reset ? ++generation : generation;
    button.disabled = true;
    if (!entries.size) problems.replaceChildren(loading);
    try {
      const page = await fetchPage(reset ? undefined : cursor);
      if (!alive || mine !== generation) return;
      if (reset) {
        entries.clear();
        container.replaceChildren();
      }
      problems.replaceChildren();
      page.items.forEach((item) => put(item));
      cursor = page.nextCursor;
      more.hidden = !cursor;
      onLoaded(list);
    } catch (err) {
      if (alive && mine === generation) problems.replaceChildren(errorBox(err, () => load(reset)));
    } finally {
      button.disabled = false;
    }
  }

  button.addEventListener("click", () => load(false));
  const list = {
    entries,
    more,
    put,
    load,
    get hasMore() {
      return Boolean(cursor);
    },
    stop() {
      alive = false;
    },
  };
  return list;
}
