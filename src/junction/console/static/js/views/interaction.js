// One interaction: its facts, usage, errors and step timeline; while it runs, a live
// view fed by its event stream (fetch-based SSE) and a cancel button.
import { get, post, stream } from "../api.js";
import { badge, clear, duration, errorBox, h, json, time } from "../dom.js";
import { timeline } from "./steps.js";

const RUNNING = new Set(["queued", "in_progress"]);

function facts(item) {
  const rows = [
    ["Status", badge(item.status)],
    [item.agent ? "Agent" : "Model", item.agent || item.model || "—"],
    ["Created", time(item.created)],
    ["Updated", time(item.updated)],
    ["Took", RUNNING.has(item.status) ? "running…" : duration(item.created, item.updated) || "—"],
    ["Previous", item.previous_interaction_id
      ? h("a", { href: `#/interactions/${encodeURIComponent(item.previous_interaction_id)}`, class: "mono" }, item.previous_interaction_id)
      : "—"],
    ["Environment", item.environment_id
      ? h("a", { href: `#/environments/${encodeURIComponent(item.environment_id)}`, class: "mono" }, item.environment_id)
      : "—"],
  ];
  return h("dl", { class: "kv", id: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function usageCard(usage) {
  if (!usage) return null;
  const cost = usage.cost;
  const cells = [
    ["Input tokens", usage.total_input_tokens], ["Output tokens", usage.total_output_tokens],
    ["Thought tokens", usage.total_thought_tokens], ["Cached tokens", usage.total_cached_tokens],
    ["Total tokens", usage.total_tokens],
  ];
  if (cost && cost.total !== undefined) cells.push([`Cost (${cost.currency || ""})`, cost.total]);
  return h("div", { class: "stats", id: "usage" },
    cells.filter(([, v]) => v !== undefined).map(([k, v]) => h("div", { class: "stat" }, h("b", {}, String(v)), k)));
}

function liveCard() {
  const list = h("div", { id: "live-steps" });
  const card = h("div", { class: "card live", id: "live" },
    h("div", { class: "step-head" }, h("span", { class: "pulse" }), h("b", {}, "Live"),
      h("span", { class: "muted", id: "live-status" }, "following the event stream…")),
    list);
  const open = new Map();
  return {
    card,
    event(event) {
      if (event.event_type === "step.start") {
        const body = h("div", { class: "body" });
        const type = (event.step && event.step.type) || "step";
        const name = event.step && event.step.name ? ` · ${event.step.name}` : "";
        list.append(h("div", { class: "live-step", dataset: { type } }, h("span", { class: "muted" }, `${type}${name}: `), body));
        open.set(event.index, body);
      } else if (event.event_type === "step.delta") {
        const body = open.get(event.index);
        const d = event.delta || {};
        let text;
        if (d.type === "text") text = d.text;
        else if (d.type === "thought_summary") text = d.content && d.content.text;
        else if (typeof d.arguments === "string") text = d.arguments;
        else if (d.arguments !== undefined) text = JSON.stringify(d.arguments);
        else if (d.result !== undefined) text = typeof d.result === "string" ? d.result : JSON.stringify(d.result);
        if (body && typeof text === "string") body.append(text);
      } else if (event.event_type === "interaction.status_update") {
        card.querySelector("#live-status").textContent = `status: ${event.status || ""}`;
      }
    },
  };
}

export async function render(main, route, signal) {
  const id = route.id;
  const path = `interactions/${encodeURIComponent(id)}`;
  let item = await get(path);
  if (signal.aborted) return;

  const header = h("div", { class: "header" });
  const body = h("div", {});
  const live = RUNNING.has(item.status) ? liveCard() : null;

  // One Cancel button for the page's life: draw() runs again on every status event, and a
  // button made anew each time would be swapped out from under a click in flight.
  const cancelButton = h("button", {
    class: "danger", id: "cancel",
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        item = await post(`${path}/cancel`);
        draw();
      } catch (error) {
        body.prepend(errorBox(error));
        event.target.disabled = false;
      }
    },
  }, "Cancel");

  function draw() {
    const cancel = RUNNING.has(item.status) ? cancelButton : null;
    clear(header, h("h1", { class: "mono" }, id), badge(item.status), h("span", { class: "spacer" }), cancel);
    clear(body,
      h("div", { class: "card" }, facts(item)),
      usageCard(item.usage),
      item.errors ? [h("h2", {}, "Errors"), h("div", { class: "card error", id: "errors" }, json(item.errors))] : null,
      live && RUNNING.has(item.status) ? live.card : null,
      h("h2", {}, `Steps (${(item.steps || []).length})`),
      (item.steps || []).length ? timeline(item.steps) : h("p", { class: "muted" }, "No steps yet."),
      item.system_instruction ? [h("h2", {}, "System instruction"), json(item.system_instruction)] : null,
      item.tools ? [h("h2", {}, "Tools"), json(item.tools)] : null);
  }

  clear(main, h("div", { class: "crumbs" }, h("a", { href: "#/interactions" }, "Interactions"), " / ", id), header, body);
  draw();
  if (!live) return;

  let pending = null;
  const refresh = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try {
        item = await get(path);
        if (!signal.aborted) draw();
      } catch (_) { /* the stream goes on; the next event retries */ }
    }, 150);
  };
  try {
    await stream(path, { stream: "true" }, (event) => {
      live.event(event);
      if (event.event_type !== "step.delta") refresh();
    }, signal);
  } catch (error) {
    if (error.name === "AbortError") return;
  }
  if (!signal.aborted) {
    item = await get(path);
    draw();
  }
}
