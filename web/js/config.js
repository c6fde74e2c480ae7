// The runtime configuration the server (or the deployment) writes next to the site.

export const config = { apiUrl: "", wsUrl: "", taxRateBps: 0 };

export async function loadConfig() {
  const res = await fetch("config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  Object.assign(config, await res.json());
  config.apiUrl = String(config.apiUrl || "").replace(/\/$/, "");
  return config;
}
