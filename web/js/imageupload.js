// The product form's picture: ask the API for a presigned upload, send the file straight to the
// bucket, then follow the upload until the function has made the sizes (or refused the file).
// The API alone decides what is accepted; its message is shown as it is.

import { ApiError, get, post } from "./api.js";
import { field, h, notice, setFieldError, uid } from "./dom.js";
import { productImage, setProductImage } from "./images.js";

const POLL_MS = 500;
const WAIT_MS = 90_000;

function refusal(err) {
  if (err instanceof ApiError && err.details.length) return err.details.map((d) => d.message).join("; ");
  return err.message || String(err);
}

async function sendToBucket(upload, file) {
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append("file", file);
  let res;
  try {
    res = await fetch(upload.url, { method: "POST", body: form });
  } catch {
    throw new Error("Cannot reach the picture store. Check your connection and try again.");
  }
  if (!res.ok) {
    const text = await res.text();
    const message = /<Message>([^<]*)<\/Message>/.exec(text);
    throw new Error(`the picture store refused the file${message ? `: ${message[1]}` : ` (${res.status})`}`);
  }
}

async function outcome(productId, uploadId) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const state = await get(`/api/products/${encodeURIComponent(productId)}/image-uploads/${encodeURIComponent(uploadId)}`);
    if (state.status !== "waiting" || Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** {el, show(product)}: the picture section of the product form of `productId`. */
export function imageSection(productId) {
  let product = { name: "", image: null };
  const preview = productImage(product, "thumbnail");
  const input = h("input", { type: "file", name: "image", accept: "image/jpeg,image/png,image/webp" });
  const f = field("Picture file", input, { hint: "JPEG, PNG or WebP, at most 5 MiB. It replaces the current picture at once." });
  const button = h("button", { type: "button" }, "Upload picture");
  const status = h("div", { "aria-live": "polite", "data-image-status": "" });
  const heading = h("h2", { id: uid("picture") }, "Picture");

  button.addEventListener("click", async () => {
    setFieldError(f, "");
    const file = input.files && input.files[0];
    if (!file) {
      setFieldError(f, "Choose a file first");
      input.focus();
      return;
    }
    button.disabled = true;
    status.replaceChildren(notice("", `Uploading ${file.name}…`));
    try {
      let upload;
      try {
        upload = await post(`/api/products/${encodeURIComponent(productId)}/image-uploads`, { contentType: file.type, size: file.size });
      } catch (err) {
        const why = refusal(err);
        setFieldError(f, why);
        status.replaceChildren(notice("error", `${file.name} was refused: ${why}. The product is unchanged.`));
        return;
      }
      await sendToBucket(upload, file);
      status.replaceChildren(notice("", `Processing ${file.name}…`));
      const state = await outcome(productId, upload.uploadId);
      if (state.status === "ready") {
        product = await get(`/api/products/${encodeURIComponent(productId)}`);
        setProductImage(preview, product, "thumbnail");
        input.value = "";
        status.replaceChildren(notice("success", `Picture saved: ${file.name}.`));
      } else if (state.status === "rejected") {
        setFieldError(f, state.error);
        status.replaceChildren(notice("error", `${file.name} was refused: ${state.error}. The product is unchanged.`));
      } else {
        status.replaceChildren(notice("warning", `${file.name} is still being processed; reload the page later to see it.`));
      }
    } catch (err) {
      status.replaceChildren(notice("error", `${file.name} could not be uploaded: ${refusal(err)}.`));
    } finally {
      button.disabled = false;
    }
  });

  const el = h("section", { class: "form form-wide", "aria-labelledby": heading.id },
    heading,
    h("div", { class: "image-field" }, preview, h("div", {}, f.wrap, h("div", { class: "actions" }, button), status)));
  return {
    el,
    show(p) {
      product = p;
      setProductImage(preview, p, "thumbnail");
    },
  };
}
