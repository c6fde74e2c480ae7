// Products for admins: the list, and a form to create or edit one with the API's validation
// messages next to the fields.

import { get, patch, post } from "../api.js";
import { imageSection } from "../imageupload.js";
import { field, h, notice, setFieldError } from "../dom.js";
import { money, moneyInput, parseMoney } from "../format.js";
import { href, navigate } from "../router.js";
import { bus } from "../store.js";
import { toast } from "../toast.js";
import { pagedList } from "../paged.js";
import { denied, errorBox, focusFirstInvalid, showFieldErrors, title } from "../widgets.js";

export function adminProductsPage(main, _params, query) {
  if (denied(main, "admin")) return undefined;
  const tbody = h("tbody");
  const problems = h("div");

  function fillRow(tr, p) {
    tr.replaceChildren(
      h("td", {}, h("a", { href: href(`/admin/products/${p.id}`), "aria-label": `Edit ${p.name}` }, p.name)),
      h("td", {}, p.sku), h("td", {}, p.category),
      h("td", { class: "num" }, money(p.priceCents, p.currency)),
      h("td", {}, p.active === false ? "Hidden" : "On sale"));
  }

  const list = pagedList({
    container: tbody,
    problems,
    fetchPage: (cursor) => get("/api/products", { limit: 50, cursor }),
    render: (p, { fresh }) => {
      const el = h("tr", { "data-product-id": p.id, class: fresh ? "row-new" : null });
      fillRow(el, p);
      return { el, p };
    },
  });
  const offs = [
    bus.on("admin:product:created", (d) => list.put({ id: d.productId, ...d }, { atTop: true, fresh: true })),
    bus.on("admin:product:updated", (d) => {
      const r = list.entries.get(d.productId);
      if (r) {
        Object.assign(r.p, d);
        fillRow(r.el, r.p);
      }
    }),
    bus.on("live:gap", () => list.load(true)),
  ];
  main.append(title("Products"), h("p", {}, h("a", { class: "button", href: href("/admin/products/new") }, "New product")), problems,
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, "Products"),
      h("thead", {}, h("tr", {}, ["Name", "SKU", "Category", "Price", "Shown"].map((t) => h("th", { class: t === "Price" ? "num" : null }, t)))),
      tbody)), list.more);
  list.load(true).then(() => {
    // The list is in name order: show the product just created first, whatever its name.
    if (!query.created) return;
    get(`/api/products/${encodeURIComponent(query.created)}`)
      .then((p) => list.put(p, { atTop: true, fresh: true }))
      .catch((err) => problems.replaceChildren(errorBox(err)));
  });
  return () => {
    list.stop();
    offs.forEach((off) => off());
  };
}

export function adminProductFormPage(main, params) {
  if (denied(main, "admin")) return undefined;
  const creating = params.id === "new";
  let original = null;
  const fields = {
    name: field("Name", h("input", { name: "name", required: true })),
    sku: field("SKU", h("input", { name: "sku", required: true, spellcheck: "false" }), { hint: "Letters, digits, dot, dash or underscore; unique." }),
    category: field("Category", h("input", { name: "category", required: true })),
    priceCents: field("Price", h("input", { name: "price", inputmode: "decimal", required: true }), { hint: "For example 19.99" }),
    currency: field("Currency", h("input", { name: "currency", value: "USD", maxlength: 3 }), { hint: "Three letters, e.g. USD" }),
    stock: field("Initial stock", h("input", { name: "stock", type: "number", min: 0, step: 1, value: 0 })),
    description: field("Description", h("textarea", { name: "description", rows: 3 })),
  };
  const active = h("input", { type: "checkbox", name: "active", id: "product-active", checked: true });
  const activeWrap = h("div", { class: "field check" }, active, h("label", { for: "product-active" }, "On sale (shown in the storefront)"));
  if (!creating) fields.stock.wrap.hidden = true;
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, creating ? "Create product" : "Save changes");
  const form = h("form", { class: "form form-wide", novalidate: true },
    h("div", { class: "form-row" }, fields.name.wrap, fields.sku.wrap),
    h("div", { class: "form-row" }, fields.category.wrap, fields.priceCents.wrap, fields.currency.wrap, fields.stock.wrap),
    fields.description.wrap, activeWrap,
    h("div", { class: "actions" }, submit, h("a", { href: href("/admin/products") }, "Back to products")),
    status);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    for (const f of Object.values(fields)) setFieldError(f, "");
    const body = {
      name: fields.name.input.value,
      sku: fields.sku.input.value,
      category: fields.category.input.value,
      currency: fields.currency.input.value,
      description: fields.description.input.value,
      active: active.checked,
    };
    const cents = parseMoney(fields.priceCents.input.value);
    if (cents === null) {
      setFieldError(fields.priceCents, "Enter a price like 19.99");
      fields.priceCents.input.focus();
      return;
    }
    body.priceCents = cents;
    if (creating) {
      const stock = fields.stock.input.value.trim();
      if (!/^\d+$/.test(stock)) {
        setFieldError(fields.stock, "Enter a whole number of units, 0 or more");
        fields.stock.input.focus();
        return;
      }
      body.stock = Number(stock);
    }
    let send = body;
    if (!creating && original) {
      send = Object.fromEntries(Object.entries(body).filter(([k, v]) => original[k] !== v));
      if (!Object.keys(send).length) {
        status.replaceChildren(notice("", "Nothing changed."));
        return;
      }
    }
    submit.disabled = true;
    try {
      const p = creating ? await post("/api/products", send) : await patch(`/api/products/${encodeURIComponent(params.id)}`, send);
      toast(creating ? `Product “${p.name}” created` : `Product “${p.name}” saved`, "success");
      navigate("/admin/products", creating ? { created: p.id } : {});
    } catch (err) {
      const placed = showFieldErrors(fields, err, { sku_taken: "sku" });
      status.replaceChildren(notice("error", placed ? `${err.message}: see the fields above.` : err.message));
      focusFirstInvalid(fields);
    } finally {
      submit.disabled = false;
    }
  });

  const picture = creating ? null : imageSection(params.id);
  main.append(h("p", {}, h("a", { href: href("/admin/products") }, "← Products")), title(creating ? "New product" : "Edit product"), form,
    picture ? picture.el : null);
  if (!creating) {
    submit.disabled = true;
    get(`/api/products/${encodeURIComponent(params.id)}`).then((p) => {
      original = p;
      fields.name.input.value = p.name;
      fields.sku.input.value = p.sku;
      fields.category.input.value = p.category;
      fields.priceCents.input.value = moneyInput(p.priceCents);
      fields.currency.input.value = p.currency;
      fields.description.input.value = p.description || "";
      active.checked = p.active !== false;
      picture.show(p);
      submit.disabled = false;
    }).catch((err) => status.replaceChildren(errorBox(err)));
  }
  return undefined;
}
