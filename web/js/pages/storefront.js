// The product grid: search, category and price filters kept in the URL, cursor pages behind
// "Load more", and live stock ("N left" / "Out of stock"), price and name changes, and new
// products, without a reload.

import { get } from "../api.js";
import * as cart from "../cart.js";
import { field, h, notice, setFieldError } from "../dom.js";
import { money, moneyInput, parseMoney } from "../format.js";
import { productImage, setProductImage } from "../images.js";
import { href, navigate } from "../router.js";
import { bus } from "../store.js";
import { toast } from "../toast.js";
import { pagedList } from "../paged.js";
import { stockBadge, title, updateStockBadge } from "../widgets.js";

const PAGE = 12;
const knownCategories = new Set();

function matches(p, q) {
  if (p.active === false) return false;
  if (q.category && p.category !== q.category) return false;
  if (q.minPriceCents && p.priceCents < Number(q.minPriceCents)) return false;
  if (q.maxPriceCents && p.priceCents > Number(q.maxPriceCents)) return false;
  if (q.search && !p.name.toLowerCase().includes(q.search.trim().toLowerCase())) return false; // the API searches names
  return true;
}

/** The button's name starts with what it shows (WCAG 2.5.3, label in name), then says which product. */
export function addToCartButton(product, getQuantity = () => 1) {
  const button = h("button", { type: "button" });
  const sync = () => {
    const available = product.available ?? product.stock ?? 0;
    button.disabled = available <= 0 || cart.quantityOf(product.id) >= available;
    button.textContent = available <= 0 ? "Out of stock" : cart.quantityOf(product.id) >= available ? "All in cart" : "Add to cart";
    button.setAttribute("aria-label", `${button.textContent}: ${product.name}`);
  };
  button.addEventListener("click", () => {
    const before = cart.quantityOf(product.id);
    const after = cart.add(product, getQuantity());
    if (after > before) toast(`${product.name} (${product.sku}): ${after} in your cart`, "success");
    sync();
  });
  sync();
  return { button, sync };
}

function productCard(p, { fresh = false } = {}) {
  const badge = stockBadge(p.available ?? p.stock);
  const name = h("a", { href: href(`/product/${p.id}`) }, p.name);
  const price = h("span", { class: "price" }, money(p.priceCents, p.currency));
  const add = addToCartButton(p);
  const image = productImage(p, "thumbnail");
  const li = h("li", { class: `card${fresh ? " new" : ""}`, "data-product-id": p.id },
    image,
    h("h2", {}, name),
    h("span", {}, h("span", { class: "tag" }, p.category), fresh ? [" ", h("span", { class: "tag" }, "New")] : null),
    price,
    badge,
    h("div", { class: "actions" }, add.button));
  return { el: li, p, badge, name, price, add, image };
}

export function storefrontPage(main, _params, query) {
  const grid = h("ul", { class: "grid", "aria-label": "Products" });
  const status = h("p", { class: "visually-hidden", "aria-live": "polite" });
  const problems = h("div");
  const list = pagedList({
    container: grid,
    problems,
    fetchPage: (cursor) => get("/api/products", { ...pick(query), limit: PAGE, cursor }),
    render: (p, { fresh }) => {
      knownCategories.add(p.category);
      return productCard(p, { fresh });
    },
    onLoaded: () => {
      fillCategories();
      if (!list.entries.size) problems.replaceChildren(notice("", "No products match these filters."));
      status.textContent = `${list.entries.size} products shown${list.hasMore ? ", more available" : ""}.`;
      grid.setAttribute("aria-busy", "false");
    },
  });
  const cards = list.entries;

  const search = field("Search", h("input", { type: "search", name: "search", value: query.search || "", placeholder: "Product name" }));
  const categorySelect = h("select", { name: "category" });
  const category = field("Category", categorySelect);
  const min = field("Min price", h("input", { name: "min", inputmode: "decimal", value: query.minPriceCents ? moneyInput(query.minPriceCents) : "" }));
  const max = field("Max price", h("input", { name: "max", inputmode: "decimal", value: query.maxPriceCents ? moneyInput(query.maxPriceCents) : "" }));
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter products" },
    search.wrap, category.wrap, min.wrap, max.wrap, h("div", { class: "field" }, h("button", { type: "submit" }, "Apply")));

  function fillCategories() {
    const chosen = query.category || "";
    if (chosen) knownCategories.add(chosen);
    categorySelect.replaceChildren(h("option", { value: "" }, "All categories"),
      [...knownCategories].sort().map((c) => h("option", { value: c, selected: c === chosen }, c)));
  }
  fillCategories();

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setFieldError(min, "");
    setFieldError(max, "");
    const next = { search: search.input.value.trim(), category: categorySelect.value };
    for (const [f, key] of [[min, "minPriceCents"], [max, "maxPriceCents"]]) {
      const raw = f.input.value.trim();
      if (!raw) continue;
      const cents = parseMoney(raw);
      if (cents === null) {
        setFieldError(f, "Enter an amount like 12.50");
        f.input.focus();
        return;
      }
      next[key] = cents;
    }
    navigate("/", next);
  });


  const offs = [
    bus.on("inventory:updated", (d) => {
      const c = cards.get(d.productId);
      if (c) {
        c.p.available = d.available;
        c.p.stock = d.stock;
        updateStockBadge(c.badge, d.available);
        c.add.sync();
      }
    }),
    bus.on("product:updated", (d) => {
      const c = cards.get(d.productId);
      if (!c) return;
      Object.assign(c.p, d);
      c.name.textContent = c.p.name;
      c.add.sync();
      c.price.textContent = money(c.p.priceCents, c.p.currency);
      setProductImage(c.image, c.p, "thumbnail");
      if (c.p.active === false) {
        c.el.remove();
        cards.delete(d.productId);
      }
    }),
    bus.on("product:created", (d) => {
      const p = { id: d.productId, name: d.name, description: d.description || "", sku: d.sku, priceCents: d.priceCents,
        currency: d.currency, category: d.category, stock: d.stock, available: d.available ?? d.stock, active: d.active ?? true };
      knownCategories.add(p.category);
      fillCategories();
      if (!matches(p, query)) return;
      list.put(p, { fresh: true, atTop: true });
      problems.replaceChildren();
      status.textContent = `New product: ${p.name}`;
    }),
    bus.on("live:gap", () => list.load(true)),
  ];

  main.append(title(query.search ? `Products matching “${query.search}”` : "Products"), form, status, problems, grid, list.more);
  grid.setAttribute("aria-busy", "true");
  list.load(true);
  return () => {
    list.stop();
    offs.forEach((off) => off());
  };
}

function pick(q) {
  const out = {};
  for (const k of ["search", "category", "minPriceCents", "maxPriceCents"]) if (q[k]) out[k] = q[k];
  return out;
}
