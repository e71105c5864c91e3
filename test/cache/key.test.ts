import { test } from "node:test";
import assert from "node:assert/strict";
import { cacheKey, canonicalJson } from "../../edge/cache/key.ts";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import { request } from "./helpers.ts";

const tool = {
  type: "function" as const,
  function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
};

test("the key is a SHA-256 hex digest", async () => {
  assert.match(await cacheKey(request(), "key_1"), /^[0-9a-f]{64}$/);
});

test("canonical JSON sorts keys at every depth and keeps array order", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
});

test("the order of keys in the request, its messages and tools does not change the key", async () => {
  const a = request({ tools: [tool], top_p: 1 });
  const b = {
    top_p: 1,
    tools: [{ function: { parameters: { required: ["city"], properties: { city: { type: "string" } }, type: "object" }, description: "Weather for a city", name: "get_weather" }, type: "function" }],
    temperature: 0,
    messages: [
      { content: "You answer briefly.", role: "system" },
      { content: "What is the capital of France?", role: "user" },
    ],
    model: "glm-5.1",
  } as ChatCompletionRequest;
  assert.equal(await cacheKey(a, "key_1"), await cacheKey(b, "key_1"));
});

test("delivery-only fields (stream, stream_options, user, metadata) and null defaults do not change the key", async () => {
  const base = await cacheKey(request(), "key_1");
  assert.equal(await cacheKey(request({ stream: true, stream_options: { include_usage: true } }), "key_1"), base);
  assert.equal(await cacheKey(request({ user: "alice" }), "key_1"), base);
  assert.equal(await cacheKey({ ...request(), metadata: { run: "42" } } as ChatCompletionRequest, "key_1"), base);
  assert.equal(await cacheKey(request({ seed: null, tools: null }), "key_1"), base);
});

test("anything that can change the answer changes the key", async () => {
  const base = await cacheKey(request(), "key_1");
  const variants: Array<[string, ChatCompletionRequest]> = [
    ["model", request({ model: "gpt-4o" })],
    ["message text", request({ messages: [{ role: "user", content: "What is the capital of Spain?" }] })],
    ["message role", request({ messages: [{ role: "system", content: "You answer briefly." }, { role: "developer", content: "What is the capital of France?" }] })],
    ["message order", request({ messages: [{ role: "user", content: "What is the capital of France?" }, { role: "system", content: "You answer briefly." }] })],
    ["tools", request({ tools: [tool] })],
    ["tool description", request({ tools: [{ ...tool, function: { ...tool.function, description: "Weather" } }] })],
    ["tool_choice", request({ tools: [tool], tool_choice: "required" })],
    ["temperature", request({ temperature: 0.2 })],
    ["top_p", request({ top_p: 0.5 })],
    ["max_tokens", request({ max_tokens: 10 })],
    ["max_completion_tokens", request({ max_completion_tokens: 10 })],
    ["stop", request({ stop: ["\n"] })],
    ["seed", request({ seed: 7 })],
    ["response_format", request({ response_format: { type: "json_object" } })],
    ["presence_penalty", { ...request(), presence_penalty: 0.5 } as ChatCompletionRequest],
    ["frequency_penalty", { ...request(), frequency_penalty: 0.5 } as ChatCompletionRequest],
    ["logit_bias", { ...request(), logit_bias: { "50256": -100 } } as ChatCompletionRequest],
    ["parallel_tool_calls", { ...request(), parallel_tool_calls: false } as ChatCompletionRequest],
    ["an unknown field the upstream receives", { ...request(), reasoning_effort: "high" } as ChatCompletionRequest],
  ];
  const seen = new Map<string, string>([[base, "base"]]);
  for (const [what, variant] of variants) {
    const key = await cacheKey(variant, "key_1");
    assert.ok(!seen.has(key), `${what} gave the same key as ${seen.get(key)}`);
    seen.set(key, what);
  }
});

test("the scope partitions the cache", async () => {
  assert.notEqual(await cacheKey(request(), "key_1"), await cacheKey(request(), "key_2"));
});
