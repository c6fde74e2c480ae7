// The notification centre: this session's live notifications, newest first. Opening it marks
// them read.

import { h } from "../dom.js";
import { clearNotifications, markAllRead, notifications } from "../notifications.js";
import { title } from "../widgets.js";

export function notificationsPage(main) {
  const list = h("ul", { class: "notifications", "aria-label": "Notifications" });
  const draw = () => {
    const { items } = notifications.get();
    list.replaceChildren(...(items.length
      ? items.map((n) => h("li", { class: n.read ? "" : "unread", "data-kind": n.kind },
        n.read ? null : h("span", { class: "visually-hidden" }, "New: "), n.message,
        h("time", { datetime: n.at }, new Date(n.at).toLocaleTimeString())))
      : [h("li", {}, "Nothing yet. Order updates, stock alerts and new orders appear here while you are signed in.")]));
  };
  draw();
  const off = notifications.subscribe(draw);
  const clearButton = h("button", { type: "button", class: "secondary", onclick: clearNotifications }, "Clear all");
  main.append(title("Notifications"), h("div", { class: "actions" }, clearButton), list);
  // Read once they have been shown.
  setTimeout(markAllRead, 0);
  const offRead = notifications.subscribe((st) => {
    if (st.unread) setTimeout(markAllRead, 1500);
  });
  return () => {
    off();
    offRead();
  };
}
