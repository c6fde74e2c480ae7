// Product pictures: the processed rendition ("thumbnail" for the grid, "detail" for the product
// page) when the product has one, else a neutral placeholder; the alt text is the product's name.

import { h } from "./dom.js";

const PLACEHOLDER = "img/placeholder.svg";

/** An <img> of `p` at `size`; keep it and call setProductImage when the product changes. */
export function productImage(p, size) {
  const img = h("img", { class: "product-image", "data-size": size, decoding: "async" });
  // A picture that cannot be loaded (e.g. a local stack's S3 restarted empty) shows the placeholder.
  img.addEventListener("error", () => {
    if (img.getAttribute("src") === PLACEHOLDER) return;
    img.setAttribute("src", PLACEHOLDER);
    img.dataset.placeholder = "missing";
  });
  setProductImage(img, p, size);
  return img;
}

export function setProductImage(img, p, size) {
  const rendition = p.image && p.image[size];
  const src = rendition ? rendition.url : PLACEHOLDER;
  if (img.getAttribute("src") !== src) img.setAttribute("src", src);
  img.alt = p.name;
  img.width = rendition ? rendition.width : 480;
  img.height = rendition ? rendition.height : 360;
  img.dataset.placeholder = rendition ? "false" : "true";
}
