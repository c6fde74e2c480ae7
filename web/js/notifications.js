// The notification centre: every live notification of this tab's session, newest first, with
// an unread count. notify() also shows it as a toast.

import { createStore } from "./store.js";
import { toast } from "./toast.js";

const LIMIT = 200;
let next = 1;

export const notifications = createStore({ items: [], unread: 0 });

export function notify(message, kind = "info", key = null) {
  const { items } = notifications.get();
  if (key && items.some((n) => n.key === key)) return; // the same change announced once
  const item = { id: next++, key, message, kind, at: new Date().toISOString(), read: false };
  const all = [item, ...items].slice(0, LIMIT);
  notifications.set({ items: all, unread: all.filter((n) => !n.read).length });
  toast(message, kind);
}

export function markAllRead() {
  const items = notifications.get().items.map((n) => ({ ...n, read: true }));
  notifications.set({ items, unread: 0 });
}

export function clearNotifications() {
  notifications.set({ items: [], unread: 0 });
}
