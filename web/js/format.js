// How numbers, money and times are shown.

const moneyFormats = new Map();

/** Integer minor units → "$12.34" in the currency given. */
export function money(cents, currency = "USD") {
  const code = (currency || "USD").toUpperCase();
  let fmt = moneyFormats.get(code);
  if (!fmt) {
    try {
      fmt = new Intl.NumberFormat("en-US", { style: "currency", currency: code });
    } catch {
      fmt = { format: (v) => `${v.toFixed(2)} ${code}` };
    }
    moneyFormats.set(code, fmt);
  }
  return fmt.format((Number(cents) || 0) / 100);
}

/** "12.34" → 1234; null when it is not a plain amount with at most two decimals. */
export function parseMoney(text) {
  const t = String(text ?? "").trim();
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return null;
  const [whole, frac = ""] = t.split(".");
  return Number(whole) * 100 + Number(frac.padEnd(2, "0"));
}

/** 1234 → "12.34" for an input's value. */
export function moneyInput(cents) {
  return (Number(cents) / 100).toFixed(2);
}

/** An ISO time → a short local date and time. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** The last characters of an id, as people read it (order ids start with their time, so the end differs). */
export function shortId(id) {
  return String(id || "").slice(-8);
}

/** Tax in minor units, exactly as the API computes it (shop.orders.domain.tax_for): half up. */
export function taxFor(subtotalCents, taxRateBps) {
  return Math.floor((subtotalCents * taxRateBps + 5000) / 10000);
}
