// Register and sign in. Field errors come from the API's error details, next to each field.

import { post } from "../api.js";
import { field, h, notice, setFieldError } from "../dom.js";
import { href, navigate } from "../router.js";
import { signIn } from "../session.js";
import { focusFirstInvalid, showFieldErrors, title } from "../widgets.js";

function authForm(main, query, { register }) {
  const fields = {};
  if (register) fields.name = field("Name", h("input", { name: "name", autocomplete: "name", required: true }));
  fields.email = field("Email", h("input", { name: "email", type: "email", autocomplete: "email", required: true }));
  fields.password = field("Password", h("input", {
    name: "password", type: "password", required: true,
    autocomplete: register ? "new-password" : "current-password",
  }), { hint: register ? "At least 8 characters." : null });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, register ? "Create account" : "Sign in");
  const form = h("form", { class: "form", novalidate: true },
    Object.values(fields).map((f) => f.wrap), h("div", { class: "actions" }, submit), status);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const f of Object.values(fields)) setFieldError(f, "");
    status.replaceChildren();
    const body = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.input.value.trim()]));
    body.password = fields.password.input.value; // passwords are not trimmed
    submit.disabled = true;
    try {
      const auth = await post(register ? "/api/auth/register" : "/api/auth/login", body);
      signIn(auth);
      const next = query.next && query.next.startsWith("/") ? query.next : auth.user.role === "admin" ? "/admin" : "/";
      const [path, qs = ""] = next.split("?");
      navigate(path, Object.fromEntries(new URLSearchParams(qs)));
    } catch (err) {
      const placed = showFieldErrors(fields, err, { email_taken: "email" });
      status.replaceChildren(notice("error", placed ? `${err.message}: see the fields above.` : err.message));
      focusFirstInvalid(fields, fields.email.input);
    } finally {
      submit.disabled = false;
    }
  });

  main.append(
    title(register ? "Create an account" : "Sign in"),
    form,
    h("p", {}, register ? "Already have an account? " : "New here? ",
      h("a", { href: href(register ? "/login" : "/register", query.next ? { next: query.next } : {}) },
        register ? "Sign in" : "Create an account")),
  );
}

export function loginPage(main, _params, query) {
  authForm(main, query, { register: false });
}

export function registerPage(main, _params, query) {
  authForm(main, query, { register: true });
}
