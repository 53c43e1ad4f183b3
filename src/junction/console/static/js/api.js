// The API client: the key lives in sessionStorage and goes only in the x-goog-api-key
// header (never in a URL). Errors carry the server's message.
const KEY = "junction.apiKey";
export const VERSION = "v1beta";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

function url(path, params) {
  const target = new URL(path.startsWith("/") ? path : `/${VERSION}/${path}`, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(name, value);
  }
  return target;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) { /* not JSON */ }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("junction:signed-out"));
  return new ApiError(response.status, message);
}

export async function request(path, { params, method = "GET", body, headers, signal } = {}) {
  const init = { method, headers: { "x-goog-api-key": auth.key || "", ...headers }, signal };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof ArrayBuffer) init.body = body;
    else {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
  }
  const response = await fetch(url(path, params), init);
  if (!response.ok) throw await failure(response);
  return response;
}

export async function get(path, params) {
  return (await request(path, { params })).json();
}

export async function post(path, body) {
  return (await request(path, { method: "POST", body: body ?? {} })).json();
}

// Server-sent events over fetch() (EventSource cannot send the key header).
export async function stream(path, params, onEvent, signal) {
  const response = await request(path, { params, signal, headers: { accept: "text/event-stream" } });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      const id = frame.split("\n").find((l) => l.startsWith("id:"));
      if (data) onEvent(JSON.parse(data), id ? Number(id.slice(3)) : null);
    }
  }
}

// Download through fetch (the key is a header), then hand the bytes to the browser.
export async function download(path, params, filename) {
  const blob = await (await request(path, { params })).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// The resumable upload protocol the SDK speaks, in one chunk.
export async function upload(envId, path, file) {
  const clean = path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
  const start = await request(`/upload/${VERSION}/environments/${envId}/files/${clean}`, {
    method: "PUT",
    params: { overwrite: "true" },
    headers: {
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "x-goog-upload-header-content-length": String(file.size),
      "x-goog-upload-header-content-type": file.type || "application/octet-stream",
    },
  });
  const target = new URL(start.headers.get("x-goog-upload-url"));
  const done = await request(target.pathname + target.search, {
    method: "POST",
    body: file,
    headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
  });
  return done.json();
}

// Every item of a paged listing (`{<key>: [...], next_page_token}`), up to `limit`.
export async function getAll(path, key, { limit = 1000, signal } = {}) {
  const items = [];
  let token;
  do {
    const body = await get(path, { page_size: Math.min(limit, 200), page_token: token });
    items.push(...(body[key] || []));
    token = body.next_page_token;
  } while (token && items.length < limit && !(signal && signal.aborted));
  return items;
}
