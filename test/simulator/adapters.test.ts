import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import type { ProviderAdapter } from "../../edge/providers/types.ts";
import { openaiAdapter } from "../../edge/providers/openai/adapter.ts";
import { anthropicAdapter } from "../../edge/providers/anthropic/adapter.ts";
import { geminiAdapter } from "../../edge/providers/gemini/adapter.ts";
import type { Simulator } from "../../simulator/server.ts";
import { startSimulator } from "../../simulator/server.ts";
import { assemble, chatPlain, chatStream, ctx, readSse, send, targetFor } from "./helpers.ts";

/** Every adapter against the simulator over real HTTP, plain and streamed. */

let sim: Simulator;
before(async () => {
  sim = await startSimulator({ port: 0 });
});
after(() => sim.close());
beforeEach(() => sim.reset());

const MODEL = "up-model";
const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      additionalProperties: false,
      properties: { city: { type: "string" }, days: { type: "integer" }, metric: { type: "boolean" }, note: { type: "string" } },
      required: ["city", "days", "metric"],
    },
  },
};
const hello: ChatCompletionRequest = { model: "godotz-model", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hello there" }] };
const expectedText = `Simulated ${MODEL} reply to: hello there`;

function toolFollowUp(callId: string, args: string): ChatCompletionRequest {
  return {
    model: "godotz-model",
    tools: [weatherTool],
    messages: [
      { role: "user", content: "weather in Oslo?" },
      { role: "assistant", content: null, tool_calls: [{ id: callId, type: "function", function: { name: "get_weather", arguments: args } }] },
      { role: "tool", tool_call_id: callId, content: "sunny, 21C" },
    ],
  };
}

const adapters: ProviderAdapter[] = [openaiAdapter, anthropicAdapter, geminiAdapter];

for (const adapter of adapters) {
  const kind = adapter.kind;

  test(`${kind}: plain text reply`, async () => {
    const out = await chatPlain(sim, adapter, MODEL, hello);
    assert.equal(out.choices[0]!.message.content, expectedText);
    assert.equal(out.choices[0]!.finish_reason, "stop");
    assert.equal(out.model, "godotz-model");
    assert.ok(out.usage!.prompt_tokens > 0);
    assert.equal(out.usage!.completion_tokens, Math.ceil(expectedText.length / 4));
    assert.deepEqual(
      sim.calls().map(({ provider, model, stream }) => ({ provider, model, stream })),
      [{ provider: kind, model: MODEL, stream: false }],
    );
  });

  test(`${kind}: streamed text reply with role chunk, one finish and one usage chunk at the end`, async () => {
    const chunks = await chatStream(sim, adapter, MODEL, { ...hello, stream: true });
    const got = assemble(chunks);
    assert.equal(got.content, expectedText);
    assert.ok(chunks.length > 3, "the reply arrives in several chunks");
    assert.equal(got.first!.choices[0]!.delta.role, "assistant");
    assert.deepEqual(got.finishReasons, ["stop"]);
    assert.equal(got.usageChunks.length, 1);
    assert.equal(got.last, got.usageChunks[0]);
    assert.deepEqual(got.last!.choices, []);
    assert.equal(got.last!.usage!.completion_tokens, Math.ceil(expectedText.length / 4));
    assert.ok(got.last!.usage!.prompt_tokens > 0);
    assert.equal(sim.calls()[0]!.stream, true);
  });

  test(`${kind}: tool call, then a reply that uses the tool result (plain)`, async () => {
    const first = await chatPlain(sim, adapter, MODEL, { model: "g", messages: [{ role: "user", content: "weather in Oslo?" }], tools: [weatherTool] });
    const choice = first.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    const call = choice.message.tool_calls![0]!;
    assert.equal(call.function.name, "get_weather");
    assert.deepEqual(JSON.parse(call.function.arguments), { city: "example", days: 1, metric: true });
    assert.ok(call.id);
    const second = await chatPlain(sim, adapter, MODEL, toolFollowUp(call.id, call.function.arguments));
    assert.equal(second.choices[0]!.message.content, `Simulated ${MODEL} reply using the tool result: sunny, 21C`);
    assert.equal(second.choices[0]!.finish_reason, "stop");
  });

  test(`${kind}: tool call assembled from a stream, then the follow-up streamed`, async () => {
    const got = assemble(await chatStream(sim, adapter, MODEL, { model: "g", stream: true, messages: [{ role: "user", content: "weather?" }], tools: [weatherTool] }));
    assert.deepEqual(got.finishReasons, ["tool_calls"]);
    assert.equal(got.calls.length, 1);
    assert.equal(got.calls[0]!.name, "get_weather");
    assert.ok(got.calls[0]!.id);
    assert.deepEqual(JSON.parse(got.calls[0]!.arguments), { city: "example", days: 1, metric: true });
    assert.equal(got.usageChunks.length, 1);
    const next = assemble(await chatStream(sim, adapter, MODEL, { ...toolFollowUp(got.calls[0]!.id, got.calls[0]!.arguments), stream: true }));
    assert.match(next.content, /using the tool result: sunny, 21C$/);
  });

  test(`${kind}: a named tool_choice picks that tool; "none" answers in text`, async () => {
    const other = { type: "function" as const, function: { name: "get_time", parameters: { type: "object", properties: { tz: { type: "string" } }, required: ["tz"] } } };
    const base = { model: "g", messages: [{ role: "user" as const, content: "time?" }], tools: [weatherTool, other] };
    const named = await chatPlain(sim, adapter, MODEL, { ...base, tool_choice: { type: "function", function: { name: "get_time" } } });
    assert.equal(named.choices[0]!.message.tool_calls![0]!.function.name, "get_time");
    assert.deepEqual(JSON.parse(named.choices[0]!.message.tool_calls![0]!.function.arguments), { tz: "example" });
    const none = await chatPlain(sim, adapter, MODEL, { ...base, tool_choice: "none" });
    assert.equal(none.choices[0]!.message.tool_calls, undefined);
    assert.equal(none.choices[0]!.message.content, `Simulated ${MODEL} reply to: time?`);
  });

  test(`${kind}: images reach the upstream`, async () => {
    const out = await chatPlain(sim, adapter, MODEL, {
      model: "g",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what are these?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
          ],
        },
      ],
    });
    assert.equal(out.choices[0]!.message.content, `Simulated ${MODEL} reply to: what are these? (saw 2 images)`);
  });

  test(`${kind}: a token limit ends with finish_reason length`, async () => {
    const out = await chatPlain(sim, adapter, MODEL, { ...hello, max_tokens: 2 });
    assert.equal(out.choices[0]!.finish_reason, "length");
    assert.equal(out.choices[0]!.message.content, expectedText.slice(0, 8));
    const streamed = assemble(await chatStream(sim, adapter, MODEL, { ...hello, max_tokens: 2, stream: true }));
    assert.deepEqual(streamed.finishReasons, ["length"]);
  });

  test(`${kind}: a scripted 429 comes back in the provider's shape with retry-after`, async () => {
    sim.script(MODEL, { failStatus: 429, failTimes: 1 });
    const res = await send(adapter.chatRequest(hello, targetFor(sim, adapter, MODEL), false));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal(adapter.errorMessage(res.status, await res.text()), `simulated failure (429) for ${MODEL}`);
    const retried = await chatPlain(sim, adapter, MODEL, hello);
    assert.equal(retried.choices[0]!.message.content, expectedText);
  });

  test(`${kind}: a dropped stream ends without a finish chunk`, async () => {
    sim.script(MODEL, { dropAfterChunks: 3 });
    const res = await send(adapter.chatRequest({ ...hello, stream: true }, targetFor(sim, adapter, MODEL), true));
    assert.equal(res.status, 200);
    await assert.rejects(readSse(res));
  });
}

