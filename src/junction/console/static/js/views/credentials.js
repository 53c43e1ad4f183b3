// Credentials: names, types and status only. Secrets are write-only and never returned.
import { get } from "../api.js";
import { badge, clear, h, table, time } from "../dom.js";

export async function render(main, route, signal) {
  const rows = [];
  let token;
  do {
    const body = await get("credentials", { page_size: 100, page_token: token });
    rows.push(...(body.credentials || []));
    token = body.next_page_token;
  } while (token && rows.length < 1000 && !signal.aborted);
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
