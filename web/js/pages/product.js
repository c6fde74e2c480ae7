// One product: description, price, live stock, and a quantity bounded by what is available.

import { get } from "../api.js";
import * as cart from "../cart.js";
import { field, h } from "../dom.js";
import { money } from "../format.js";
import { productImage, setProductImage } from "../images.js";
import { href } from "../router.js";
import { bus } from "../store.js";
import { errorBox, stockBadge, title, updateStockBadge } from "../widgets.js";
import { addToCartButton } from "./storefront.js";

export function productPage(main, params) {
  let alive = true;
  let offs = [];
  main.append(h("p", { class: "loading" }, "Loading the product…"));

  async function load() {
    let p;
    try {
      p = await get(`/api/products/${encodeURIComponent(params.id)}`);
    } catch (err) {
      if (alive) main.replaceChildren(h("h1", {}, "Product"), errorBox(err, load), h("p", {}, h("a", { href: "#/" }, "Back to the shop")));
      return;
    }
    if (!alive) return;
    cart.refresh(p.id, p);
    const heading = title(p.name);
    const price = h("p", { class: "price" }, money(p.priceCents, p.currency));
    const description = h("p", {}, p.description || "");
    const image = productImage(p, "detail");
    const badge = stockBadge(p.available);
    const qty = field("Quantity", h("input", { type: "number", name: "quantity", min: 1, max: Math.max(1, p.available), value: 1, step: 1 }));
    const clampQty = () => {
      const room = Math.max(0, p.available - cart.quantityOf(p.id));
      const n = Math.floor(Number(qty.input.value) || 1);
      qty.input.max = String(Math.max(1, room));
      qty.input.value = String(Math.max(1, Math.min(n, Math.max(1, room))));
      return Math.max(1, Math.min(n, room));
    };
    qty.input.addEventListener("change", clampQty);
    const add = addToCartButton(p, clampQty);
    const inCart = h("p", { class: "muted", "aria-live": "polite" });
    const showInCart = () => {
      const n = cart.quantityOf(p.id);
      inCart.textContent = n ? `${n} in your cart.` : "";
    };
    const sync = () => {
      updateStockBadge(badge, p.available);
      qty.input.disabled = p.available <= 0;
      add.sync();
      showInCart();
    };
    main.replaceChildren(
      h("p", {}, h("a", { href: "#/" }, "← All products")),
      h("article", { class: "detail", "data-product-id": p.id },
        image,
        h("div", {}, heading, h("span", { class: "tag" }, p.category), " ", h("span", { class: "muted" }, `SKU ${p.sku}`)),
        price, badge, description,
        h("div", { class: "form" }, qty.wrap, h("div", { class: "actions" }, add.button, h("a", { href: href("/cart") }, "Go to cart")), inCart)),
    );
    sync();
    offs.forEach((off) => off());
    offs = [
      bus.on("inventory:updated", (d) => {
        if (d.productId !== p.id) return;
        p.available = d.available;
        p.stock = d.stock;
        sync();
      }),
      bus.on("product:updated", (d) => {
        if (d.productId !== p.id) return;
        Object.assign(p, d);
        heading.textContent = p.name;
        setProductImage(image, p, "detail");
        document.title = `${p.name} · Shop`;
        price.textContent = money(p.priceCents, p.currency);
        description.textContent = p.description || "";
        add.sync();
      }),
      cart.cart.subscribe(showInCart),
      bus.on("live:gap", load),
    ];
  }

  load();
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}
