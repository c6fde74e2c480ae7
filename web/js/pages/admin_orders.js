// Every order, newest first, new ones appearing live at the top; filter by status; the status
// control offers only the legal next states of the order state machine.

import { get, patch } from "../api.js";
import { h, notice } from "../dom.js";
import { money, shortId, when } from "../format.js";
import { nextStates, STATUSES } from "../orderstates.js";
import { navigate } from "../router.js";
import { bus } from "../store.js";
import { pagedList } from "../paged.js";
import { denied, paymentLabel, statusBadge, title } from "../widgets.js";

export function adminOrdersPage(main, _params, query) {
  if (denied(main, "admin")) return undefined;
  const filter = STATUSES.includes(query.status) ? query.status : "";
  const tbody = h("tbody");
  const problems = h("div", { "aria-live": "polite" });
  const empty = h("p", { class: "muted" }, "No orders.");
  empty.hidden = true;

  const filterSelect = h("select", { id: "status-filter", name: "status" },
    h("option", { value: "" }, "All statuses"), STATUSES.map((st) => h("option", { value: st, selected: st === filter }, st)));
  filterSelect.addEventListener("change", () => navigate("/admin/orders", { status: filterSelect.value }));

  function control(r) {
    const options = nextStates(r.o.status);
    if (!options.length) return h("span", { class: "muted" }, "Final");
    const select = h("select", { "aria-label": `New status for order ${shortId(r.o.id)}` },
      options.map((st) => h("option", { value: st }, st)));
    const apply = h("button", { type: "button", class: "secondary" }, "Set");
    apply.setAttribute("aria-label", `Set status of order ${shortId(r.o.id)}`);
    apply.addEventListener("click", async () => {
      apply.disabled = true;
      try {
        const o = await patch(`/api/orders/${encodeURIComponent(r.o.id)}/status`, { status: select.value });
        update(o);
        problems.replaceChildren(notice("success", `Order ${shortId(o.id)} is now ${o.status}.`));
      } catch (err) {
        problems.replaceChildren(notice("error", `Order ${shortId(r.o.id)}: ${err.message}`));
        apply.disabled = false;
      }
    });
    return h("span", { class: "inline-form" }, select, apply);
  }

  function fillRow(r) {
    const o = r.o;
    r.drawn = `${o.status}|${o.paymentStatus}`;
    r.tr.dataset.status = o.status;
    r.tr.replaceChildren(
      h("td", {}, shortId(o.id)),
      h("td", {}, when(o.createdAt)),
      h("td", {}, shortId(o.buyerId)),
      h("td", {}, (o.items || []).map((i) => `${i.quantity} × ${i.name}`).join(", ")),
      h("td", { class: "num" }, o.totalCents !== undefined ? money(o.totalCents, o.currency) : ""),
      h("td", {}, statusBadge(o.status)),
      h("td", {}, paymentLabel(o.paymentStatus)),
      h("td", {}, control(r)));
  }

  const list = pagedList({
    container: tbody,
    problems,
    fetchPage: (cursor) => get("/api/orders", { status: filter || undefined, limit: 25, cursor }),
    render: (o, { fresh }) => {
      const r = { o, tr: h("tr", { "data-order-id": o.id, class: fresh ? "row-new" : null }) };
      r.el = r.tr;
      fillRow(r);
      return r;
    },
    onLoaded: () => {
      empty.hidden = list.entries.size > 0;
    },
  });

  function update(d) {
    const id = d.id || d.orderId;
    const r = list.entries.get(id);
    if (!r) return;
    if (d.status) r.o.status = d.status;
    if (d.paymentStatus) r.o.paymentStatus = d.paymentStatus;
    if (d.items) r.o.items = d.items;
    const drawn = `${r.o.status}|${r.o.paymentStatus}`;
    if (drawn === r.drawn) return; // a redraw would reset a status the admin is choosing
    // keep focus on the row's control across the redraw
    const hadFocus = r.tr.contains(document.activeElement);
    fillRow(r);
    if (hadFocus) r.tr.querySelector("select, button")?.focus();
  }

  const offs = [
    bus.on("admin:order:created", (d) => {
      if (filter && d.status !== filter) return;
      list.put({ id: d.orderId, buyerId: d.buyerId, createdAt: d.createdAt, items: d.items, totalCents: d.totalCents,
        currency: d.currency, status: d.status, paymentStatus: d.paymentStatus }, { atTop: true, fresh: true });
      empty.hidden = true;
    }),
    bus.on("admin:order:updated", update),
    bus.on("admin:order:cancelled", (d) => update({ ...d, status: "cancelled" })),
    bus.on("live:gap", () => list.load(true)),
  ];

  main.append(title("Orders"),
    h("div", { class: "field filter-bar" }, h("label", { for: "status-filter" }, "Show"), filterSelect),
    problems,
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, "Orders, newest first"),
      h("thead", {}, h("tr", {}, ["Order", "Placed", "Customer", "Items", "Total", "Status", "Payment", "Change status"].map((t) => h("th", { class: t === "Total" ? "num" : null }, t)))),
      tbody)), empty, list.more);
  list.load(true);
  return () => {
    list.stop();
    offs.forEach((off) => off());
  };
}
