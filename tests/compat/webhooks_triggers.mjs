// Every webhooks and triggers method of @google/genai against Junction:
// `node webhooks_triggers.mjs SDK_DIR BASE_URL KEY RECEIVER_URI`. Prints one JSON object
// of observations; the Python test checks them (and the delivery the ping sent).
import { createRequire } from "node:module";
import path from "node:path";

const [sdkDir, baseUrl, apiKey, receiverUri] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(sdkDir), "noop.js"));
const { GoogleGenAI } = require("@google/genai");

// the SDK adds the HTTP response's metadata to what it returns: keep the body only
function body(result) {
  const { sdkHttpResponse, ...rest } = result || {};
  return rest;
}

async function main() {
  const client = new GoogleGenAI({ apiKey, apiVersion: "v1beta", httpOptions: { baseUrl } });
  const seen = {};

  const hook = await client.webhooks.create({
    name: "from-js",
    uri: receiverUri,
    subscribed_events: ["interaction.completed"],
  });
  seen.created = [hook.id, hook.name, hook.new_signing_secret, hook.state];
  const got = await client.webhooks.get(hook.id);
  seen.got = [got.id, got.new_signing_secret ?? null, (got.signing_secrets || []).length];
  const listed = await client.webhooks.list({ page_size: 50 });
  seen.listed = (listed.webhooks || []).map((w) => w.id).includes(hook.id);
  const updated = await client.webhooks.update(hook.id, {
    update_mask: "name",
    name: "renamed-from-js",
  });
  seen.updated = updated.name;
  seen.ping = body(await client.webhooks.ping(hook.id));
  const rotated = await client.webhooks.rotateSigningSecret(hook.id, {
    revocation_behavior: "revoke_previous_secrets_immediately",
  });
  seen.rotated = rotated.secret;
  seen.deleted = body(await client.webhooks.delete(hook.id));

  const trigger = await client.triggers.create({
    schedule: "0 3 * * *",
    time_zone: "Europe/Berlin",
    display_name: "nightly from js",
    interaction: { agent: "junction-general", input: "from a js trigger" },
  });
  seen.trigger = [trigger.id, trigger.status, trigger.time_zone, Boolean(trigger.next_run_time)];
  seen.trigger_got = (await client.triggers.get(trigger.id)).display_name;
  const triggers = await client.triggers.list({ filter: "status=active" });
  seen.trigger_listed = (triggers.triggers || []).map((t) => t.id).includes(trigger.id);
  seen.paused = (await client.triggers.update(trigger.id, { status: "paused" })).status;
  seen.resumed = (await client.triggers.update(trigger.id, { status: "active" })).status;
  const run = await client.triggers.run(trigger.id);
  seen.run = [run.trigger_id, Boolean(run.interaction_id)];
  const executions = await client.triggers.listExecutions(trigger.id, { page_size: 10 });
  seen.executions = (executions.trigger_executions || []).map((e) => e.id).includes(run.id);
  seen.trigger_deleted = body(await client.triggers.delete(trigger.id));
  console.log(JSON.stringify(seen));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
