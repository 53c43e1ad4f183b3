// Agents of the project: what each builds on, its tools and base environment.
import { getAll } from "../api.js";
import { clear, h, table } from "../dom.js";

function envName(env) {
  if (!env) return "—";
  return typeof env === "string" ? env : env.environment_id || "(created per run)";
}

export async function render(main, route, signal) {
  const rows = await getAll("agents", "agents", { limit: 1000, signal });
  if (signal.aborted) return;
  const tools = (agent) => (agent.tools || []).map((t) => t.type || t.name || "?").join(", ") || "—";
  clear(main,
    h("div", { class: "header" }, h("h1", {}, "Agents")),
    table(["Agent", "Base agent", "Tools", "Base environment", ""],
      rows.map((a) => h("tr", {},
        h("td", {}, h("b", {}, a.id || a.name), a.description ? h("div", { class: "muted" }, a.description) : null),
        h("td", {}, a.base_agent || "—"),
        h("td", {}, tools(a)),
        h("td", { class: "mono" }, envName(a.base_environment)),
        h("td", {}, h("a", { href: `#/interactions?agent=${encodeURIComponent(a.id || a.name)}` }, "runs →")))),
      "No agents yet: create one with POST /v1beta/agents."));
}
