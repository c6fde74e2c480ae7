// Stock, reserved, sold and available per product, live; low and out-of-stock rows highlighted
// with the relay's admin:alert message; restock (add a delta) or set the stock, with validation.

import { get, patch } from "../api.js";
import { alertFor, alerts, productLabel } from "../alerts.js";
import { fill as fillEl, h, notice } from "../dom.js";
import { bus } from "../store.js";
import { errorBox, denied, LOW_STOCK, stockText, title } from "../widgets.js";

const MAX_PAGES = 20;

function integer(text) {
  const t = String(text).trim();
  return /^-?\d+$/.test(t) ? Number(t) : null;
}

export function adminInventoryPage(main) {
  if (denied(main, "admin")) return undefined;
  let alive = true;
  const rows = new Map();
  const names = new Map();
  const tbody = h("tbody");
  const problems = h("div", { "aria-live": "polite" });

  function level(r) {
    return r.available <= 0 ? "out" : r.available < LOW_STOCK ? "low" : "ok";
  }

  function adjustForm(r, kind) {
    const label = kind === "delta" ? `Restock ${r.sku} by` : `Set stock of ${r.sku} to`;
    const input = h("input", { type: "number", step: 1, "aria-label": label, name: kind, min: kind === "stock" ? 0 : null,
      placeholder: kind === "delta" ? "+/- units" : "units" });
    const error = h("span", { class: "field-error", id: `err-${kind}-${r.productId}` });
    input.setAttribute("aria-describedby", error.id);
    const button = h("button", { type: "submit", class: "secondary" }, kind === "delta" ? "Restock" : "Set");
    // The form's name must not contain the input's, or "Set stock of X to" would name both.
    const formLabel = kind === "delta" ? `Restock ${r.sku}` : `Set stock of ${r.sku}`;
    const form = h("form", { class: "inline-form", novalidate: true, "aria-label": formLabel }, input, button, error);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      input.removeAttribute("aria-invalid");
      const n = integer(input.value);
      let bad = null;
      if (n === null) bad = "Enter a whole number";
      else if (kind === "delta" && n === 0) bad = "Enter a change other than 0";
      else if (kind === "stock" && n < 0) bad = "Stock cannot be negative";
      else if (kind === "delta" && r.stock + n < 0) bad = `Stock is ${r.stock}: cannot remove ${-n}`;
      if (bad) {
        error.textContent = bad;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      button.disabled = true;
      try {
        const updated = await patch(`/api/inventory/${encodeURIComponent(r.productId)}`, { [kind]: n });
        apply(updated);
        problems.replaceChildren(notice("success", `${productLabel(names.get(r.productId), r.sku)}: stock is now ${updated.stock} (${updated.available} available).`));
      } catch (err) {
        const byField = err.fieldErrors ? err.fieldErrors() : {};
        error.textContent = byField[kind] || err.message;
        input.setAttribute("aria-invalid", "true");
        button.disabled = false;
        input.focus();
      }
    });
    return form;
  }

  // The row is built once; live updates change its cells, never its forms (an admin may be typing).
  function build(r) {
    r.cells = {
      name: h("td"),
      stock: h("td", { class: "num", "data-col": "stock" }),
      reserved: h("td", { class: "num", "data-col": "reserved" }),
      sold: h("td", { class: "num", "data-col": "sold" }),
      available: h("td", { class: "num", "data-col": "available" }),
      state: h("td", { "data-col": "state" }),
    };
    r.tr.replaceChildren(...Object.values(r.cells), h("td", {}, adjustForm(r, "delta")), h("td", {}, adjustForm(r, "stock")));
    fill(r);
  }

  function fill(r) {
    const lv = level(r);
    const a = alertFor(r.productId);
    r.alertMessage = a ? a.message : null;
    r.tr.className = lv === "ok" ? "" : `row-${lv}`;
    r.tr.dataset.level = lv;
    r.cells.name.replaceChildren(names.get(r.productId) || r.sku, h("br"), h("span", { class: "muted" }, r.sku));
    for (const k of ["stock", "reserved", "available"]) r.cells[k].textContent = String(r[k]);
    r.cells.sold.textContent = String(r.sold ?? 0);
    fillEl(r.cells.state, h("span", { class: lv === "out" ? "stock out" : lv === "low" ? "stock low" : "stock ok" },
      lv === "ok" ? "OK" : lv === "low" ? `Low: ${stockText(r.available)}` : "Out of stock"),
    a ? h("div", { class: "muted", "data-alert": a.severity }, a.message) : null);
  }

  function apply(d) {
    const r = rows.get(d.productId);
    if (!r) {
      if (d.sku !== undefined) put({ ...d, sold: d.sold ?? 0 }, true);
      return;
    }
    for (const k of ["stock", "reserved", "available", "sold", "sku"]) if (d[k] !== undefined) r[k] = d[k];
    fill(r);
  }

  function put(rec, atTop = false) {
    if (rows.has(rec.productId)) return;
    const r = { ...rec, tr: h("tr", { "data-product-id": rec.productId }) };
    rows.set(rec.productId, r);
    build(r);
    if (atTop) tbody.prepend(r.tr);
    else tbody.append(r.tr);
  }

  async function loadNames() {
    let cursor;
    for (let i = 0; i < MAX_PAGES; i += 1) {
      const page = await get("/api/products", { limit: 100, cursor });
      page.items.forEach((p) => names.set(p.id, p.name));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
  }

  async function loadRecords() {
    let cursor;
    const all = [];
    for (let i = 0; i < MAX_PAGES; i += 1) {
      const page = await get("/api/inventory", { limit: 100, cursor });
      all.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    return all;
  }

  async function load() {
    problems.replaceChildren(h("p", { class: "loading" }, "Loading the inventory…"));
    try {
      const [all] = await Promise.all([loadRecords(), loadNames()]);
      if (!alive) return;
      rows.clear();
      tbody.replaceChildren();
      all.sort((a, b) => (a.available - b.available) || String(names.get(a.productId) || a.sku).localeCompare(String(names.get(b.productId) || b.sku)));
      all.forEach((rec) => put(rec));
      problems.replaceChildren();
    } catch (err) {
      if (alive) problems.replaceChildren(errorBox(err, load));
    }
  }

  const offs = [
    bus.on("admin:inventory:updated", apply),
    bus.on("admin:product:created", (d) => {
      names.set(d.productId, d.name);
      get(`/api/inventory/${encodeURIComponent(d.productId)}`).then((rec) => alive && apply(rec)).catch(() => {});
    }),
    bus.on("admin:product:updated", (d) => {
      if (d.name === undefined) return;
      names.set(d.productId, d.name);
      const r = rows.get(d.productId);
      if (r) fill(r);
    }),
    alerts.subscribe(() => rows.forEach((r) => {
      if ((alertFor(r.productId)?.message || null) !== r.alertMessage) apply({ productId: r.productId });
    })),
    bus.on("live:gap", load),
  ];

  main.append(title("Inventory"), h("p", { class: "muted" }, `Rows below ${LOW_STOCK} available are highlighted; the lowest come first.`),
    problems,
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, "Inventory per product"),
      h("thead", {}, h("tr", {}, ["Product", "Stock", "Reserved", "Sold", "Available", "State", "Restock / write off", "Set stock"].map((t) =>
        h("th", { class: ["Stock", "Reserved", "Sold", "Available"].includes(t) ? "num" : null }, t)))),
      tbody)));
  load();
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}
