// Pieces several pages share: status and stock badges, error boxes, the sign-in guard.

import { h, notice, setFieldError } from "./dom.js";
import { PAYMENT_LABELS } from "./orderstates.js";
import { href } from "./router.js";
import { user } from "./session.js";

export const LOW_STOCK = 10;

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, "data-status": status }, status);
}

export function paymentLabel(paymentStatus) {
  return PAYMENT_LABELS[paymentStatus] || paymentStatus || "";
}

/** "N left" / "Out of stock" as text (the colour only repeats it). */
export function stockText(available) {
  const n = Number(available) || 0;
  return n <= 0 ? "Out of stock" : `${n} left`;
}

export function stockClass(available) {
  const n = Number(available) || 0;
  return n <= 0 ? "stock out" : n < LOW_STOCK ? "stock low" : "stock ok";
}

export function stockBadge(available) {
  return h("span", { class: stockClass(available), "data-stock": "" }, stockText(available));
}

export function updateStockBadge(el, available) {
  el.className = stockClass(available);
  el.textContent = stockText(available);
}

/** An API error as people should read it: the API's own message, with a retry when given. */
export function errorBox(err, retry) {
  return notice("error", err?.message || String(err), retry ? [" ", h("button", { type: "button", class: "secondary", onclick: retry }, "Try again")] : null);
}

/** Null when the signed-in user has `role` (or any role when null); else the explanation to show. */
export function guard(role = null) {
  const u = user();
  const back = location.hash.slice(1) || "/";
  if (!u) {
    return [
      h("h1", {}, role === "admin" ? "Admin" : "Sign in needed"),
      notice("warning", role === "admin" ? "The admin pages need you to sign in with an admin account. " : "Please sign in to see this page. ",
        h("a", { href: href("/login", { next: back }) }, "Sign in")),
    ];
  }
  if (role && u.role !== role) {
    return [
      h("h1", {}, role === "admin" ? "Admin" : "Not available"),
      notice("warning", role === "admin"
        ? `This page needs the admin role. You are signed in as ${u.email} (${u.role}).`
        : `This page is for ${role}s. You are signed in as ${u.email} (${u.role}).`),
    ];
  }
  return null;
}

/** Show the guard's explanation in `main` and return true when the page must not be shown. */
export function denied(main, role = null) {
  const blocked = guard(role);
  if (blocked) main.append(...blocked);
  return Boolean(blocked);
}

/**
 * Put an API error's field messages under the matching fields ({name: field()}); `aliases` maps
 * other API field names (or error codes) to field names. Returns whether any field got one.
 */
export function showFieldErrors(fields, err, aliases = {}) {
  let placed = false;
  const byField = err.fieldErrors ? err.fieldErrors() : {};
  if (aliases[err.code]) byField[aliases[err.code]] = err.message;
  for (const [apiName, message] of Object.entries(byField)) {
    const f = fields[aliases[apiName] || apiName];
    if (f) {
      setFieldError(f, message);
      placed = true;
    }
  }
  return placed;
}

/** Focus the first field marked invalid (or `fallback`). */
export function focusFirstInvalid(fields, fallback = null) {
  const bad = Object.values(fields).find((f) => f.input.getAttribute("aria-invalid") === "true");
  (bad ? bad.input : fallback)?.focus();
}

/** A page title that also names the page for the browser tab. */
export function title(text) {
  document.title = `${text} · Shop`;
  return h("h1", {}, text);
}
