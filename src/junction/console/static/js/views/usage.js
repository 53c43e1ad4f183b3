// Usage per day and model, from GET /{v}/usage (the server's daily rollups, with cost).
import { get } from "../api.js";
import { stackedBars } from "../chart.js";
import { clear, h, table } from "../dom.js";

const METRICS = [
  ["total_tokens", "Total tokens", "tokens"], ["input_tokens", "Input tokens", "tokens"],
  ["output_tokens", "Output tokens", "tokens"], ["cost", "Cost", ""],
];

function day(offset) {
  const at = new Date();
  at.setUTCDate(at.getUTCDate() - offset);
  return at.toISOString().slice(0, 10);
}

function report(start, end) {
  return get("usage", { start, end, group_by: "day,model" });
}

export async function render(main, route, signal) {
  const span = Number(route.query.get("days")) || 14;
  const end = day(0), start = day(span - 1);
  const body = await report(start, end);
  if (signal.aborted) return;
  const rows = body.usage || [];
  const days = Array.from({ length: span }, (_, i) => day(span - 1 - i));
  const series = [...new Set(rows.map((r) => r.model || "(none)"))].sort();
  const hasCost = rows.some((r) => typeof r.cost === "number" && r.cost > 0);
  const metrics = METRICS.filter(([key]) => key !== "cost" || hasCost);
  const chosen = metrics.find(([key]) => key === route.query.get("metric")) || metrics[0];
  const cell = new Map(rows.map((r) => [`${r.day}|${r.model || "(none)"}`, r]));
  const value = (d, s) => Number((cell.get(`${d}|${s}`) || {})[chosen[0]] || 0);
  const sum = (key) => rows.reduce((t, r) => t + Number(r[key] || 0), 0);
  const unit = chosen[0] === "cost" ? body.currency || "" : chosen[2];
  const link = (label, params) => h("a", { href: `#/usage?${new URLSearchParams(params)}` }, label);

  clear(main,
    h("div", { class: "header" }, h("h1", {}, "Usage"), h("span", { class: "spacer" }),
      [7, 14, 30, 90].map((n) => [link(`${n} days`, { days: n, metric: chosen[0] }), " "])),
    h("div", { class: "stats" },
      h("div", { class: "stat" }, h("b", { id: "sum-interactions" }, sum("interactions").toLocaleString()), "interactions"),
      h("div", { class: "stat" }, h("b", { id: "sum-tokens" }, sum("total_tokens").toLocaleString()), "tokens"),
      hasCost ? h("div", { class: "stat" }, h("b", {}, `${sum("cost").toFixed(4)} ${body.currency || ""}`), "cost") : null),
    h("div", { class: "card" },
      h("div", { class: "toolbar" }, metrics.map(([key, label]) =>
        key === chosen[0] ? h("b", {}, label) : link(label, { days: span, metric: key }))),
      rows.length
        ? stackedBars({ id: "usage-chart", days, series, value, unit })
        : h("p", { class: "empty" }, "No usage in this period.")),
    h("h2", {}, "By day and model"),
    table(["Day", "Model / agent", "Interactions", "Input", "Output", "Total", ...(hasCost ? ["Cost"] : [])],
      rows.slice().reverse().map((r) => h("tr", {},
        h("td", {}, r.day), h("td", {}, r.model || "(none)"), h("td", {}, String(r.interactions ?? "")),
        h("td", {}, String(r.input_tokens ?? "")), h("td", {}, String(r.output_tokens ?? "")),
        h("td", {}, String(r.total_tokens ?? "")), ...(hasCost ? [h("td", {}, String(r.cost ?? ""))] : []))),
      "No usage in this period."));
}
