// Triggers (where the server has them): schedules, their state, and each trigger's
// executions with the interactions they started; "Run now" starts one at once.
import { get, getAll, post } from "../api.js";
import { badge, clear, h, listAndItem, table, time } from "../dom.js";

async function list(main, signal) {
  const rows = await getAll("triggers", "triggers", { limit: 1000, signal });
  if (signal.aborted) return;
  clear(main,
    h("div", { class: "header" }, h("h1", {}, "Triggers")),
    table(["Trigger", "Schedule", "Status", "Last run", "Next run"],
      rows.map((t) => h("tr", { dataset: { id: t.id } },
        h("td", {}, h("a", { href: `#/triggers/${encodeURIComponent(t.id)}` }, t.display_name || t.id)),
        h("td", { class: "mono" }, `${t.schedule} (${t.time_zone || "UTC"})`),
        h("td", {}, badge(t.status)),
        h("td", { class: "nowrap" }, time(t.last_run_time)),
        h("td", { class: "nowrap" }, time(t.next_run_time)))),
      "No triggers yet: create one with POST /v1beta/triggers."));
}

async function detail(main, id, signal) {
  const path = `triggers/${encodeURIComponent(id)}`;
  const trigger = await get(path);
  const runs = (await get(`${path}/executions`, { page_size: 100 })).trigger_executions || [];
  if (signal.aborted) return;
  const status = h("p", { class: "muted", id: "trigger-status", role: "status" });
  const runNow = h("button", {
    id: "run-now", class: "primary",
    onclick: async () => {
      runNow.disabled = true;
      try {
        await post(`${path}/executions`);
        await detail(main, id, signal);
      } catch (error) {
        status.textContent = `Run failed: ${error.message}`;
        runNow.disabled = false;
      }
    },
  }, "Run now");
  const agent = trigger.interaction && (trigger.interaction.agent || trigger.interaction.model);
  clear(main,
    h("div", { class: "crumbs" }, h("a", { href: "#/triggers" }, "Triggers"), " / ", trigger.display_name || id),
    h("div", { class: "header" }, h("h1", {}, trigger.display_name || id), badge(trigger.status),
      h("span", { class: "spacer" }), runNow, h("button", { onclick: () => detail(main, id, signal) }, "Refresh")),
    status,
    h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "Id"), h("dd", { class: "mono" }, trigger.id),
      h("dt", {}, "Schedule"), h("dd", { class: "mono" }, `${trigger.schedule} (${trigger.time_zone || "UTC"})`),
      h("dt", {}, "Runs"), h("dd", {}, agent || "—"),
      h("dt", {}, "Failures in a row"), h("dd", {}, String(trigger.consecutive_failure_count ?? 0)),
      h("dt", {}, "Last run"), h("dd", {}, time(trigger.last_run_time)),
      h("dt", {}, "Next run"), h("dd", {}, time(trigger.next_run_time)))),
    h("h2", {}, "Executions"),
    table(["Scheduled", "Status", "Interaction", "Started", "Ended", "Error"],
      runs.map((e) => h("tr", { dataset: { id: e.id } },
        h("td", { class: "nowrap" }, time(e.scheduled_time)),
        h("td", {}, badge(e.status)),
        h("td", {}, e.interaction_id
          ? h("a", { href: `#/interactions/${encodeURIComponent(e.interaction_id)}`, class: "mono" }, e.interaction_id)
          : "—"),
        h("td", { class: "nowrap" }, time(e.start_time)),
        h("td", { class: "nowrap" }, time(e.end_time)),
        h("td", {}, e.error || ""))),
      "No executions yet."));
}

export const render = listAndItem(list, detail);
