// Credentials: names, types and status only. Secrets are write-only and never returned.
import { getAll } from "../api.js";
import { badge, clear, h, table, time } from "../dom.js";

export async function render(main, route, signal) {
  const rows = await getAll("credentials", "credentials", { limit: 1000, signal });
  if (signal.aborted) return;
  clear(main,
    h("div", { class: "header" }, h("h1", {}, "Credentials")),
    h("p", { class: "notice" }, "Secrets are write-only: Junction never returns them, so this page shows names and status only."),
    table(["Credential", "Type", "Status", "Created", "Updated"],
      rows.map((c) => h("tr", {},
        h("td", { class: "mono" }, c.id), h("td", {}, c.type), h("td", {}, badge(c.status)),
        h("td", {}, time(c.create_time)), h("td", {}, time(c.update_time)))),
      "No credentials yet."));
}
