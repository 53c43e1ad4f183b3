// Environments and a file browser over the files API: list a directory, download a file
// (fetched with the key header, handed to the browser as a blob), upload into the folder.
import { download, get, getAll, upload } from "../api.js";
import { badge, bytes, clear, h, listAndItem, table, time } from "../dom.js";

async function list(main, signal) {
  const rows = await getAll("environments", "environments", { limit: 2000, signal });
  if (signal.aborted) return;
  const network = (n) => (n === "disabled" || !n ? "disabled" : "allowlist");
  clear(main,
    h("div", { class: "header" }, h("h1", {}, "Environments")),
    table(["Environment", "Status", "Mode", "Network", "Created", "Last used"],
      rows.map((e) => h("tr", { dataset: { id: e.id } },
        h("td", {}, h("a", { href: `#/environments/${encodeURIComponent(e.id)}`, class: "mono" }, e.id)),
        h("td", {}, badge(e.status)), h("td", {}, e.mode || "—"), h("td", {}, network(e.network)),
        h("td", {}, time(e.created)), h("td", {}, time(e.last_accessed || e.updated)))),
      "No environments yet."));
}

function crumbs(envId, path) {
  const parts = path ? path.split("/") : [];
  const link = (label, to) => h("a", { href: `#/environments/${encodeURIComponent(envId)}?path=${encodeURIComponent(to)}` }, label);
  const out = [link("workspace", "")];
  parts.forEach((part, i) => out.push(" / ", link(part, parts.slice(0, i + 1).join("/"))));
  return h("div", { class: "crumbs", id: "file-path" }, out);
}

async function browse(main, envId, path, signal) {
  const env = await get(`environments/${encodeURIComponent(envId)}`);
  const filesPath = `environments/${encodeURIComponent(envId)}/files${path ? `/${path.split("/").map(encodeURIComponent).join("/")}` : ""}`;
  const body = await get(filesPath, { page_size: 1000 });
  if (signal.aborted) return;
  const files = (body.files || []).sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === "directory" ? -1 : 1));
  const status = h("p", { class: "muted", id: "file-status", role: "status" });
  const open = (to) => `#/environments/${encodeURIComponent(envId)}?path=${encodeURIComponent(to)}`;
  const rows = files.map((f) => h("tr", { dataset: { path: f.path, type: f.type } },
    h("td", {}, f.type === "directory"
      ? h("a", { href: open(f.path), class: "dir" }, h("img", { class: "icon", src: "/console/static/folder.svg", alt: "" }), `${f.name}/`)
      : h("span", { class: "mono" }, h("img", { class: "icon", src: "/console/static/file.svg", alt: "" }), f.name)),
    h("td", {}, f.type === "directory" ? "—" : bytes(f.size_bytes)),
    h("td", {}, f.type === "directory" ? "" : f.mime_type),
    h("td", {}, time(f.modified)),
    h("td", {}, f.type === "directory" ? null : h("button", {
      class: "download", dataset: { path: f.path },
      onclick: async () => {
        status.textContent = `Downloading ${f.name}…`;
        try {
          await download(`environments/${encodeURIComponent(envId)}/files/${f.path.split("/").map(encodeURIComponent).join("/")}`, { alt: "media" }, f.name);
          status.textContent = `Downloaded ${f.name}.`;
        } catch (error) {
          status.textContent = `Download failed: ${error.message}`;
        }
      },
    }, "Download"))));
  const picker = h("input", { type: "file", id: "upload-file" });
  const form = h("form", {
    class: "toolbar", id: "upload-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const file = picker.files[0];
      if (!file) return;
      status.textContent = `Uploading ${file.name}…`;
      try {
        await upload(envId, path ? `${path}/${file.name}` : file.name, file);
        await browse(main, envId, path, signal);
        main.querySelector("#file-status").textContent = `Uploaded ${file.name}.`;
      } catch (error) {
        status.textContent = `Upload failed: ${error.message}`;
      }
    },
  }, h("label", {}, "Upload into this folder", picker), h("button", { type: "submit", class: "primary" }, "Upload"));
  clear(main,
    h("div", { class: "crumbs" }, h("a", { href: "#/environments" }, "Environments"), " / ", envId),
    h("div", { class: "header" }, h("h1", { class: "mono" }, envId), badge(env.status)),
    h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "Mode"), h("dd", {}, env.mode || "—"),
      h("dt", {}, "Files"), h("dd", {}, env.file_count ?? "—"),
      h("dt", {}, "Size"), h("dd", {}, bytes(env.size_bytes)),
      h("dt", {}, "Created"), h("dd", {}, time(env.created)))),
    h("h2", {}, "Files"), crumbs(envId, path), form, status,
    table(["Name", "Size", "Type", "Modified", ""], rows, "This folder is empty."));
}

export const render = listAndItem(list, (main, id, signal, route) =>
  browse(main, id, route.query.get("path") || "", signal));
