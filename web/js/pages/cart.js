// The cart: quantities bounded by availability (refreshed from the API when the page opens
// and live afterwards), and totals with the tax the API will charge.

import { get } from "../api.js";
import * as cart from "../cart.js";
import { config } from "../config.js";
import { h, notice } from "../dom.js";
import { money } from "../format.js";
import { href } from "../router.js";
import { user } from "../session.js";
import { bus } from "../store.js";
import { stockBadge, title } from "../widgets.js";

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
  const body = h("div");
  const problems = h("div", { "aria-live": "polite" });

  function draw() {
    const focused = document.activeElement?.id;
    drawLines();
    if (focused) document.getElementById(focused)?.focus();
  }

  function drawLines() {
    const lines = cart.lines();
    if (!lines.length) {
      body.replaceChildren(h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the products")));
      return;
    }
    const rows = lines.map((l) => {
      const input = h("input", { type: "number", min: 1, max: Math.max(1, l.available), step: 1, value: l.quantity,
        id: `qty-${l.productId}`, "aria-label": `Quantity of ${l.name}` });
      input.addEventListener("change", () => {
        const wanted = Math.floor(Number(input.value) || 0);
        if (wanted > l.available) problems.replaceChildren(notice("warning", `Only ${l.available} of ${l.name} available.`));
        else problems.replaceChildren();
        if (wanted <= 0) cart.remove(l.productId);
        else cart.setQuantity(l.productId, wanted);
      });
      return h("tr", { "data-product-id": l.productId },
        h("td", {}, h("a", { href: href(`/product/${l.productId}`) }, l.name), h("br"), stockBadge(l.available)),
        h("td", { class: "num" }, money(l.priceCents, l.currency)),
        h("td", {}, input),
        h("td", { class: "num" }, money(l.priceCents * l.quantity, l.currency)),
        h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `Remove ${l.name}`, onclick: () => cart.remove(l.productId) }, "Remove")));
    });
    const u = user();
    body.replaceChildren(
      h("div", { class: "table-wrap" }, h("table", {},
        h("caption", { class: "visually-hidden" }, "Items in your cart"),
        h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num" }, "Price"), h("th", {}, "Quantity"), h("th", { class: "num" }, "Line total"), h("th", {}, h("span", { class: "visually-hidden" }, "Actions")))),
        h("tbody", {}, rows))),
      totalsBlock(),
      h("div", { class: "actions" },
        u ? h("a", { class: "button", href: href("/checkout") }, "Checkout")
          : h("a", { class: "button", href: href("/login", { next: "/checkout" }) }, "Sign in to check out"),
        h("a", { href: "#/" }, "Continue shopping")),
    );
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
          problems.replaceChildren(notice("warning", `${l.name} is no longer sold and was removed from your cart.`));
        } else problems.replaceChildren(notice("error", err.message));
      }
    }
  }

  const offs = [
    cart.cart.subscribe(draw),
    bus.on("inventory:updated", (d) => cart.refresh(d.productId, { available: d.available })),
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
