import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startStack, type Stack } from "../helpers/stack.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { parseConfig } from "../../shared/config/load.ts";
import { buildModelTable } from "../../edge/routing/resolve.ts";

/*
 * A chat request's `model` naming a role of routing.roles or a model family (issue #5): the
 * gateway picks among the family's models by health, as it does along a fallback chain.
 */

const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const image = [{ role: "user" as const, content: [{ type: "text" as const, text: "describe" }, { type: "image_url" as const, image_url: { url: PNG } }] }];
const say = (text: string) => [{ role: "user" as const, content: text }];

/** The simulated models (with their roles coder → glm, critic → claude) plus a claude model without vision, listed before the one with it. */
function rolesConfigYaml(url: string, hardcore = false): string {
  return simulatedConfigYaml(url)
    .replace("  claude-sonnet-4.5:", "  claude-haiku-4.5:      { provider: simulated-anthropic, family: claude, price: { input: 1.0, output: 5.0 } }\n  claude-sonnet-4.5:")
    .replace("hardcore: false", `hardcore: ${hardcore}`);
}

let stack: Stack;
let hardcore: Stack;
before(async () => {
  stack = await startStack({ configYaml: (url) => rolesConfigYaml(url) });
  hardcore = await startStack({ configYaml: (url) => rolesConfigYaml(url, true) });
});
after(async () => {
  await stack.close();
  await hardcore.close();
});

const calledModels = (s: Stack) => s.simulator.calls().filter((c) => c.kind === "chat").map((c) => c.model);
const code = (e: unknown) => (e as InstanceType<typeof OpenAI.APIError>).code;

async function keyFor(s: Stack, limits: { models?: string[]; families?: string[] }): Promise<OpenAI> {
  const res = await s.admin("POST", "/keys", { name: `limited-${crypto.randomUUID().slice(0, 8)}`, ...limits });
  assert.equal(res.status, 201, await res.clone().text());
  const { key } = (await res.json()) as { key: string };
  return new OpenAI({ apiKey: key, baseURL: `${s.gateway.url}/v1`, maxRetries: 0 });
}

test("a family and a role each go to the family's first healthy model; the header names it, the audit keeps the name asked for", async () => {
  const byFamily = await stack.client.chat.completions.create({ model: "glm", messages: say("by family") }).withResponse();
  assert.equal(byFamily.response.headers.get("x-godotz-model"), "glm-5.1");
  assert.equal(byFamily.data.model, "glm-5.1");
  const byRole = await stack.client.chat.completions.create({ model: "critic", messages: say("by role") }).withResponse();
  assert.equal(byRole.response.headers.get("x-godotz-model"), "claude-haiku-4.5");
  const rows = await stack.auditRows();
  const family = rows.find((r) => r.response_text?.includes("by family"));
  const role = rows.find((r) => r.response_text?.includes("by role"));
  assert.deepEqual([family?.model_requested, family?.model_used], ["glm", "glm-5.1"]);
  assert.deepEqual([role?.model_requested, role?.model_used], ["critic", "claude-haiku-4.5"]);
});

test("a streamed role request is answered by a model of the family", async () => {
  const stream = await stack.client.chat.completions.create({ model: "coder", messages: say("stream"), stream: true });
  let model = "";
  for await (const chunk of stream) model = chunk.model || model;
  assert.match(model, /^glm-/);
});

test("with images, a family goes to its vision models only; a family without any goes to the vision fallback", async () => {
  stack.simulator.reset();
  const claude = await stack.client.chat.completions.create({ model: "critic", messages: image }).withResponse();
  assert.equal(claude.response.headers.get("x-godotz-model"), "claude-sonnet-4.5");
  const glm = await stack.client.chat.completions.create({ model: "coder", messages: image }).withResponse();
  assert.equal(glm.response.headers.get("x-godotz-model"), "gemini-3.1-pro-low");
  assert.deepEqual(calledModels(stack), ["claude-sonnet-4.5", "gemini-3.1-pro-low"], "the model without vision was never called");
});

test("key allowlists apply to the models a family stands for", async () => {
  const only47 = await keyFor(stack, { models: ["glm-4.7"] });
  const { response } = await only47.chat.completions.create({ model: "coder", messages: say("allowlist") }).withResponse();
  assert.equal(response.headers.get("x-godotz-model"), "glm-4.7", "glm-5.1 comes first but the key may not use it");
  const geminiOnly = await keyFor(stack, { families: ["gemini"] });
  await assert.rejects(geminiOnly.chat.completions.create({ model: "critic", messages: say("no") }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.PermissionDeniedError);
    assert.match(e.message, /may not use any model of role "critic" \(family claude\) \(claude-haiku-4.5, claude-sonnet-4.5\)/);
    return true;
  });
  const ids: string[] = [];
  for await (const m of geminiOnly.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["gemini-3.1-pro-low"]);
});

test("/v1/models keeps OpenAI's shape and tells each model's family and the roles routed to it", async () => {
  const res = await fetch(`${stack.gateway.url}/v1/models`, { headers: { authorization: `Bearer ${stack.key}` } });
  const body = (await res.json()) as { object: string; data: { id: string; object: string; family: string; roles: string[] }[] };
  assert.equal(body.object, "list");
  const byId = new Map(body.data.map((m) => [m.id, m]));
  assert.deepEqual(byId.get("glm-4.7")?.roles, ["coder"]);
  assert.deepEqual(byId.get("claude-sonnet-4.5")?.roles, ["critic"]);
  assert.deepEqual(byId.get("gemini-3.1-pro-low")?.roles, []);
  assert.deepEqual(byId.get("text-embedding-3-small")?.roles, []);
  assert.ok(body.data.every((m) => m.object === "model"));
});

