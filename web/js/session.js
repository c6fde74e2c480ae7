// Who is signed in. The token lives in sessionStorage (this tab's session only) and is sent
// only in the Authorization header or the relay's auth message, never in a URL.

import { createStore } from "./store.js";

const KEY = "shop.session";

function read() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (saved && typeof saved.token === "string" && saved.user) return saved;
  } catch {
    /* a damaged entry counts as signed out */
  }
  return null;
}

export const session = createStore({ auth: read() });

export function token() {
  return session.get().auth?.token || null;
}

export function user() {
  return session.get().auth?.user || null;
}

export function isAdmin() {
  return user()?.role === "admin";
}

export function signIn(auth) {
  sessionStorage.setItem(KEY, JSON.stringify({ token: auth.token, user: auth.user }));
  session.set({ auth: { token: auth.token, user: auth.user } });
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  session.set({ auth: null });
}
