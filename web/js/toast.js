// Short messages in the page's aria-live region; they also go to the notification centre when
// they come from live events (see notifications.js).

const TTL_MS = 7000;

export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const p = document.createElement("p");
  p.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "×";
  close.setAttribute("aria-label", "Dismiss");
  const box = document.createElement("div");
  box.className = `toast ${kind}`;
  box.dataset.kind = kind;
  box.append(p, close);
  const remove = () => box.remove();
  close.addEventListener("click", remove);
  region.append(box);
  setTimeout(remove, TTL_MS);
}