for (const adapter of [openaiAdapter, geminiAdapter]) {
  test(`${adapter.kind}: embeddings are deterministic unit vectors, floats or base64`, async () => {
    const target = targetFor(sim, adapter, "embed-model");
    const req = { model: "godotz-embed", input: ["alpha", "beta", "alpha"] };
    const res = await send(adapter.embeddingsRequest!(req, target));
    assert.equal(res.status, 200);
    const list = adapter.embeddingsResponse!(await res.json(), { ...ctx, model: "godotz-embed" }, req);
    assert.equal(list.model, "godotz-embed");
    assert.equal(list.data.length, 3);
    const [a, b, a2] = list.data.map((d) => d.embedding as number[]);
    assert.equal(a!.length, 8);
    assert.deepEqual(a, a2);
    assert.notDeepEqual(a, b);
    assert.ok(Math.abs(Math.hypot(...a!) - 1) < 1e-9);
    assert.equal(list.usage.prompt_tokens, Math.ceil("alphabetaalpha".length / 4));

    const b64req = { model: "godotz-embed", input: "alpha", encoding_format: "base64" as const, dimensions: 4 };
    const b64res = await send(adapter.embeddingsRequest!(b64req, target));
    const encoded = adapter.embeddingsResponse!(await b64res.json(), ctx, b64req).data[0]!.embedding as string;
    const bytes = Buffer.from(encoded, "base64");
    assert.equal(bytes.length, 16, "4 float32 values");
    assert.ok(Math.abs(bytes.readFloatLE(0)) > 0);
  });
}

test("gemini: without schema cleaning the simulator refuses the tool, as Gemini does", async () => {
  const req = geminiAdapter.chatRequest({ model: "g", messages: [{ role: "user", content: "x" }], tools: [weatherTool] }, targetFor(sim, geminiAdapter, MODEL), false);
  const raw = JSON.parse(req.body);
  raw.tools[0].functionDeclarations[0].parameters = weatherTool.function.parameters;
  const res = await send({ ...req, body: JSON.stringify(raw) });
  assert.equal(res.status, 400);
  assert.match(geminiAdapter.errorMessage(400, await res.text()), /additionalProperties|\$schema/);
});

test("anthropic: a tool result without its tool_use is refused, as Anthropic does", async () => {
  const req = anthropicAdapter.chatRequest(toolFollowUp("toolu_1", "{}"), targetFor(sim, anthropicAdapter, MODEL), false);
  const raw = JSON.parse(req.body);
  raw.messages.splice(1, 1);
  const res = await send({ ...req, body: JSON.stringify(raw) });
  assert.equal(res.status, 400);
  assert.match(anthropicAdapter.errorMessage(400, await res.text()), /tool_use_id/);
});
