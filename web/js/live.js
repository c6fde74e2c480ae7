// The WebSocket to the relay: authenticate, subscribe, keep the last cursor, reconnect with
// backoff and resume from that cursor, so events missed while away arrive in order; each
// event is applied once (deduped on its event name and id). A `gap` means the relay cannot
// replay what was missed: pages reload their lists (bus event "live:gap").

import { config } from "./config.js";
import { bus, createStore } from "./store.js";

const SEEN_LIMIT = 5000;

/** state: "offline" | "connecting" | "live" | "reconnecting"; reason says why when not live. */
export const connection = createStore({ state: "offline", reason: "Sign in for live updates" });

let socket = null;
let creds = null; // {token, channels}
let cursor = null;
let attempt = 0;
let timer = null;
let pending = 0;
const seen = new Set();
const order = [];

function remember(key) {
  seen.add(key);
  order.push(key);
  if (order.length > SEEN_LIMIT) seen.delete(order.shift());
}

function setState(state, reason = "") {
  connection.set({ state, reason });
}

function handle(frame) {
  switch (frame.type) {
    case "authenticated": {
      const since = cursor; // one cursor for every channel, taken before any replay
      pending = creds.channels.length;
      for (const channel of creds.channels) {
        socket.send(JSON.stringify(since ? { type: "subscribe", channel, since } : { type: "subscribe", channel }));
      }
      break;
    }
    case "subscribed":
      pending -= 1;
      if (pending <= 0) {
        // Every channel's replay is done: the relay has sent us everything up to this position.
        if (frame.cursor) cursor = frame.cursor;
        attempt = 0;
        setState("live");
      }
      break;
    case "event": {
      const key = `${frame.event}|${frame.id}`;
      if (frame.cursor) cursor = frame.cursor;
      if (seen.has(key)) return;
      remember(key);
      bus.emit(frame.event, frame.data || {}, frame);
      break;
    }
    case "gap":
      bus.emit("live:gap", { channel: frame.channel, reason: frame.reason });
      break;
    case "error":
      if (frame.code === "forbidden") pending -= 1;
      console.warn("relay:", frame.code, frame.message);
      break;
    default:
      break;
  }
}

function scheduleReconnect(reason) {
  if (!creds) return;
  attempt += 1;
  const delay = Math.min(5000, 500 * 2 ** Math.min(attempt - 1, 4)) * (0.8 + Math.random() * 0.4);
  setState(navigator.onLine === false ? "offline" : "reconnecting", reason);
  clearTimeout(timer);
  timer = setTimeout(open, delay);
}

function open() {
  clearTimeout(timer);
  if (!creds) return;
  if (!config.wsUrl) {
    setState("offline", "No relay configured");
    return;
  }
  setState(attempt === 0 && !cursor ? "connecting" : "reconnecting", "Connecting to live updates…");
  let ws;
  try {
    ws = new WebSocket(config.wsUrl);
  } catch {
    scheduleReconnect("The live-update address is invalid");
    return;
  }
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: creds.token }));
  ws.onmessage = (msg) => {
    let frame;
    try {
      frame = JSON.parse(msg.data);
    } catch {
      return;
    }
    if (ws === socket && frame && typeof frame.type === "string") handle(frame);
  };
  ws.onclose = (ev) => {
    if (ws !== socket) return;
    socket = null;
    if (ev.code === 4401) {
      setState("offline", "Your session ended: sign in again for live updates");
      bus.emit("live:unauthorized", {});
      return;
    }
    scheduleReconnect("Cannot reach the live-update relay; retrying");
  };
}

/** Connect (or reconnect with new credentials) for a signed-in user. */
export function start(token, role) {
  const channels = role === "admin" ? ["inventory", "admin"] : ["inventory", "orders"];
  const same = creds && creds.token === token;
  creds = { token, channels };
  if (same && socket) return;
  stop(false);
  creds = { token, channels };
  attempt = 0;
  open();
}

/** Close the connection and forget the cursor (signed out). */
export function stop(forget = true) {
  clearTimeout(timer);
  if (forget) {
    creds = null;
    cursor = null;
    seen.clear();
    order.length = 0;
  }
  const ws = socket;
  socket = null;
  if (ws) ws.close(1000, "bye");
  if (forget) setState("offline", "Sign in for live updates");
}

window.addEventListener("online", () => {
  if (creds && !socket) {
    attempt = 0;
    open();
  }
});
window.addEventListener("offline", () => {
  if (creds) setState("offline", "Your device is offline");
});
