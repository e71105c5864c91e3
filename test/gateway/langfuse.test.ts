import { test } from "node:test";
import assert from "node:assert/strict";
import { startStack } from "../helpers/stack.ts";
import { startLangfuseReceiver } from "../helpers/langfuse-receiver.ts";

test("with LANGFUSE_* set, each call becomes a trace with a generation: prompt, answer, tokens, cost, attribution", async () => {
  const receiver = await startLangfuseReceiver("pk-lf-test", "sk-lf-test");
  const stack = await startStack({ env: { LANGFUSE_PUBLIC_KEY: "pk-lf-test", LANGFUSE_SECRET_KEY: "sk-lf-test", LANGFUSE_BASEURL: receiver.url } });
  let rows;
  try {
    await stack.client.chat.completions.create(
      { model: "claude-sonnet-4.5", messages: [{ role: "user", content: "traced question" }] },
      { headers: { "x-godotz-swarm": "research", "x-godotz-agent": "critic", "x-godotz-task": "T-7" } },
    );
    const stream = await stack.client.chat.completions.create({ model: "glm-5.1", stream: true, messages: [{ role: "user", content: "traced stream" }] });
    for await (const _ of stream) {
      // drain
    }
    await assert.rejects(stack.client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }));
    rows = await stack.auditRows();
  } finally {
    await stack.close(); // flushes the Langfuse client
    await receiver.close();
  }
  assert.deepEqual(receiver.rejected, []);
  const traces = receiver.events.filter((e) => e.type === "trace-create");
  const generations = receiver.events.filter((e) => e.type === "generation-create");
  assert.equal(traces.length, 3);
  assert.equal(generations.length, 3);

  const audit = rows.find((r) => r.agent === "critic")!;
  const trace = traces.find((t) => t.body.id === audit.id);
  assert.ok(trace, "trace id is the audit id, so the two can be joined");
  assert.equal(trace.body.sessionId, "research");
  assert.deepEqual(trace.body.tags, ["swarm:research", "agent:critic", "task:T-7"]);
  const generation = generations.find((g) => g.body.traceId === audit.id)!;
  assert.equal(generation.body.model, "claude-sonnet-4.5");
  assert.deepEqual(generation.body.input, [{ role: "user", content: "traced question" }]);
  assert.match(String(generation.body.output), /traced question/);
  assert.deepEqual(generation.body.usageDetails, { input: audit.prompt_tokens, output: audit.completion_tokens, total: audit.prompt_tokens + audit.completion_tokens });
  assert.deepEqual(generation.body.costDetails, { total: audit.cost_usd });
  assert.equal((generation.body.metadata as Record<string, unknown>).agent, "critic");
  assert.equal((generation.body.metadata as Record<string, unknown>).task, "T-7");

  const streamed = rows.find((r) => r.stream)!;
  const streamedGeneration = generations.find((g) => g.body.traceId === streamed.id)!;
  assert.equal(streamedGeneration.body.output, streamed.response_text);
  assert.ok(streamedGeneration.body.completionStartTime, "time to first token recorded for streams");

  const failed = rows.find((r) => r.status === 404)!;
  const failedGeneration = generations.find((g) => g.body.traceId === failed.id)!;
  assert.equal(failedGeneration.body.level, "ERROR");
  assert.match(String(failedGeneration.body.statusMessage), /does not exist/);
});
