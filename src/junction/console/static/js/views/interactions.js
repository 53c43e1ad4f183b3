// Interactions: newest first, filtered by status, model, agent and creation time, paged
// with the server's keyset tokens.
import { get } from "../api.js";
import { badge, clear, duration, errorBox, h, table, time } from "../dom.js";

const STATUSES = ["", "queued", "in_progress", "requires_action", "completed", "incomplete",
  "failed", "cancelled", "budget_exceeded"];
const PAGE_SIZE = 25;
const RUNNING = new Set(["queued", "in_progress"]);

function localInput(iso) {
  // datetime-local wants local time without a zone
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  return new Date(at.getTime() - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function tokens(usage) {
  return usage && usage.total_tokens !== undefined ? Number(usage.total_tokens).toLocaleString() : "—";
}

function row(item) {
  return h("tr", { dataset: { id: item.id } },
    h("td", {}, h("a", { href: `#/interactions/${encodeURIComponent(item.id)}`, class: "mono" }, item.id)),
    h("td", {}, badge(item.status)),
    h("td", {}, item.model || item.agent || "—"),
    h("td", { class: "nowrap" }, time(item.created)),
    h("td", { class: "nowrap" }, RUNNING.has(item.status) ? "running…" : duration(item.created, item.updated)),
    h("td", { class: "nowrap" }, tokens(item.usage)));
}

export async function render(main, route, signal) {
  const q = route.query;
  const filters = {
    status: q.get("status") || "", model: q.get("model") || "", agent: q.get("agent") || "",
    after: q.get("after") || "", before: q.get("before") || "",
  };
  const pages = [null]; // page tokens: pages[i] is the token that fetched page i
  const results = h("div", { id: "interactions-results" });

  const field = (label, input) => h("label", {}, label, input);
  const status = h("select", { id: "filter-status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, s || "any")));
  const model = h("input", { id: "filter-model", value: filters.model, placeholder: "any", size: 16 });
  const agent = h("input", { id: "filter-agent", value: filters.agent, placeholder: "any", size: 16 });
  const after = h("input", { id: "filter-after", type: "datetime-local", value: localInput(filters.after) });
  const before = h("input", { id: "filter-before", type: "datetime-local", value: localInput(filters.before) });
  const form = h("form", {
    class: "toolbar", id: "filters",
    onsubmit: (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      if (status.value) next.set("status", status.value);
      if (model.value.trim()) next.set("model", model.value.trim());
      if (agent.value.trim()) next.set("agent", agent.value.trim());
      if (after.value) next.set("after", new Date(after.value).toISOString());
      if (before.value) next.set("before", new Date(before.value).toISOString());
      location.hash = `#/interactions?${next}`;
    },
  },
  field("Status", status), field("Model", model), field("Agent", agent),
  field("Created after", after), field("Created before", before),
  h("button", { type: "submit", class: "primary", id: "apply-filters" }, "Apply"),
  h("button", { type: "button", onclick: () => { location.hash = "#/interactions"; } }, "Clear"));

  async function load(index) {
    const params = { page_size: PAGE_SIZE, page_token: pages[index] || undefined };
    for (const [name, value] of Object.entries(filters)) if (value) params[name] = value;
    let body;
    try {
      body = await get("interactions", params);
    } catch (error) {
      clear(results, errorBox(error));
      return;
    }
    if (signal.aborted) return;
    if (body.next_page_token) pages[index + 1] = body.next_page_token;
    const items = body.interactions || [];
    clear(results,
      table(["Interaction", "Status", "Model / agent", "Created", "Took", "Tokens"], items.map(row),
        "No interactions match these filters."),
      h("div", { class: "pager" },
        h("span", { class: "muted" }, `Page ${index + 1}`),
        h("button", { id: "page-prev", disabled: index === 0, onclick: () => load(index - 1) }, "← Newer"),
        h("button", { id: "page-next", disabled: !body.next_page_token, onclick: () => load(index + 1) }, "Older →")));
  }

  clear(main,
    h("div", { class: "header" }, h("h1", {}, "Interactions"), h("span", { class: "spacer" }),
      h("button", { onclick: () => load(0), id: "refresh" }, "Refresh")),
    form, results);
  await load(0);
}
