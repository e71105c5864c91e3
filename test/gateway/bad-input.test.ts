import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startStack, type Stack } from "../helpers/stack.ts";

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.gateway.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.key}`, "content-type": "application/json", ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as { error: { message: string; type: string; code: string; param: string | null } } };
}

const okBody = JSON.stringify({ model: "glm-5.1", messages: [{ role: "user", content: "hi" }] });

test("malformed JSON is a 400 in OpenAI's shape", async () => {
  const { status, body } = await post("/v1/chat/completions", '{"model": "glm-5.1", "messages": [');
  assert.equal(status, 400);
  assert.equal(body.error.type, "invalid_request_error");
  assert.equal(body.error.code, "invalid_json");
  assert.match(body.error.message, /parse the JSON/);
});

test("a body that is JSON but not an object is a 400", async () => {
  const { status, body } = await post("/v1/chat/completions", "[1,2]");
  assert.equal(status, 400);
  assert.equal(body.error.code, "invalid_json");
});

test("wrong types name the field", async () => {
  for (const [bad, param] of [
    [{ model: "glm-5.1", messages: "hi" }, "messages"],
    [{ model: "glm-5.1", messages: [{ role: "user", content: "hi" }], temperature: "hot" }, "temperature"],
    [{ model: 42, messages: [{ role: "user", content: "hi" }] }, "model"],
    [{ model: "glm-5.1", messages: [{ role: "wizard", content: "hi" }] }, "messages.0.role"],
    [{ model: "glm-5.1", messages: [] }, "messages"],
  ] as const) {
    const { status, body } = await post("/v1/chat/completions", JSON.stringify(bad));
    assert.equal(status, 400, JSON.stringify(bad));
    assert.equal(body.error.param, param, JSON.stringify(body));
  }
});

test("the official client sees typed errors: unknown model 404, missing or bad key 401", async () => {
  await assert.rejects(stack.client.chat.completions.create({ model: "gpt-nope", messages: [{ role: "user", content: "x" }] }), (e: unknown) => e instanceof OpenAI.NotFoundError && (e as InstanceType<typeof OpenAI.APIError>).code === "model_not_found");
  const anonymous = new OpenAI({ apiKey: "gdz_not_a_real_key", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  await assert.rejects(anonymous.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "x" }] }), OpenAI.AuthenticationError);
  const res = await fetch(`${stack.gateway.url}/v1/chat/completions`, { method: "POST", body: okBody, headers: { "content-type": "application/json" } });
  assert.equal(res.status, 401);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /Missing API key/);
});

test("a body over the size limit is a 413, and the gateway keeps serving", async () => {
  const huge = JSON.stringify({ model: "glm-5.1", messages: [{ role: "user", content: "x".repeat(11 * 1024 * 1024) }] });
  const { status, body } = await post("/v1/chat/completions", huge);
  assert.equal(status, 413);
  assert.equal(body.error.code, "request_too_large");
  const after = await post("/v1/chat/completions", okBody);
  assert.equal((after.body as unknown as { object: string }).object, "chat.completion");
});

test("a key limited to some models or families gets 403 on others", async () => {
  const res = await stack.admin("POST", "/keys", { name: "glm-only", families: ["glm"] });
  const { key } = (await res.json()) as { key: string };
  const limited = new OpenAI({ apiKey: key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  const ok = await limited.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: "x" }] });
  assert.equal(ok.object, "chat.completion");
  await assert.rejects(limited.chat.completions.create({ model: "claude-sonnet-4.5", messages: [{ role: "user", content: "x" }] }), OpenAI.PermissionDeniedError);
  const ids: string[] = [];
  for await (const m of limited.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ["glm-4.7", "glm-5.1"]);
});

test("an embedding model on the chat endpoint, and a chat model on embeddings, are 400s", async () => {
  const a = await post("/v1/chat/completions", JSON.stringify({ model: "text-embedding-3-small", messages: [{ role: "user", content: "x" }] }));
  assert.equal(a.status, 400);
  const b = await post("/v1/embeddings", JSON.stringify({ model: "glm-5.1", input: "x" }));
  assert.equal(b.status, 400);
  const c = await post("/v1/embeddings", JSON.stringify({ model: "text-embedding-3-small" }));
  assert.equal(c.status, 400);
  assert.equal(c.body.error.param, "input");
});

test("an upstream that rejects the request passes its reason on as a 400 and is not retried elsewhere", async () => {
  stack.simulator.script("glm-5.1", { failStatus: 400 });
  try {
    const before = stack.simulator.calls().length;
    const { status, body } = await post("/v1/chat/completions", okBody);
    assert.equal(status, 400);
    assert.equal(body.error.code, "upstream_invalid_request");
    assert.equal(stack.simulator.calls().length - before, 1, "no fallback for a request the upstream called invalid");
  } finally {
    stack.simulator.reset();
  }
});

test("when every model in the chain fails, the client gets a 5xx in OpenAI's shape and the failure is audited", async () => {
  stack.simulator.script("glm-5.1", { failStatus: 500 });
  stack.simulator.script("glm-4.7", { failStatus: 500 });
  try {
    await assert.rejects(stack.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "doomed" }] }), (e: unknown) => e instanceof OpenAI.InternalServerError && (e as InstanceType<typeof OpenAI.APIError>).status === 502);
    const row = (await stack.auditRows()).find((r) => r.status === 502 && JSON.stringify(r.request_body).includes("doomed"));
    assert.ok(row, "failed call audited");
    assert.equal(row.error_code, "upstream_error");
  } finally {
    stack.simulator.reset();
  }
});

test("attribution headers that are empty or too long are refused", async () => {
  const { status, body } = await post("/v1/chat/completions", okBody, { "x-godotz-agent": "a".repeat(500) });
  assert.equal(status, 400);
  assert.equal(body.error.param, "x-godotz-agent");
});

test("unknown routes are 404 in OpenAI's shape", async () => {
  const res = await fetch(`${stack.gateway.url}/v1/nope`, { headers: { authorization: `Bearer ${stack.key}` } });
  assert.equal(res.status, 404);
  assert.ok(((await res.json()) as { error: { message: string } }).error.message);
});

test("input a provider cannot take is a 400 naming the problem, not a 500 or a retry elsewhere", async () => {
  const image = { type: "image_url", image_url: { url: "ftp://example.com/cat.png" } };
  const { status, body } = await post("/v1/chat/completions", JSON.stringify({ model: "gemini-3.1-pro-low", messages: [{ role: "user", content: [image] }] }));
  assert.equal(status, 400);
  assert.equal(body.error.code, "unsupported_input");
  assert.match(body.error.message, /image URL/);
  const tokens = await post("/v1/embeddings", JSON.stringify({ model: "gemini-embedding-001", input: [1, 2, 3] }));
  assert.equal(tokens.status, 400);
  assert.equal(tokens.body.error.code, "unsupported_input");
});
