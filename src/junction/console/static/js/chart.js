// A stacked bar chart in SVG, drawn by hand: one bar per day, one colour per series.
// Every bar segment is a <rect> carrying data-day, data-series and data-value.
import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
export const COLORS = ["#4f46e5", "#0891b2", "#f59e0b", "#10b981", "#ef4444", "#a855f7", "#64748b", "#ec4899"];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// A tick step of 1, 2 or 5 × 10^k giving at most five intervals up to the top.
function ticks(value) {
  if (value <= 0) return { top: 1, step: 0.25 };
  const raw = value / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return { top: Math.ceil(value / step) * step, step };
}

function short(value) {
  if (value >= 1e9) return `${+(value / 1e9).toFixed(1)}B`;
  if (value >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return `${+value.toFixed(value < 1 && value > 0 ? 4 : 0)}`;
}

// days: ["2026-11-01", ...]; series: ["model", ...]; value(day, series) -> number
export function stackedBars({ id, days, series, value, unit }) {
  const width = 900, height = 300, left = 56, right = 12, top = 12, bottom = 36;
  const plotW = width - left - right, plotH = height - top - bottom;
  const totals = days.map((d) => series.reduce((sum, s) => sum + (value(d, s) || 0), 0));
  const { top: max, step } = ticks(Math.max(0, ...totals));
  const slot = plotW / Math.max(days.length, 1);
  const bar = Math.max(2, Math.min(36, slot * 0.7));
  const y = (v) => top + plotH - (v / max) * plotH;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", id, role: "img", "aria-label": `${unit} per day` });
  for (let v = 0; v <= max + step / 2; v += step) {
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#e3e6ef" }),
      svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, short(v)));
  }
  const every = Math.ceil(days.length / 12);
  days.forEach((day, i) => {
    const x = left + slot * i + (slot - bar) / 2;
    let base = 0;
    series.forEach((name, k) => {
      const v = value(day, name) || 0;
      if (v <= 0) return;
      chart.append(svg("rect", {
        x, width: bar, y: y(base + v), height: Math.max(1, y(base) - y(base + v)), rx: 2,
        fill: COLORS[k % COLORS.length], class: "point", "data-day": day, "data-series": name, "data-value": v,
      }, svg("title", {}, `${day} · ${name}: ${short(v)} ${unit}`)));
      base += v;
    });
    if (i % every === 0) {
      chart.append(svg("text", { x: x + bar / 2, y: height - bottom + 16, "text-anchor": "middle" }, day.slice(5)));
    }
  });
  const legend = h("div", { class: "legend" }, series.map((name, k) =>
    h("span", {}, h("span", { class: "swatch", style: null, dataset: { color: k } }), name)));
  // colours via CSSOM (the CSP forbids inline style attributes)
  legend.querySelectorAll(".swatch").forEach((el) => { el.style.background = COLORS[Number(el.dataset.color) % COLORS.length]; });
  return h("div", {}, chart, legend);
}
