// My orders: the list (newest first, live) and one order with its progress, live status,
// cancel while the state machine allows it, and the refund once payments confirms it.

import { get, post } from "../api.js";
import { h, notice } from "../dom.js";
import { money, shortId, when } from "../format.js";
import { canCancel, FLOW, REASONS } from "../orderstates.js";
import { href } from "../router.js";
import { bus } from "../store.js";
import { pagedList } from "../paged.js";
import { denied, errorBox, paymentLabel, statusBadge, title } from "../widgets.js";

const ORDER_EVENTS = ["order:created", "order:updated", "order:cancelled"];

function itemsSummary(order) {
  const n = (order.items || []).reduce((sum, i) => sum + i.quantity, 0);
  return `${n} item${n === 1 ? "" : "s"}`;
}

export function myOrdersPage(main) {
  if (denied(main)) return undefined;
  const tbody = h("tbody");
  const problems = h("div");

  function row(o) {
    const status = h("td", {}, statusBadge(o.status));
    const payment = h("td", {}, paymentLabel(o.paymentStatus));
    const tr = h("tr", { "data-order-id": o.id },
      h("td", {}, h("a", { href: href(`/orders/${o.id}`) }, `Order ${shortId(o.id)}`)),
      h("td", {}, when(o.createdAt)), h("td", {}, itemsSummary(o)),
      h("td", { class: "num" }, money(o.totalCents, o.currency)), status, payment);
    return { el: tr, status, payment, o };
  }

  const list = pagedList({
    container: tbody,
    problems,
    fetchPage: (cursor) => get("/api/orders", { limit: 20, cursor }),
    render: row,
    onLoaded: () => {
      if (!list.entries.size) problems.replaceChildren(notice("", "You have no orders yet. ", h("a", { href: "#/" }, "Start shopping")));
    },
  });

  const apply = (d) => {
    const r = list.entries.get(d.orderId);
    if (!r) {
      if (d.items) {
        list.put({ id: d.orderId, createdAt: d.createdAt, items: d.items, totalCents: d.totalCents, currency: d.currency,
          status: d.status, paymentStatus: d.paymentStatus }, { atTop: true });
        problems.replaceChildren();
      }
      return;
    }
    if (d.status) {
      r.o.status = d.status;
      r.status.replaceChildren(statusBadge(d.status));
    }
    if (d.paymentStatus) {
      r.o.paymentStatus = d.paymentStatus;
      r.payment.textContent = paymentLabel(d.paymentStatus);
    }
  };
  const offs = [...ORDER_EVENTS.map((e) => bus.on(e, apply)), bus.on("live:gap", () => list.load(true))];
  main.append(title("My orders"), problems,
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, "Your orders, newest first"),
      h("thead", {}, h("tr", {}, ["Order", "Placed", "Items", "Total", "Status", "Payment"].map((t) => h("th", { class: t === "Total" ? "num" : null }, t)))),
      tbody)), list.more);
  list.load(true);
  return () => {
    list.stop();
    offs.forEach((off) => off());
  };
}

function steps(order) {
  if (order.status === "cancelled") {
    return h("p", { "data-field": "reason" }, "Reason: ", REASONS[order.cancelReason] || order.cancelReason || "not given");
  }
  const at = FLOW.indexOf(order.status);
  return h("ol", { class: "steps", "aria-label": "Order progress" }, FLOW.map((st, i) =>
    h("li", { class: i < at ? "done" : i === at ? "current" : "", "aria-current": i === at ? "step" : null }, st)));
}

