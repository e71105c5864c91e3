import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import OpenAI from "openai";
import { startStack, type Stack } from "../helpers/stack.ts";

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

for (const model of ["glm-5.1", "claude-sonnet-4.5", "gemini-3.1-pro-low"]) {
  test(`${model}: a client that leaves mid-stream aborts the upstream and the partial answer is audited`, async () => {
    stack.simulator.reset();
    stack.simulator.script(model, { chunkDelayMs: 100, reply: "one two three four five six seven eight nine ten eleven twelve" });
    const controller = new AbortController();
    const stream = await stack.client.chat.completions.create(
      { model, stream: true, messages: [{ role: "user", content: `leave early ${model}` }] },
      { signal: controller.signal },
    );
    let received = "";
    // The SDK ends the iteration quietly on abort; the abort itself is the disconnect.
    for await (const chunk of stream) {
      received += chunk.choices[0]?.delta?.content ?? "";
      if (received.length > 0) controller.abort();
    }
    assert.ok(received.length > 0 && !received.includes("twelve"), received);

    const call = await waitFor("the upstream to be cut", async () => stack.simulator.calls().find((c) => c.model === model && c.cutShort));
    assert.equal(call.stream, true);
    const row = await waitFor("the audit row", async () => (await stack.auditRows()).find((r) => JSON.stringify(r.request_body).includes(`leave early ${model}`)));
    assert.equal(row.status, 499);
    assert.equal(row.error_code, "client_disconnected");
    assert.ok(row.response_text!.length > 0, "partial text kept");
    assert.ok(!row.response_text!.includes("twelve"), `audited text is the part received, got: ${row.response_text}`);
    assert.ok(row.prompt_tokens > 0);
    stack.simulator.reset();
  });
}

test("an upstream that drops the connection mid-stream ends the client stream with an error event, and is audited", async () => {
  stack.simulator.script("glm-4.7", { dropAfterChunks: 2 });
  const stream = await stack.client.chat.completions.create({ model: "glm-4.7", stream: true, messages: [{ role: "user", content: "dropped upstream" }] });
  await assert.rejects(async () => {
    for await (const _ of stream) {
      // drain
    }
  }, /failed/);
  const row = await waitFor("the audit row", async () => (await stack.auditRows()).find((r) => JSON.stringify(r.request_body).includes("dropped upstream")));
  assert.equal(row.status, 502);
  assert.equal(row.error_code, "upstream_stream_error");
  stack.simulator.reset();
});

test("after all that the gateway still serves", async () => {
  const res = await stack.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "still here?" }] });
  assert.match(res.choices[0]!.message.content ?? "", /still here/);
});

test("a stream cut short by the client still settles its budget hold with what was received", async () => {
  const created = (await (await stack.admin("POST", "/keys", { name: "budgeted-leaver", budget_usd: 1 })).json()) as { id: string; key: string };
  const client = new OpenAI({ apiKey: created.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  stack.simulator.script("glm-5.1", { chunkDelayMs: 100, reply: "alpha beta gamma delta epsilon zeta eta theta iota kappa" });
  try {
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: "glm-5.1", stream: true, messages: [{ role: "user", content: "budgeted leave" }] }, { signal: controller.signal });
    for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) controller.abort();
    const row = await waitFor("the audit row", async () => (await stack.auditRows()).find((r) => r.key_id === created.id));
    assert.equal(row.status, 499);
    const budget = await waitFor("the settlement", async () => {
      const [b] = await stack.gateway.deps.budgets.list({ ids: [`key:${created.id}`] });
      return b && b.reserved_usd === 0 ? b : undefined;
    });
    assert.ok(row.cost_usd > 0);
    assert.ok(Math.abs(budget.spent_usd - row.cost_usd) < 1e-9, `${budget.spent_usd} vs ${row.cost_usd}`);
  } finally {
    stack.simulator.reset();
  }
});
