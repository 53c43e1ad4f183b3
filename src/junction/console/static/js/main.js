// The console shell: sign-in, navigation and a hash router (#/section/id?query).
// A page is a module exporting `render(main, route, signal)`; to add one, import it and
// add a line to PAGES. An `optional` page (an API not every server has) is shown when its
// list route answers.
import { ApiError, auth, get } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import * as interactions from "./views/interactions.js";
import * as interaction from "./views/interaction.js";
import * as agents from "./views/agents.js";
import * as environments from "./views/environments.js";
import * as credentials from "./views/credentials.js";
import * as usage from "./views/usage.js";
import * as webhooks from "./views/webhooks.js";
import * as triggers from "./views/triggers.js";

const PAGES = [
  { path: "interactions", title: "Interactions", list: interactions, item: interaction },
  { path: "agents", title: "Agents", list: agents },
  { path: "environments", title: "Environments", list: environments, item: environments },
  { path: "credentials", title: "Credentials", list: credentials },
  { path: "webhooks", title: "Webhooks", list: webhooks, item: webhooks, optional: true },
  { path: "triggers", title: "Triggers", list: triggers, item: triggers, optional: true },
  { path: "usage", title: "Usage", list: usage },
];
const available = new Set(PAGES.filter((p) => !p.optional).map((p) => p.path));

const main = document.getElementById("main");
let current = null;

function parse() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { section: parts[0] || "interactions", id: parts[1] || null, query: new URLSearchParams(query || "") };
}

async function probe() {
  await Promise.all(PAGES.filter((p) => p.optional).map(async (page) => {
    try {
      await get(page.path, { page_size: 1 });
      available.add(page.path);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) available.add(page.path);
    }
  }));
}

function navigation() {
  const list = document.getElementById("nav");
  clear(list, PAGES.filter((p) => available.has(p.path)).map((page) => h("li", {},
    h("a", { href: `#/${page.path}`, id: `nav-${page.path}`, dataset: { section: page.path } }, page.title))));
}

async function route() {
  if (!auth.key) return showSignin();
  if (current) current.abort();
  current = new AbortController();
  const where = parse();
  const page = PAGES.find((p) => p.path === where.section && available.has(p.path)) || PAGES[0];
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.section === page.path);
  }
  const view = where.id && page.item ? page.item : page.list;
  document.title = `${page.title} · Junction console`;
  clear(main, h("p", { class: "muted" }, "Loading…"));
  try {
    await view.render(main, where, current.signal);
  } catch (error) {
    if (error.name !== "AbortError") clear(main, errorBox(error));
  }
}

function showSignin(message) {
  if (current) current.abort();
  document.getElementById("app").hidden = true;
  document.getElementById("signin").hidden = false;
  document.getElementById("signin-error").textContent = message || "";
  document.getElementById("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("api-key");
  auth.key = input.value.trim();
  try {
    await get("interactions", { page_size: 1 });
  } catch (error) {
    auth.key = null;
    showSignin(error.status === 401 ? "That key was not accepted." : error.message);
    return;
  }
  input.value = "";
  start();
}

async function start() {
  document.getElementById("signin").hidden = true;
  document.getElementById("app").hidden = false;
  await probe();
  navigation();
  route();
}

document.getElementById("signin-form").addEventListener("submit", signIn);
document.getElementById("signout").addEventListener("click", () => {
  auth.key = null;
  showSignin();
});
window.addEventListener("junction:signed-out", () => {
  auth.key = null;
  showSignin("Your key was not accepted; sign in again.");
});
window.addEventListener("hashchange", route);
if (auth.key) start();
else showSignin();
