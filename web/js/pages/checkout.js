// Checkout: shipping address and a test payment token. One Idempotency-Key per checkout
// attempt (kept in sessionStorage with the exact body it was made for), so pressing "Place
// order" again after a network error returns the same order instead of placing a second one.

import { post } from "../api.js";
import * as cart from "../cart.js";
import { field, h, notice, setFieldError } from "../dom.js";
import { navigate } from "../router.js";
import { denied, showFieldErrors, title } from "../widgets.js";
import { totalsBlock } from "./cart.js";

const ATTEMPT = "shop.checkoutAttempt";
const ADDRESS = "shop.shippingAddress";

/** The key for this exact body: the saved one if the body is unchanged, else a new one. */
export function attemptKey(body) {
  const text = JSON.stringify(body);
  try {
    const saved = JSON.parse(sessionStorage.getItem(ATTEMPT) || "null");
    if (saved && saved.body === text && typeof saved.key === "string") return saved.key;
  } catch {
    /* start a new attempt */
  }
  const key = crypto.randomUUID();
  sessionStorage.setItem(ATTEMPT, JSON.stringify({ key, body: text }));
  return key;
}

function endAttempt() {
  sessionStorage.removeItem(ATTEMPT);
}

export function checkoutPage(main) {
  if (denied(main, "customer")) return undefined;
  if (!cart.lines().length) {
    main.append(title("Checkout"), h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the products")));
    return undefined;
  }
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(ADDRESS) || "{}") || {};
  } catch {
    saved = {};
  }
  const fields = {
    line1: field("Address", h("input", { name: "line1", autocomplete: "address-line1", required: true, value: saved.line1 || "" })),
    city: field("City", h("input", { name: "city", autocomplete: "address-level2", required: true, value: saved.city || "" })),
    postalCode: field("Postal code", h("input", { name: "postalCode", autocomplete: "postal-code", required: true, value: saved.postalCode || "" })),
    country: field("Country", h("input", { name: "country", autocomplete: "country", required: true, value: saved.country || "" }), { hint: "For example NO, US or Germany." }),
  };
  const token = field("Test payment token", h("input", { name: "paymentToken", value: "tok_visa", autocomplete: "off", spellcheck: "false" }),
    { hint: "tok_visa is approved; tok_declined is declined, so the order is cancelled (payment_declined)." });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Place order");
  const form = h("form", { class: "form", novalidate: true },
    h("fieldset", {}, h("legend", {}, "Shipping address"), Object.values(fields).map((f) => f.wrap)),
    h("fieldset", {}, h("legend", {}, "Payment"), token.wrap),
    totalsBlock(),
    h("p", { class: "muted" }, "Prices and tax are confirmed by the shop when the order is placed."),
    h("div", { class: "actions" }, submit, h("a", { href: "#/cart" }, "Back to cart")),
    status);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    for (const f of [...Object.values(fields), token]) setFieldError(f, "");
    const shippingAddress = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.input.value.trim()]));
    const missing = Object.entries(fields).filter(([k]) => !shippingAddress[k]);
    for (const [, f] of missing) setFieldError(f, "Required");
    if (missing.length) {
      missing[0][1].input.focus();
      return;
    }
    const body = {
      items: cart.lines().filter((l) => l.quantity > 0).map((l) => ({ productId: l.productId, quantity: l.quantity })),
      shippingAddress,
      paymentToken: token.input.value.trim() || undefined,
    };
    const key = attemptKey(body);
    submit.disabled = true;
    status.replaceChildren(h("p", { class: "muted" }, "Placing your order…"));
    try {
      const order = await post("/api/orders", body, { "Idempotency-Key": key });
      endAttempt();
      localStorage.setItem(ADDRESS, JSON.stringify(shippingAddress));
      cart.clear();
      navigate(`/orders/${order.id}`, { placed: 1 });
    } catch (err) {
      if (err.code === "network_error") {
        status.replaceChildren(notice("error", `${err.message} Your order may already have been placed: press “Place order” again to retry safely, it will not be placed twice.`));
      } else {
        showFieldErrors({ ...fields, paymentToken: token }, err, Object.fromEntries(
          Object.keys(fields).map((k) => [`shippingAddress.${k}`, k])));
        const short = err.details.filter((d) => d && d.productId && d.available !== undefined)
          .map((d) => { const l = cart.lines().find((x) => x.productId === d.productId); return `${l ? l.name : d.productId}: ${d.available} available`; });
        status.replaceChildren(notice("error", err.message, short.length ? h("ul", {}, short.map((t) => h("li", {}, t))) : null));
      }
    } finally {
      submit.disabled = false;
    }
  });

  main.append(title("Checkout"), form);
  return undefined;
}
