// HTTP to the shop's API: JSON in and out, the token in the Authorization header, and every
// failure turned into an ApiError carrying the API's own code, message and details.

import { config } from "./config.js";
import { signOut, token } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
  }

  /** {field: message} from the details of a validation error. */
  fieldErrors() {
    const out = {};
    for (const d of this.details) {
      if (d && typeof d.field === "string" && !(d.field in out)) out[d.field] = String(d.message || "invalid");
    }
    return out;
  }
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `?${qs}` : "";
}

export async function api(method, path, { body, query, headers = {} } = {}) {
  const hdrs = { Accept: "application/json", ...headers };
  if (body !== undefined) hdrs["Content-Type"] = "application/json";
  const t = token();
  if (t) hdrs.Authorization = `Bearer ${t}`;
  let res;
  try {
    res = await fetch(config.apiUrl + path + queryString(query), {
      method,
      headers: hdrs,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network_error", `Cannot reach the shop's API (${config.apiUrl}). Check your connection and try again.`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && typeof data.error === "object" ? data.error : {};
    if (res.status === 401 && t) signOut(); // the token expired or was revoked: sign in again
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || `The API answered ${res.status}.`, err.details);
  }
  return data;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body, headers) => api("POST", path, { body, headers });
export const patch = (path, body) => api("PATCH", path, { body });