test("unknown names, embedding families on chat and families on embeddings are clear errors", async () => {
  await assert.rejects(stack.client.chat.completions.create({ model: "mistral", messages: say("x") }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(code(e), "model_not_found");
    assert.match(e.message, /The model "mistral" does not exist or is not configured in this gateway, nor is it a role or model family/);
    return true;
  });
  await assert.rejects(stack.client.chat.completions.create({ model: "openai-embedding", messages: say("x") }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(code(e), "model_not_chat");
    assert.match(e.message, /family of embedding models; use \/v1\/embeddings with one of them \(text-embedding-3-small\)/);
    return true;
  });
  for (const [name, what] of [["gemini-embedding", /is a model family, not a model.*its embedding models: gemini-embedding-001/], ["coder", /is a role \(family glm\), not a model/]] as const) {
    await assert.rejects(stack.client.embeddings.create({ model: name, input: "x" }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(code(e), "model_family_not_supported");
      assert.match(e.message, what);
      return true;
    });
  }
  const missing = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "", messages: say("x") }),
  });
  assert.equal(missing.status, 400);
});

test("when the family's first model fails, the request moves on to another of the family and later ones skip the failing model", async () => {
  stack.simulator.reset();
  stack.simulator.script("glm-5.1", { failStatus: 503 });
  try {
    const first = await stack.client.chat.completions.create({ model: "coder", messages: say("failover 1") }).withResponse();
    assert.equal(first.response.headers.get("x-godotz-model"), "glm-4.7");
    assert.deepEqual(calledModels(stack), ["glm-5.1", "glm-5.1", "glm-5.1", "glm-4.7"], "three tries on the failing model, then the next of the family");
    const before = calledModels(stack).length;
    const second = await stack.client.chat.completions.create({ model: "glm", messages: say("failover 2") }).withResponse();
    assert.equal(second.response.headers.get("x-godotz-model"), "glm-4.7");
    assert.deepEqual(calledModels(stack).slice(before), ["glm-4.7"], "health puts the failing model last");
    assert.ok(!calledModels(stack).some((m) => !m.startsWith("glm-")), "never leaves the family");
  } finally {
    stack.simulator.reset();
  }
});

test("hardcore: a family request tries one model, the healthiest, and never a second; no vision rerouting", async () => {
  hardcore.simulator.reset();
  hardcore.simulator.script("glm-5.1", { failStatus: 503 });
  try {
    await assert.rejects(hardcore.client.chat.completions.create({ model: "coder", messages: say("hard 1") }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 503);
    assert.deepEqual([...new Set(calledModels(hardcore))], ["glm-5.1"], "no second model of the family");
    const { response } = await hardcore.client.chat.completions.create({ model: "coder", messages: say("hard 2") }).withResponse();
    assert.equal(response.headers.get("x-godotz-model"), "glm-4.7", "the healthier model is the one tried");
    await assert.rejects(hardcore.client.chat.completions.create({ model: "glm", messages: image }), (e: unknown) => e instanceof OpenAI.BadRequestError && code(e) === "model_lacks_vision");
    const vision = await hardcore.client.chat.completions.create({ model: "critic", messages: image }).withResponse();
    assert.equal(vision.response.headers.get("x-godotz-model"), "claude-sonnet-4.5");
  } finally {
    hardcore.simulator.reset();
  }
});

test("family budgets apply to role and family requests: held over the family, settled on the model that answered", async () => {
  const tiny = await stack.admin("PUT", "/budgets", { scope: "family", subject: "glm", period: "daily", cap_usd: 0.00001 });
  assert.equal(tiny.status, 200);
  await stack.admin("PUT", "/budgets", { scope: "family", subject: "claude", period: "daily", cap_usd: 2.5 });
  try {
    await assert.rejects(stack.client.chat.completions.create({ model: "coder", messages: say("over budget") }), (e: unknown) => e instanceof OpenAI.RateLimitError && code(e) === "budget_exceeded" && /family:glm/.test(e.message));
    await stack.client.chat.completions.create({ model: "critic", messages: say("charged to claude") });
    const cost = (await stack.auditRows()).find((r) => r.response_text?.includes("charged to claude"))!.cost_usd;
    let spent = 0;
    // Settlement runs after the response: wait for it, a bounded number of times.
    for (let i = 0; i < 100 && spent === 0; i++) {
      const { data } = (await (await stack.admin("GET", "/budgets")).json()) as { data: { id: string; spent_usd: number }[] };
      spent = data.find((b) => b.id === "family:claude")!.spent_usd;
      if (spent === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(cost > 0 && Math.abs(spent - cost) < 1e-9, `${spent} vs ${cost}`);
  } finally {
    await stack.admin("DELETE", "/budgets/family:glm");
    await stack.admin("DELETE", "/budgets/family:claude");
  }
});

test("a name is a model before a role, and a role before a family", () => {
  const yaml = rolesConfigYaml("http://127.0.0.1:1").replace("roles: { coder: glm, critic: claude }", "roles: { gemini: claude }");
  const table = buildModelTable(parseConfig(yaml, "precedence.yaml"), { GODOTZ_SIMULATOR_KEY: "k" });
  assert.ok(table.has("glm-5.1") && !table.groups.has("glm-5.1"));
  assert.deepEqual(table.groups.get("gemini"), { family: "claude", role: "gemini", chat: ["claude-haiku-4.5", "claude-sonnet-4.5"], embedding: [] });
  assert.deepEqual(table.groups.get("glm"), { family: "glm", chat: ["glm-5.1", "glm-4.7"], embedding: [] });
});
