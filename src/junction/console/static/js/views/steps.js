// One timeline entry per step, whatever its type: text content, thoughts, tool calls
// with their arguments, tool results, code output, files and errors.
import { h, json } from "../dom.js";

const HIDDEN = new Set(["type", "signature", "content", "summary", "arguments", "result", "name", "id", "call_id"]);

function contentPart(part) {
  if (!part || typeof part !== "object") return h("div", { class: "body" }, String(part));
  if (part.type === "text") return h("div", { class: "body" }, part.text || "");
  const label = [part.type, part.mime_type, part.uri].filter(Boolean).join(" · ");
  const size = part.data ? ` (${Math.round((part.data.length * 3) / 4)} bytes inline)` : "";
  return h("div", { class: "muted" }, `[${label}${size}]`);
}

function content(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return h("div", { class: "body" }, value);
  if (Array.isArray(value)) return value.map(contentPart);
  return json(value);
}

function title(step) {
  const kind = step.type || "step";
  if (step.name) return `${kind} · ${step.name}`;
  if (step.server_name) return `${kind} · ${step.server_name}`;
  return kind;
}

function extras(step) {
  const rest = Object.fromEntries(Object.entries(step).filter(([k]) => !HIDDEN.has(k)));
  return Object.keys(rest).length ? h("details", {}, h("summary", { class: "muted" }, "details"), json(rest)) : null;
}

export function stepCard(step, index) {
  const failed = step.is_error || step.type === "error";
  const ids = [step.id, step.call_id].filter(Boolean).join(" → ");
  return h("li", { class: `step ${step.type || ""} ${failed ? "error" : ""}`, dataset: { index, type: step.type } },
    h("div", { class: "card" },
      h("div", { class: "step-head" },
        h("span", { class: "step-type" }, title(step)),
        ids ? h("span", { class: "muted mono" }, ids) : null,
        failed ? h("span", { class: "badge failed" }, "error") : null),
      content(step.content),
      step.summary ? content(step.summary) : null,
      step.arguments !== undefined ? [h("div", { class: "muted" }, "arguments"), json(step.arguments)] : null,
      step.result !== undefined ? [h("div", { class: "muted" }, "result"), json(step.result)] : null,
      extras(step)));
}

export function timeline(steps) {
  return h("ol", { class: "timeline", id: "timeline" }, steps.map((s, i) => stepCard(s, i)));
}