export function orderPage(main, params, query) {
  if (denied(main)) return undefined;
  let alive = true;
  let order = null;
  let seq = 0;
  const view = h("div");
  const problems = h("div", { "aria-live": "polite" });

  // What the shopper is doing survives a redraw: a live event or a refetch redraws the order while
  // the confirmation is open (or the cancel request is on its way), and neither may close or re-arm it.
  let confirming = false;
  let cancelling = false;

  function draw() {
    const o = order;
    const focused = view.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
    const cancelButton = h("button", { type: "button", class: "danger", "data-focus": "cancel" }, "Cancel order");
    const confirmYes = h("button", { type: "button", class: "danger", "data-focus": "yes" }, "Yes, cancel it");
    const confirmNo = h("button", { type: "button", class: "secondary", "data-focus": "no" }, "Keep the order");
    const confirmCancel = h("div", { class: "notice warning", role: "group", "aria-label": "Confirm cancellation" },
      h("p", {}, o.paymentStatus === "paid" ? "Cancel this order? The payment will be refunded." : "Cancel this order?"),
      h("div", { class: "actions" }, confirmYes, confirmNo));
    confirmCancel.hidden = !confirming;
    confirmYes.disabled = cancelling;
    cancelButton.addEventListener("click", () => {
      if (confirming) return;
      confirming = true;
      confirmCancel.hidden = false;
      confirmYes.focus();
    });
    confirmNo.addEventListener("click", () => {
      confirming = false;
      confirmCancel.hidden = true;
      cancelButton.focus();
    });
    confirmYes.addEventListener("click", async () => {
      if (cancelling) return;
      cancelling = true;
      confirmYes.disabled = true;
      try {
        order = await post(`/api/orders/${encodeURIComponent(o.id)}/cancel`, { reason: "customer_request" });
        confirming = false;
        problems.replaceChildren(notice("success", "The order is cancelled."));
      } catch (err) {
        problems.replaceChildren(notice("error", err.message));
      } finally {
        cancelling = false;
        if (alive) draw();
      }
    });
    const refund = o.paymentStatus === "refunded"
      ? notice("success", `Refunded: ${money(o.totalCents, o.currency)} is on its way back to you.`)
      : o.status === "cancelled" && o.paymentStatus === "paid" ? notice("", "Refund in progress…") : null;
    view.replaceChildren(
      h("div", { class: "detail", "data-order-id": o.id, "data-status": o.status, "data-payment": o.paymentStatus },
        h("div", {}, h("h2", {}, "Status ", statusBadge(o.status)), steps(o),
          h("dl", { class: "kv" },
            h("dt", {}, "Payment"), h("dd", { "data-field": "payment" }, paymentLabel(o.paymentStatus)),
            h("dt", {}, "Placed"), h("dd", {}, when(o.createdAt)),
            h("dt", {}, "Last change"), h("dd", {}, when(o.updatedAt)),
            h("dt", {}, "Ship to"), h("dd", {}, [o.shippingAddress?.line1, o.shippingAddress?.city, o.shippingAddress?.postalCode, o.shippingAddress?.country].filter(Boolean).join(", "))),
          refund),
        h("div", { class: "table-wrap" }, h("table", {},
          h("caption", { class: "visually-hidden" }, "Items"),
          h("thead", {}, h("tr", {}, h("th", {}, "Item"), h("th", { class: "num" }, "Price"), h("th", { class: "num" }, "Qty"), h("th", { class: "num" }, "Total"))),
          h("tbody", {}, (o.items || []).map((i) => h("tr", {},
            h("td", {}, h("a", { href: href(`/product/${i.productId}`) }, i.name)),
            h("td", { class: "num" }, money(i.unitPriceCents, o.currency)),
            h("td", { class: "num" }, String(i.quantity)),
            h("td", { class: "num" }, money(i.unitPriceCents * i.quantity, o.currency))))))),
        h("div", { class: "totals" }, h("dl", { class: "kv" },
          h("dt", {}, "Subtotal"), h("dd", {}, money(o.subtotalCents, o.currency)),
          h("dt", {}, "Tax"), h("dd", {}, money(o.taxCents, o.currency)),
          h("dt", { class: "grand" }, "Total"), h("dd", { class: "grand" }, money(o.totalCents, o.currency)))),
        canCancel(o.status) ? h("div", {}, h("div", { class: "actions" }, cancelButton), confirmCancel) : null),
    );
    if (!canCancel(o.status)) confirming = false;
    if (focused) view.querySelector(`[data-focus="${focused}"]`)?.focus();
  }

  async function load() {
    const mine = ++seq;
    try {
      const o = await get(`/api/orders/${encodeURIComponent(params.id)}`);
      if (!alive || mine !== seq) return;
      order = o;
      draw();
    } catch (err) {
      if (alive && mine === seq) view.replaceChildren(errorBox(err, load));
    }
  }

  const apply = (d) => {
    if (d.orderId !== params.id) return;
    // Events carry the new status; the API has the whole order (refunds, reasons): fetch it. An
    // event that arrives while the first fetch is on its way may be newer than what that fetch
    // read: fetch again (load() supersedes the older answer), never drop it.
    if (order) {
      if (d.status) order.status = d.status;
      if (d.paymentStatus) order.paymentStatus = d.paymentStatus;
      draw();
    }
    load();
  };
  const offs = [...ORDER_EVENTS.map((e) => bus.on(e, apply)), bus.on("live:gap", load)];
  main.append(h("p", {}, h("a", { href: href("/orders") }, "← My orders")), title(`Order ${shortId(params.id)}`),
    ...(query.placed ? [notice("success", "Thank you! Your order is placed; its status updates here live.")] : []),
    problems, view);
  view.append(h("p", { class: "loading" }, "Loading the order…"));
  load();
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}
