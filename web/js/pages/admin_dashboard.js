// The admin dashboard: counts by status, revenue, low-stock count, live SVG charts (orders and
// revenue per minute over the last hour, the status funnel) and the stock alerts.

import { get } from "../api.js";
import { addToBin, barChart, funnelChart, minuteBins } from "../charts.js";
import { h, notice } from "../dom.js";
import { money } from "../format.js";
import { FLOW, REVENUE_STATUSES } from "../orderstates.js";
import { bus } from "../store.js";
import { alerts } from "../alerts.js";
import { errorBox, denied, title } from "../widgets.js";

const HOUR_MS = 3600 * 1000;
const MAX_PAGES = 10;
const ALERTS_SHOWN = 8;

export function adminDashboardPage(main) {
  if (denied(main, "admin")) return undefined;
  let alive = true;
  let stats = null;
  const recent = new Map(); // orderId → {createdAt, totalCents, status, currency}
  const statsBox = h("div", { class: "stats", "aria-live": "polite" });
  const charts = h("div", { class: "charts" });
  const alertList = h("ul", { class: "alerts", "aria-label": "Stock alerts" });
  const alertMore = h("p", { class: "muted" });
  const problems = h("div");

  function drawStats() {
    if (!stats) return;
    const card = (label, value, extra = "") => h("div", { class: `stat ${extra}`, "data-stat": label },
      h("span", { class: "label" }, label), h("span", { class: "value" }, String(value)));
    statsBox.replaceChildren(
      card("Orders", stats.totalOrders),
      card("Revenue", money(stats.revenueCents, Object.keys(stats.revenueByCurrency || {})[0] || "USD")),
      card("Low stock", stats.lowStockCount, stats.lowStockCount > 0 ? "alert" : ""),
      ...Object.entries(stats.ordersByStatus).map(([st, n]) => card(st[0].toUpperCase() + st.slice(1), n)),
    );
  }

  function drawCharts() {
    const orders = minuteBins();
    const revenue = minuteBins();
    for (const o of recent.values()) {
      addToBin(orders, o.createdAt, 1);
      if (REVENUE_STATUSES.includes(o.status)) addToBin(revenue, o.createdAt, o.totalCents);
    }
    const byStatus = stats?.ordersByStatus || {};
    // The funnel: how many orders reached each step (an order further on passed every earlier step).
    const reached = FLOW.map((st, i) => ({ label: st, value: FLOW.slice(i).reduce((n, later) => n + (byStatus[later] || 0), 0) }));
    charts.replaceChildren(
      barChart({ title: "Orders per minute, last hour", bins: orders, format: (v) => String(Math.round(v)) }),
      barChart({ title: "Revenue per minute, last hour", bins: revenue, format: (v) => money(v), kind: "revenue" }),
      funnelChart({ title: "Status funnel: orders at or past each step (cancelled apart)", stages: [...reached, { label: "cancelled", value: byStatus.cancelled || 0, kind: "cancelled" }] }),
    );
  }

  function drawAlerts() {
    // This session's live alerts first (newest first), then the rest by how little is left.
    const items = [...alerts.get().items].sort((a, b) =>
      (b.at || "").localeCompare(a.at || "") || a.available - b.available);
    const shown = items.slice(0, ALERTS_SHOWN);
    alertList.replaceChildren(...(items.length
      ? shown.map((a) => h("li", { class: a.severity, "data-product-id": a.productId || "" }, `${a.severity === "critical" ? "Critical" : "Warning"}: ${a.message}`))
      : [h("li", { class: "muted" }, "No stock alerts.")]));
    alertMore.replaceChildren(...(items.length > shown.length
      ? [`${items.length - shown.length} more below the threshold: `, h("a", { href: "#/admin/inventory" }, "see the inventory")]
      : []));
  }

  async function loadStats() {
    try {
      stats = await get("/api/admin/stats");
      if (!alive) return;
      problems.replaceChildren();
      drawStats();
      drawCharts();
    } catch (err) {
      if (alive) problems.replaceChildren(errorBox(err, loadAll));
    }
  }

  async function loadRecent() {
    const since = Date.now() - HOUR_MS;
    let cursor;
    recent.clear();
    for (let i = 0; i < MAX_PAGES; i += 1) {
      const page = await get("/api/orders", { limit: 100, cursor });
      if (!alive) return;
      let older = false;
      for (const o of page.items) {
        if (new Date(o.createdAt).getTime() < since) older = true;
        else recent.set(o.id, { createdAt: o.createdAt, totalCents: o.totalCents, status: o.status, currency: o.currency });
      }
      cursor = page.nextCursor;
      if (older || !cursor) break;
    }
    drawCharts();
  }

  async function loadAll() {
    await loadStats();
    try {
      await loadRecent();
    } catch (err) {
      if (alive) problems.replaceChildren(errorBox(err, loadAll));
    }
  }

  let statsTimer = null;
  const refreshStats = () => {
    clearTimeout(statsTimer);
    statsTimer = setTimeout(loadStats, 300); // a burst of events → one request
  };
  const offs = [
    bus.on("admin:order:created", (d) => {
      recent.set(d.orderId, { createdAt: d.createdAt || new Date().toISOString(), totalCents: d.totalCents || 0, status: d.status, currency: d.currency });
      drawCharts();
      refreshStats();
    }),
    bus.on("admin:order:updated", (d) => {
      const o = recent.get(d.orderId);
      if (o && d.status) o.status = d.status;
      drawCharts();
      refreshStats();
    }),
    bus.on("admin:order:cancelled", (d) => {
      const o = recent.get(d.orderId);
      if (o) o.status = "cancelled";
      drawCharts();
      refreshStats();
    }),
    bus.on("admin:inventory:updated", refreshStats),
    alerts.subscribe(drawAlerts),
    bus.on("live:gap", loadAll),
  ];
  const tick = setInterval(drawCharts, 60000); // the hour window moves on

  main.append(title("Dashboard"), problems, statsBox,
    h("h2", {}, "Stock alerts"), alertList, alertMore,
    h("h2", {}, "Activity"), charts,
    notice("", "New orders and cancellations also arrive as notifications while you are signed in."));
  drawAlerts();
  drawCharts();
  loadAll();
  return () => {
    alive = false;
    clearTimeout(statsTimer);
    clearInterval(tick);
    offs.forEach((off) => off());
  };
}
