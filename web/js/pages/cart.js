// The cart: quantities bounded by availability (refreshed from the API when the page opens
// and live afterwards), and totals with the tax the API will charge.
//
// One source of truth: every figure on the page (quantities, line totals, totals, and the
// header's count, drawn by app.js) is drawn from the cart store after every change, whatever
// order a typed edit, an availability refresh and a live stock event arrive in. Rows are built
// once and updated in place, so a redraw never removes the field the shopper is in (removing a
// focused, edited field fires its "change" in the middle of the redraw); a quantity being typed
// is kept until the shopper commits it (change) or leaves the field, then the store decides.

import { get } from "../api.js";
import * as cart from "../cart.js";
import { config } from "../config.js";
import { h, notice } from "../dom.js";
import { money } from "../format.js";
import { href } from "../router.js";
import { user } from "../session.js";
import { bus } from "../store.js";
import { stockBadge, title, updateStockBadge } from "../widgets.js";

export function totalsBlock() {
  const t = cart.totals(config.taxRateBps);
  return h("div", { class: "totals" }, h("dl", { class: "kv" },
    h("dt", {}, "Subtotal"), h("dd", { "data-total": "subtotal" }, money(t.subtotal, t.currency)),
    h("dt", {}, `Tax (${(config.taxRateBps / 100).toFixed(2).replace(/\.00$/, "")}%)`), h("dd", { "data-total": "tax" }, money(t.tax, t.currency)),
    h("dt", { class: "grand" }, "Total"), h("dd", { class: "grand", "data-total": "total" }, money(t.total, t.currency))),
    t.mixed ? notice("warning", "Items in different currencies cannot be ordered together.") : null);
}

export function cartPage(main) {
  let alive = true;
  const body = h("div", { "aria-busy": "true" });
  const problems = h("div", { "aria-live": "polite" });
  const rows = new Map(); // productId → the row's elements and whether its quantity is being typed
  const tbody = h("tbody");
  const totals = h("div");
  const actions = h("div", { class: "actions" });
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, "Items in your cart"),
    h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num" }, "Price"), h("th", {}, "Quantity"), h("th", { class: "num" }, "Line total"), h("th", {}, h("span", { class: "visually-hidden" }, "Actions")))),
    tbody));
  let signedIn = null;

  /** The shopper committed a quantity: the store bounds it by what is available now. */
  function commit(productId, r) {
    r.editing = false;
    const line = cart.lines().find((l) => l.productId === productId);
    if (!line) {
      draw();
      return;
    }
    const wanted = Math.floor(Number(r.input.value) || 0);
    if (wanted > line.available) problems.replaceChildren(notice("warning", `Only ${line.available} of ${line.name} (${line.sku}) available.`));
    else problems.replaceChildren();
    if (wanted <= 0) cart.remove(productId);
    else cart.setQuantity(productId, wanted);
    draw(); // also when the store did not change: the field shows the store's figure again
  }

  function makeRow(l) {
    const id = l.productId;
    const r = {
      editing: false,
      link: h("a", { href: href(`/product/${id}`) }),
      badge: stockBadge(l.available),
      price: h("td", { class: "num" }),
      input: h("input", { type: "number", min: 1, step: 1, id: `qty-${id}` }),
      lineTotal: h("td", { class: "num", "data-line-total": "" }),
      remove: h("button", { type: "button", class: "secondary", onclick: () => cart.remove(id) }, "Remove"),
    };
    r.input.addEventListener("input", () => {
      r.editing = true;
    });
    r.input.addEventListener("change", () => commit(id, r));
    r.input.addEventListener("blur", () => {
      if (!r.editing) return; // typed back to what it was: no change event; show the store's figure
      r.editing = false;
      draw();
    });
    r.tr = h("tr", { "data-product-id": id },
      h("td", {}, r.link, h("br"), r.badge), r.price, h("td", {}, r.input), r.lineTotal, h("td", {}, r.remove));
    return r;
  }

  function fillRow(r, l) {
    r.link.textContent = l.name;
    updateStockBadge(r.badge, l.available);
    r.price.textContent = money(l.priceCents, l.currency);
    r.input.max = String(Math.max(1, l.available));
    r.input.setAttribute("aria-label", `Quantity of ${l.name}`);
    if (!r.editing) r.input.value = String(l.quantity);
    r.lineTotal.textContent = money(l.priceCents * l.quantity, l.currency);
    r.remove.setAttribute("aria-label", `Remove ${l.name}`);
  }

  function drawOnce() {
    const lines = cart.lines();
    if (!lines.length) {
      rows.clear();
      tbody.replaceChildren();
      body.replaceChildren(h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the products")));
      return;
    }
    if (table.parentNode !== body) body.replaceChildren(table, totals, actions);
    const keep = new Set(lines.map((l) => l.productId));
    for (const [id, r] of rows) {
      if (keep.has(id)) continue;
      rows.delete(id);
      r.tr.remove();
    }
    lines.forEach((l, i) => {
      let r = rows.get(l.productId);
      if (!r) {
        r = makeRow(l);
        rows.set(l.productId, r);
      }
      fillRow(r, l);
      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
    });
    totals.replaceChildren(totalsBlock());
    const u = user();
    if (signedIn !== Boolean(u)) {
      signedIn = Boolean(u);
      actions.replaceChildren(
        u ? h("a", { class: "button", href: href("/checkout") }, "Checkout")
          : h("a", { class: "button", href: href("/login", { next: "/checkout" }) }, "Sign in to check out"),
        h("a", { href: "#/" }, "Continue shopping"));
    }
  }

  // A change that arrives while drawing (a row's removal can fire its field's "change") draws
  // again from the newest state once the current pass is done, never half from the old one.
  let drawing = false;
  let again = false;
  function draw() {
    if (drawing) {
      again = true;
      return;
    }
    drawing = true;
    try {
      do {
        again = false;
        drawOnce();
      } while (again);
    } finally {
      drawing = false;
    }
  }

  async function refreshFromApi() {
    for (const l of cart.lines()) {
      try {
        const p = await get(`/api/products/${encodeURIComponent(l.productId)}`);
        if (!alive) return;
        cart.refresh(p.id, p);
      } catch (err) {
        if (!alive) return;
        if (err.status === 404) {
          cart.remove(l.productId);
          problems.replaceChildren(notice("warning", `${l.name} (${l.sku}) is no longer sold and was removed from your cart.`));
        } else problems.replaceChildren(notice("error", err.message));
      }
    }
    if (alive) body.setAttribute("aria-busy", "false"); // availability checked
  }

  // Live stock reaches the store through app.js (inventory:updated), on every page.
  const offs = [
    cart.cart.subscribe(draw),
    bus.on("product:updated", (d) => cart.refresh(d.productId, d)),
  ];
  main.append(title("Your cart"), problems, body);
  draw();
  refreshFromApi();
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}
