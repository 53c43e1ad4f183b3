// The release-matrix scenario for @google/genai: `node scenario.mjs SDK_DIR BASE_URL KEY`
// (SDK_DIR: a directory holding node_modules/@google/genai). Prints one JSON object,
// the same observations as scenario.py.
import { createRequire } from "node:module";
import path from "node:path";

const [sdkDir, baseUrl, apiKey] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(sdkDir), "noop.js"));
const { GoogleGenAI } = require("@google/genai");

const WEATHER = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } } },
};
const SCHEMA = { type: "object", properties: { answer: { type: "string" } } };

function items(interaction) {
  if (interaction.outputs) return interaction.outputs;
  return (interaction.steps || []).filter(
    (s) => s.type !== "user_input" && s.type !== "function_result",
  );
}

function text(interaction) {
  const parts = [];
  for (const item of items(interaction)) {
    if (item.type === "text") parts.push(item.text);
    else if (item.type === "model_output")
      for (const c of item.content || []) if (c.type === "text") parts.push(c.text);
  }
  return parts.join("");
}

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

function deltaText(events) {
  return events
    .filter((e) => e.delta && e.delta.type === "text")
    .map((e) => e.delta.text || "")
    .join("");
}

function callArguments(events) {
  const fragments = [];
  for (const event of events) {
    const delta = event.delta;
    if (delta && delta.type === "function_call") return [delta.name, delta.arguments];
    if (delta && delta.type === "arguments_delta") fragments.push(delta.arguments);
  }
  const start = events.find((e) => e.event_type === "step.start");
  return [start.step.name, JSON.parse(fragments.join(""))];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const client = new GoogleGenAI({ apiKey, apiVersion: "v1beta", httpOptions: { baseUrl } });
  const api = client.interactions;
  const seen = {};

  const first = await api.create({ model: "offline/echo", input: "hello matrix" });
  seen.create = [first.status, text(first)];

  const second = await api.create({
    model: "offline/echo",
    input: "/history",
    previous_interaction_id: first.id,
  });
  seen.chain = text(second);

  const call = await api.create({
    model: "offline/echo",
    input: '/call get_weather {"city": "Paris"}',
    tools: [WEATHER],
  });
  const fc = items(call).find((i) => i.type === "function_call");
  const answered = await api.create({
    model: "offline/echo",
    previous_interaction_id: call.id,
    tools: [WEATHER],
    input: [{ type: "function_result", call_id: fc.id, name: fc.name, result: "sunny" }],
  });
  seen.function_call = [call.status, fc.name, fc.arguments, text(answered)];

  const events = await collect(
    await api.create({ model: "offline/echo", input: "/reply streamed words", stream: true }),
  );
  const kinds = events.map((e) => e.event_type);
  const starts = events
    .filter((e) => e.event_type === "content.start" || e.event_type === "step.start")
    .map((e) => e.index);
  seen.stream = [kinds[0], kinds[kinds.length - 1], deltaText(events), starts];
  const streamId = events.find((e) => e.interaction).interaction.id;

  const streamedCall = await collect(
    await api.create({
      model: "offline/echo",
      input: '/call get_weather {"city": "Oslo"}',
      tools: [WEATHER],
      stream: true,
    }),
  );
  seen.stream_call = callArguments(streamedCall);

  const replay = await collect(await api.get(streamId, { stream: true }));
  const middle = Math.floor(replay.length / 2);
  const resumed = await collect(
    await api.get(streamId, { stream: true, last_event_id: replay[middle].event_id }),
  );
  const tail = replay.slice(middle + 1).map((e) => e.event_id);
  seen.resume = [
    replay.length,
    resumed.length,
    JSON.stringify(tail) === JSON.stringify(resumed.map((e) => e.event_id)),
  ];

  const background = await api.create({
    model: "offline/echo",
    input: "/sleep 0.3\n/reply later",
    background: true,
  });
  let got = background;
  while (true) {
    got = await api.get(background.id);
    if (got.status !== "in_progress" && got.status !== "queued") break;
    await sleep(100);
  }
  seen.background = [background.status, got.status, text(got)];

  const structured = first.outputs
    ? await api.create({
        model: "offline/echo",
        input: '/reply {"answer": "42"}',
        response_format: SCHEMA,
        response_mime_type: "application/json",
      })
    : await api.create({
        model: "offline/echo",
        input: '/reply {"answer": "42"}',
        response_format: { type: "text", mime_type: "application/json", schema: SCHEMA },
      });
  seen.structured = [structured.status, JSON.parse(text(structured))];

  if (first.outputs) {
    const turns = await api.create({
      model: "offline/echo",
      input: [
        { role: "user", content: "earlier question" },
        { role: "model", content: "earlier answer" },
        { role: "user", content: [{ type: "text", text: "/history" }] },
      ],
    });
    seen.turns = text(turns);
  }
  return seen;
}

main().then(
  (seen) => console.log(JSON.stringify(seen)),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
