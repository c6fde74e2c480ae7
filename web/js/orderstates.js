// The order state machine of the contract (shop/orders/domain.py TRANSITIONS); the browser
// tests check that this copy equals the server's. Controls offer only these edges.

export const STATUSES = ["pending", "paid", "processing", "shipped", "delivered", "cancelled"];

export const TRANSITIONS = {
  pending: ["cancelled", "paid"],
  paid: ["cancelled", "processing"],
  processing: ["cancelled", "shipped"],
  shipped: ["delivered"],
  delivered: [],
  cancelled: [],
};

/** The happy path, for the progress steps. */
export const FLOW = ["pending", "paid", "processing", "shipped", "delivered"];

/** The legal next states, moving forward first and cancelling last. */
export function nextStates(status) {
  const next = TRANSITIONS[status] || [];
  return [...next.filter((s) => s !== "cancelled"), ...next.filter((s) => s === "cancelled")];
}

export function canCancel(status) {
  return nextStates(status).includes("cancelled");
}

export const PAYMENT_LABELS = { pending: "Payment pending", paid: "Paid", failed: "Payment failed", refunded: "Refunded" };

export const REASONS = {
  payment_declined: "the payment was declined",
  out_of_stock: "an item was out of stock",
  customer_request: "cancelled by the customer",
  admin_request: "cancelled by the shop",
};

/** Statuses whose orders count as revenue (paid or later, not cancelled), as /api/admin/stats counts them. */
export const REVENUE_STATUSES = ["paid", "processing", "shipped", "delivered"];
