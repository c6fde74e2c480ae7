// Stock alerts for admins: the `admin:alert` messages of this session, one per product (the
// latest wins), seeded from the API's low-stock list when an admin signs in. People read product
// names: every alert names the product, then its SKU ("Tea Mug (DEMO-HOME-002) is out of
// stock"). Neither the relay's alert nor the inventory list carries the name: the low-stock seed
// reads the catalog's list pages, a live alert for another product asks for that product once
// (GET /api/products/{id}), and live catalog events keep the names up to date.

import { get } from "./api.js";
import { createStore } from "./store.js";

const THRESHOLD = 10;

export const alerts = createStore({ items: [] });

const names = new Map(); // productId → Promise of its name (null when it cannot be read)

/** What people read for a product: its name and, after it, its SKU. */
export function productLabel(name, sku) {
  return name ? (sku ? `${name} (${sku})` : name) : sku || "A product";
}

function alertMessage(label, available) {
  return available <= 0 ? `${label} is out of stock` : `${label} is low on stock (${available} available)`;
}

/** A product's name, asked of the API once. */
export function productName(productId) {
  if (!names.has(productId)) {
    names.set(productId, get(`/api/products/${encodeURIComponent(productId)}`).then((p) => p.name, () => null));
  }
  return names.get(productId);
}

/** A product's new name (a live catalog event). */
export function rememberName(productId, name) {
  if (productId && name) names.set(productId, Promise.resolve(name));
}

/** An `admin:alert` (or a low-stock row) with the product's name in its message. */
export async function named(a) {
  const name = a.productId ? await productName(a.productId) : null;
  return { ...a, name, message: alertMessage(productLabel(name, a.sku), a.available) };
}

export function putAlert(a) {
  const rest = alerts.get().items.filter((x) => x.productId !== a.productId);
  const items = a.available >= THRESHOLD ? rest : [{ ...a, at: new Date().toISOString() }, ...rest];
  alerts.set({ items });
}

/** The alert for a product, if any. */
export function alertFor(productId) {
  return alerts.get().items.find((a) => a.productId === productId) || null;
}

/** When stock goes back up, its alert is over. */
export function clearIfRestocked(productId, available) {
  if (available >= THRESHOLD) alerts.set({ items: alerts.get().items.filter((a) => a.productId !== productId) });
}

/** The names of these products from the catalog's list pages (one request per 100 products, not
 * one per product); a product the list does not show (no longer sold) is named by its SKU. */
async function loadNames(ids) {
  const wanted = new Set(ids.filter((id) => !names.has(id)));
  let cursor;
  for (let i = 0; wanted.size && i < 20; i += 1) {
    const page = await get("/api/products", { limit: 100, cursor });
    for (const p of page.items) {
      names.set(p.id, Promise.resolve(p.name));
      wanted.delete(p.id);
    }
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  for (const id of wanted) names.set(id, Promise.resolve(null));
}

/** Seed from the API: every product below the threshold now. */
export async function loadLowStock() {
  const page = await get("/api/inventory", { lowStock: "true", limit: 100 });
  await loadNames(page.items.map((r) => r.productId));
  const fresh = await Promise.all(page.items.map((r) => named({
    type: "inventory",
    severity: r.available <= 0 ? "critical" : "warning",
    productId: r.productId,
    sku: r.sku,
    available: r.available,
  })));
  const live = alerts.get().items.filter((a) => !fresh.some((f) => f.productId === a.productId));
  alerts.set({ items: [...live, ...fresh] });
}

export function resetAlerts() {
  alerts.set({ items: [] });
}
