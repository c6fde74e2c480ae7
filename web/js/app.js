// Start-up: read the runtime config, draw the header, connect the live updates (anonymous, or as
// whoever is signed in), announce the live changes that matter, and route.

import * as cart from "./cart.js";
import { config, loadConfig } from "./config.js";
import { h } from "./dom.js";
import { shortId } from "./format.js";
import * as live from "./live.js";
import { notifications, notify } from "./notifications.js";
import { REASONS } from "./orderstates.js";
import { current, href, navigate, route, startRouter } from "./router.js";
import { isAdmin, session, signOut, user } from "./session.js";
import { bus } from "./store.js";
import { clearIfRestocked, loadLowStock, named, putAlert, rememberName, resetAlerts } from "./alerts.js";
// Pages load on first visit, so the storefront fetches only what it shows.
const page = (load, name) => async (...args) => (await load())[name](...args);
const storefront = () => import("./pages/storefront.js");
const orders = () => import("./pages/orders.js");
const auth = () => import("./pages/auth.js");
const adminProducts = () => import("./pages/admin_products.js");

route("/", page(storefront, "storefrontPage"));
route("/product/:id", page(() => import("./pages/product.js"), "productPage"));
route("/cart", page(() => import("./pages/cart.js"), "cartPage"));
route("/checkout", page(() => import("./pages/checkout.js"), "checkoutPage"));
route("/orders", page(orders, "myOrdersPage"));
route("/orders/:id", page(orders, "orderPage"));
route("/notifications", page(() => import("./pages/notifications.js"), "notificationsPage"));
route("/login", page(auth, "loginPage"));
route("/register", page(auth, "registerPage"));
route("/admin", page(() => import("./pages/admin_dashboard.js"), "adminDashboardPage"));
route("/admin/orders", page(() => import("./pages/admin_orders.js"), "adminOrdersPage"));
route("/admin/inventory", page(() => import("./pages/admin_inventory.js"), "adminInventoryPage"));
route("/admin/products", page(adminProducts, "adminProductsPage"));
route("/admin/products/:id", page(adminProducts, "adminProductFormPage"));

function link(path, label, extra = null) {
  const here = current().path;
  const active = path === "/" ? here === "/" || here.startsWith("/product") : here === path || (path !== "/admin" && here.startsWith(`${path}/`));
  return h("a", { href: href(path), "aria-current": active ? "page" : null }, label, extra);
}

function countBadge(n, label) {
  return n > 0 ? [" ", h("span", { class: "badge-count", "aria-hidden": "true" }, String(n)), h("span", { class: "visually-hidden" }, ` (${n} ${label})`)] : null;
}

function drawNav() {
  const nav = document.getElementById("nav");
  const u = user();
  const items = [];
  if (!u || !isAdmin()) items.push(link("/", "Shop"), link("/cart", "Cart", countBadge(cart.count(), "items")));
  if (u && !isAdmin()) items.push(link("/orders", "My orders"));
  if (isAdmin()) items.push(link("/admin", "Dashboard"), link("/admin/orders", "Orders"), link("/admin/inventory", "Inventory"), link("/admin/products", "Products"), link("/", "Storefront"));
  if (u) {
    items.push(link("/notifications", "Notifications", countBadge(notifications.get().unread, "unread")));
    items.push(h("span", { class: "who" }, `${u.name || u.email}${isAdmin() ? " (admin)" : ""}`));
    items.push(h("button", { type: "button", class: "linklike", onclick: () => {
      signOut();
      navigate("/");
    } }, "Sign out"));
  } else {
    items.push(link("/login", "Sign in"), link("/register", "Register"));
  }
  nav.replaceChildren(...items);
}

const LABELS = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" };

function drawConnection({ state, reason, audience }) {
  const el = document.getElementById("conn");
  el.dataset.state = state;
  el.dataset.audience = audience;
  el.title = reason || "";
  el.querySelector(".conn-label").textContent = LABELS[state] || state;
  el.querySelector(".conn-reason").textContent = state === "offline" && reason ? `(${reason})` : "";
  el.setAttribute("aria-label", `Live updates: ${LABELS[state] || state}${reason && state !== "live" ? `. ${reason}` : ""}`);
}

function connectLive() {
  const auth = session.get().auth;
  if (auth) {
    live.start(auth.token, auth.user.role);
    if (auth.user.role === "admin") loadLowStock().catch((err) => console.warn("low-stock list:", err.message));
  } else {
    live.anonymous();
    resetAlerts();
  }
}

// Live changes people want to hear about, wherever they are in the site; each once.
bus.on("order:updated", (d, f) => {
  if (d.status && d.previousStatus && d.status !== d.previousStatus && d.status !== "cancelled") {
    notify(`Order ${shortId(d.orderId)} is now ${d.status}`, d.status === "paid" || d.status === "delivered" ? "success" : "info", `${f.id}:status`);
  } else if (d.paymentStatus === "refunded") {
    notify(`Order ${shortId(d.orderId)} was refunded`, "success", `${f.id}:refund`);
  }
});
bus.on("order:cancelled", (d, f) => {
  const why = REASONS[d.reason] ? ` (${REASONS[d.reason]})` : "";
  notify(`Order ${shortId(d.orderId)} is now cancelled${why}`, "warning", f.id);
});
bus.on("admin:order:created", (d, f) => notify(`New order ${shortId(d.orderId)}`, "info", f.id));
bus.on("admin:order:cancelled", (d, f) => {
  const who = d.reason === "customer_request" ? " by the customer" : REASONS[d.reason] ? ` (${REASONS[d.reason]})` : "";
  notify(`Order ${shortId(d.orderId)} was cancelled${who}`, "warning", f.id);
});
bus.on("admin:alert", (d, f) => named(d).then((a) => {
  putAlert(a);
  notify(a.message, a.severity === "critical" ? "error" : "warning", f.id);
}));
bus.on("admin:product:created", (d) => rememberName(d.productId, d.name));
bus.on("admin:product:updated", (d) => rememberName(d.productId, d.name));
bus.on("admin:inventory:updated", (d) => clearIfRestocked(d.productId, d.available));
bus.on("inventory:updated", (d) => cart.refresh(d.productId, { available: d.available }));
bus.on("live:unauthorized", () => {
  signOut();
  notify("Your session ended. Please sign in again.", "warning");
});

async function main() {
  document.querySelector("[data-skip]")?.addEventListener("click", (ev) => {
    ev.preventDefault();
    document.getElementById("main").focus();
  });
  try {
    await loadConfig();
  } catch (err) {
    const mainEl = document.getElementById("main");
    mainEl.replaceChildren(h("h1", {}, "The shop cannot start"),
      h("div", { class: "notice error", role: "alert" }, `Could not read the site's configuration (config.json): ${err.message}`));
    return;
  }
  if (!config.apiUrl) console.warn("config.json has no apiUrl");
  live.connection.subscribe(drawConnection);
  drawConnection(live.connection.get());
  session.subscribe(() => {
    drawNav();
    connectLive();
  });
  cart.cart.subscribe(drawNav);
  notifications.subscribe(drawNav);
  let lastPath = current().path;
  window.addEventListener("routechange", (ev) => {
    drawNav();
    if (ev.detail.path !== lastPath) {
      lastPath = ev.detail.path;
      document.getElementById("main").focus({ preventScroll: false });
      window.scrollTo(0, 0);
    }
  });
  drawNav();
  connectLive();
  await startRouter();
}

main();
