// The WebSocket to the relay, for everyone: an anonymous visitor's socket subscribes to the
// public channel (inventory: stock and catalog changes); signing in sends `auth` on the same
// socket, which then also subscribes to the user's own channels. The client keeps the last
// cursor, reconnects with backoff and resumes from that cursor, so events missed while away
// arrive in order; each event is applied once (deduped on its event name and id). A `gap` means
// the relay cannot replay what was missed: pages reload their lists (bus event "live:gap").

import { config } from "./config.js";
import { bus, createStore } from "./store.js";

const SEEN_LIMIT = 5000;
const PUBLIC = ["inventory"];

/** state: "offline" | "connecting" | "live" | "reconnecting"; reason says why when not live;
 * audience: "public" (anonymous socket, or the user's own channels not subscribed yet) or "user". */
export const connection = createStore({ state: "offline", reason: "Not connected yet", audience: "public" });

let wanted = false; // start() or anonymous() was called
let socket = null;
let creds = null; // {token, channels} of the signed-in user; null: anonymous
let authedWith = null; // the token the current socket authenticated with; null: anonymous socket
let subscribed = new Set(); // channels asked of the current socket
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
  connection.set({ state, reason, audience: authedWith && pending <= 0 ? "user" : "public" });
}

/** Ask for every channel this visitor should have that the socket does not have yet. */
function subscribeMissing(since) {
  const channels = (creds && authedWith ? creds.channels : PUBLIC).filter((c) => !subscribed.has(c));
  pending += channels.length;
  for (const channel of channels) {
    subscribed.add(channel);
    socket.send(JSON.stringify(since ? { type: "subscribe", channel, since } : { type: "subscribe", channel }));
  }
  if (pending <= 0) live();
}

function live() {
  attempt = 0;
  setState("live");
}

function handle(frame) {
  switch (frame.type) {
    case "authenticated": {
      const upgraded = subscribed.size > 0; // signed in on a live anonymous socket: new channels start now
      authedWith = creds ? creds.token : null;
      subscribeMissing(upgraded ? null : cursor); // one cursor for every channel, taken before any replay
      break;
    }
    case "subscribed":
      pending -= 1;
      if (pending <= 0) {
        // Every channel's replay is done: the relay has sent us everything up to this position.
        if (frame.cursor) cursor = frame.cursor;
        live();
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
      if (frame.channel && subscribed.delete(frame.channel)) {
        pending -= 1;
        if (pending <= 0) live();
      }
      console.warn("relay:", frame.code, frame.message);
      break;
    default:
      break;
  }
}

function scheduleReconnect(reason) {
  if (!wanted) return;
  attempt += 1;
  const delay = Math.min(5000, 500 * 2 ** Math.min(attempt - 1, 4)) * (0.8 + Math.random() * 0.4);
  setState(navigator.onLine === false ? "offline" : "reconnecting", reason);
  clearTimeout(timer);
  timer = setTimeout(open, delay);
}

function open() {
  clearTimeout(timer);
  if (!wanted) return;
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
  authedWith = null;
  subscribed = new Set();
  pending = 0;
  ws.onopen = () => {
    if (creds) ws.send(JSON.stringify({ type: "auth", token: creds.token }));
    else subscribeMissing(cursor);
  };
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
    if (ev.code === 4401 && creds) { // the token expired or was refused
      setState("offline", "Your session ended: sign in again for live updates");
      bus.emit("live:unauthorized", {});
      return;
    }
    scheduleReconnect(ev.code === 4408 ? "Too many live connections from this network; retrying"
      : "Cannot reach the live-update relay; retrying");
  };
}

function reconnect() {
  clearTimeout(timer);
  const ws = socket;
  socket = null;
  if (ws) ws.close(1000, "bye");
  attempt = 0;
  open();
}

/** Live updates for a signed-in user: `auth` on the open anonymous socket, else a new socket. */
export function start(token, role) {
  const channels = role === "admin" ? ["inventory", "admin"] : ["inventory", "orders"];
  const same = creds && creds.token === token;
  creds = { token, channels };
  wanted = true;
  if (same && socket) return;
  if (socket && !authedWith && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "auth", token }));
    return;
  }
  if (socket && !authedWith && socket.readyState === WebSocket.CONNECTING) return; // onopen authenticates
  reconnect();
}

/** Live updates for a visitor who is not signed in (the public channel). Signing out forgets the
 * user's cursor and opens an anonymous socket. */
export function anonymous() {
  const wasUser = creds !== null;
  wanted = true;
  if (!wasUser && socket) return;
  creds = null;
  cursor = null;
  seen.clear();
  order.length = 0;
  reconnect();
}

window.addEventListener("online", () => {
  if (wanted && !socket) {
    attempt = 0;
    open();
  }
});
window.addEventListener("offline", () => {
  if (wanted) setState("offline", "Your device is offline");
});
