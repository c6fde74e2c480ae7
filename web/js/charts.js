// Small SVG charts drawn from numbers: per-minute bars and a horizontal funnel. Each chart is
// an <figure> with a caption and a text summary (role="img" + aria-label), so it reads without
// seeing it.

import { h, s } from "./dom.js";

/**
 * Bars over time. `bins` are [{start: Date, value: number}], oldest first.
 * `format(value)` renders a value for the labels; `kind` picks the bar colour class.
 */
export function barChart({ title, bins, format = String, kind = "" }) {
  const W = 420;
  const H = 170;
  const pad = { l: 56, r: 8, t: 12, b: 24 };
  const max = Math.max(1, ...bins.map((b) => b.value));
  const total = bins.reduce((sum, b) => sum + b.value, 0);
  const peak = bins.reduce((best, b) => (b.value > best.value ? b : best), bins[0] || { value: 0 });
  const bw = (W - pad.l - pad.r) / Math.max(1, bins.length);
  const y = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const summary = `${title}: ${format(total)} in the last ${bins.length} minutes` +
    (peak && peak.value > 0 ? `, peak ${format(peak.value)} at ${peak.start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}` : "");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary },
    s("title", {}, summary),
    s("line", { class: "axis", x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b }),
    s("line", { class: "axis", x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b }),
    s("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end" }, format(max)),
    s("text", { x: pad.l - 4, y: H - pad.b, "text-anchor": "end" }, format(0)),
    bins.map((b, i) => b.value > 0
      ? s("rect", { class: `bar ${kind}`, x: (pad.l + i * bw + 1).toFixed(1), y: y(b.value).toFixed(1),
        width: Math.max(1, bw - 2).toFixed(1), height: (H - pad.b - y(b.value)).toFixed(1) },
        s("title", {}, `${b.start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${format(b.value)}`))
      : null),
    [0, Math.floor(bins.length / 2), bins.length - 1].filter((i) => bins[i]).map((i) =>
      s("text", { x: (pad.l + i * bw + bw / 2).toFixed(1), y: H - 6, "text-anchor": i === 0 ? "start" : i === bins.length - 1 ? "end" : "middle" },
        bins[i].start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }))),
  );
  return h("figure", { class: "chart" }, h("figcaption", {}, title), svg, h("p", { class: "visually-hidden" }, summary));
}

/** Horizontal bars, one per stage: stages are [{label, value}] in order. */
export function funnelChart({ title, stages }) {
  const W = 420;
  const row = 26;
  const labelW = 90;
  const H = stages.length * row + 8;
  const max = Math.max(1, ...stages.map((st) => st.value));
  const summary = `${title}: ` + stages.map((st) => `${st.label} ${st.value}`).join(", ");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary },
    s("title", {}, summary),
    stages.map((st, i) => {
      const w = ((W - labelW - 50) * st.value) / max;
      const yPos = 4 + i * row;
      return s("g", {},
        s("text", { class: "funnel-label", x: 0, y: yPos + 17 }, st.label),
        s("rect", { class: `bar ${st.kind || ""}`, x: labelW, y: yPos + 3, width: Math.max(st.value > 0 ? 2 : 0, w).toFixed(1), height: row - 8, rx: 3 }),
        s("text", { class: "funnel-value", x: labelW + w + 6, y: yPos + 17 }, String(st.value)));
    }));
  return h("figure", { class: "chart" }, h("figcaption", {}, title), svg, h("p", { class: "visually-hidden" }, summary));
}

/** `count` minute bins ending with the current minute: [{start, value: 0}]. */
export function minuteBins(now = new Date(), count = 60) {
  const end = new Date(now);
  end.setSeconds(0, 0);
  return Array.from({ length: count }, (_, i) => ({ start: new Date(end.getTime() - (count - 1 - i) * 60000), value: 0 }));
}

/** Add `value` to the bin holding time `at` (ignored outside the bins). */
export function addToBin(bins, at, value) {
  const t = new Date(at).getTime();
  for (let i = bins.length - 1; i >= 0; i -= 1) {
    if (t >= bins[i].start.getTime()) {
      if (t < bins[i].start.getTime() + 60000) bins[i].value += value;
      return;
    }
  }
}
