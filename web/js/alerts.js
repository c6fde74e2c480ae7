// Stock alerts for admins: the `admin:alert` messages of this session, one per product (the
// latest wins), seeded from the API's low-stock list when an admin signs in.

import { get } from "./api.js";
import { createStore } from "./store.js";

const THRESHOLD = 10;

export const alerts = createStore({ items: [] });

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

/** Seed from the API: every product below the threshold now. */
export async function loadLowStock() {
  const page = await get("/api/inventory", { lowStock: "true", limit: 100 });
  const fresh = page.items.map((r) => ({
    type: "inventory",
    severity: r.available <= 0 ? "critical" : "warning",
    message: r.available <= 0 ? `${r.sku} is out of stock` : `${r.sku} is low on stock (${r.available} available)`,
    productId: r.productId,
    sku: r.sku,
    available: r.available,
  }));
  const live = alerts.get().items.filter((a) => !fresh.some((f) => f.productId === a.productId));
  alerts.set({ items: [...live, ...fresh] });
}

export function resetAlerts() {
  alerts.set({ items: [] });
}
