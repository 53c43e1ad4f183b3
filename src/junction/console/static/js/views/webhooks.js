// Webhooks (where the server has them): each webhook's endpoint, events and state, and
// its delivery log with every attempt. Signing secrets are never shown.
import { get, getAll, post } from "../api.js";
import { badge, clear, h, listAndItem, table, time } from "../dom.js";

async function list(main, signal) {
  const rows = await getAll("webhooks", "webhooks", { limit: 1000, signal });
  if (signal.aborted) return;
  clear(main,
    h("div", { class: "header" }, h("h1", {}, "Webhooks")),
    table(["Webhook", "Endpoint", "Events", "State", "Updated"],
      rows.map((w) => h("tr", { dataset: { id: w.id } },
        h("td", {}, h("a", { href: `#/webhooks/${encodeURIComponent(w.id)}` }, w.name || w.id)),
        h("td", { class: "mono" }, w.uri),
        h("td", {}, (w.subscribed_events || []).join(", ")),
        h("td", {}, badge(w.state)),
        h("td", { class: "nowrap" }, time(w.update_time)))),
      "No webhooks yet: create one with POST /v1beta/webhooks."));
}

function attempts(delivery) {
  return (delivery.attempts || []).map((a) =>
    h("div", { class: "muted" },
      `#${a.attempt} ${time(a.time)} · ${a.status_code ?? a.error ?? "—"}${a.duration_ms !== undefined ? ` · ${a.duration_ms} ms` : ""}`));
}

async function detail(main, id, signal) {
  const path = `webhooks/${encodeURIComponent(id)}`;
  const hook = await get(path);
  const deliveries = (await get(`${path}/deliveries`, { page_size: 100 })).deliveries || [];
  if (signal.aborted) return;
  const status = h("p", { class: "muted", id: "webhook-status", role: "status" });
  const ping = h("button", {
    id: "ping",
    onclick: async () => {
      ping.disabled = true;
      try {
        await post(`${path}:ping`);
        status.textContent = "Ping queued: refresh to see its delivery.";
      } catch (error) {
        status.textContent = `Ping failed: ${error.message}`;
      }
      ping.disabled = false;
    },
  }, "Send ping");
  clear(main,
    h("div", { class: "crumbs" }, h("a", { href: "#/webhooks" }, "Webhooks"), " / ", hook.name || id),
    h("div", { class: "header" }, h("h1", {}, hook.name || id), badge(hook.state), h("span", { class: "spacer" }),
      ping, h("button", { onclick: () => detail(main, id, signal) }, "Refresh")),
    status,
    h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "Id"), h("dd", { class: "mono" }, hook.id),
      h("dt", {}, "Endpoint"), h("dd", { class: "mono" }, hook.uri),
      h("dt", {}, "Events"), h("dd", {}, (hook.subscribed_events || []).join(", ")),
      h("dt", {}, "Signing secrets"), h("dd", {}, `${(hook.signing_secrets || []).length} active (never shown)`),
      h("dt", {}, "Created"), h("dd", {}, time(hook.create_time)))),
    h("h2", {}, "Deliveries"),
    table(["Event", "State", "Attempts", "Last status", "Created"],
      deliveries.map((d) => h("tr", { dataset: { id: d.id } },
        h("td", {}, d.event_type, h("div", { class: "muted mono" }, d.message_id || "")),
        h("td", {}, badge(d.state)),
        h("td", {}, attempts(d)),
        h("td", {}, d.last_status_code !== undefined && d.last_status_code !== null
          ? `HTTP ${d.last_status_code}` : d.last_error ? "no response" : "—"),
        h("td", { class: "nowrap" }, time(d.create_time)))),
      "No deliveries yet."));
}

export const render = listAndItem(list, detail);
