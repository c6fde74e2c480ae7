// The cart, kept in localStorage across reloads. Quantities never go above what is available;
// availability follows inventory:updated events while the page is open.

import { createStore } from "./store.js";
import { taxFor } from "./format.js";

const KEY = "shop.cart";

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((l) => l && typeof l.productId === "string") : [];
  } catch {
    return [];
  }
}

export const cart = createStore({ lines: load() });

function save(lines) {
  localStorage.setItem(KEY, JSON.stringify(lines));
  cart.set({ lines });
}

function clamp(quantity, available) {
  const q = Math.floor(Number(quantity) || 0);
  return Math.max(0, Math.min(q, Math.max(0, Number(available) || 0)));
}

export function lines() {
  return cart.get().lines;
}

export function count() {
  return lines().reduce((n, l) => n + l.quantity, 0);
}

export function quantityOf(productId) {
  return lines().find((l) => l.productId === productId)?.quantity || 0;
}

/** Add `quantity` of a product (as the API shows it); returns how many are in the cart after. */
export function add(product, quantity = 1) {
  const current = lines();
  const existing = current.find((l) => l.productId === product.id);
  const available = product.available ?? product.stock ?? 0;
  const wanted = (existing?.quantity || 0) + quantity;
  const line = {
    productId: product.id,
    name: product.name,
    sku: product.sku,
    priceCents: product.priceCents,
    currency: product.currency,
    available,
    quantity: clamp(wanted, available),
  };
  const rest = current.filter((l) => l.productId !== product.id);
  save(line.quantity > 0 ? [...rest, line] : rest);
  return line.quantity;
}

export function setQuantity(productId, quantity) {
  save(lines().map((l) => (l.productId === productId ? { ...l, quantity: clamp(quantity, l.available) } : l)).filter((l) => l.quantity > 0));
}

export function remove(productId) {
  save(lines().filter((l) => l.productId !== productId));
}

export function clear() {
  save([]);
}

/** New facts about a product (from the API or a live event): name, price, availability. */
export function refresh(productId, facts) {
  let changed = false;
  const next = lines().map((l) => {
    if (l.productId !== productId) return l;
    changed = true;
    const merged = { ...l };
    for (const k of ["name", "priceCents", "currency", "sku", "available"]) if (facts[k] !== undefined) merged[k] = facts[k];
    merged.quantity = Math.min(merged.quantity, Math.max(0, merged.available));
    return merged;
  });
  if (changed) save(next);
}

/** Subtotal, tax (as the API will charge it) and total of the cart. */
export function totals(taxRateBps) {
  const ls = lines().filter((l) => l.quantity > 0);
  const subtotal = ls.reduce((sum, l) => sum + l.priceCents * l.quantity, 0);
  const tax = taxFor(subtotal, taxRateBps);
  const currencies = [...new Set(ls.map((l) => l.currency))];
  return { subtotal, tax, total: subtotal + tax, currency: currencies[0] || "USD", mixed: currencies.length > 1 };
}
