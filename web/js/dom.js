// The one DOM helper: elements are built with createElement and text goes in as text nodes,
// so no API or event string is ever parsed as HTML.

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "value" && "value" in el) el.value = String(value);
    else if (key === "checked" && "checked" in el) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

/** h("p", {class: "x"}, "text", child, [more]) → an element; strings become text nodes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** The same for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Replace every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idCounter = 0;
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * A labelled form field: {wrap, input, error}. `input` may be an element you built; its error
 * is linked by aria-describedby so a screen reader reads it with the control.
 */
export function field(label, input, { hint } = {}) {
  const id = input.id || uid(input.name || "field");
  input.id = id;
  const error = h("span", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  const described = [error.id];
  let hintEl = null;
  if (hint) {
    hintEl = h("span", { class: "hint", id: `${id}-hint` }, hint);
    described.push(hintEl.id);
  }
  input.setAttribute("aria-describedby", described.join(" "));
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl, error);
  return { wrap, input, error };
}

/** Show `message` (or clear it) under a field made by `field()`. */
export function setFieldError(f, message) {
  f.error.textContent = message || "";
  if (message) f.input.setAttribute("aria-invalid", "true");
  else f.input.removeAttribute("aria-invalid");
}

/** A message box; kind is "error", "warning", "success" or "" (role alert for errors). */
export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, ...children);
}
