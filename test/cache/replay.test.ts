import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { replayCompletion, replayResponse, splitText } from "../../edge/cache/replay.ts";
import type { CachedAnswer } from "../../edge/cache/store.ts";
import { textAnswer, toolAnswer } from "./helpers.ts";

const identity = { id: "chatcmpl-hit-1", created: 1_800_000_000 };

/** The official client, with a fetch that answers every request from the cache replay. */
function clientReplaying(answer: CachedAnswer, seen: { headers?: Headers; body?: string } = {}) {
  return new OpenAI({
    apiKey: "vk-test",
    baseURL: "http://gateway.test/v1",
    maxRetries: 0,
    fetch: async (_url, init) => {
      const req = JSON.parse(String(init?.body));
      const response = replayResponse(answer, req, identity);
      seen.headers = response.headers;
      return response;
    },
  });
}

/** The completion a client would see, without the cache's bookkeeping. */
function expectedCompletion(answer: CachedAnswer) {
  const { cached_at: _c, ...rest } = answer;
  return { ...rest, ...identity };
}

const messages = [{ role: "user" as const, content: "hi" }];

test("plain request: the stored completion, fresh id and time, same content and usage", async () => {
  const seen: { headers?: Headers } = {};
  const completion = await clientReplaying(textAnswer(), seen).chat.completions.create({ model: "glm-5.1", messages, temperature: 0 });
  assert.deepEqual(completion, expectedCompletion(textAnswer()));
  assert.equal(seen.headers?.get("x-godotz-cache"), "hit");
  assert.equal(seen.headers?.get("x-godotz-model"), "glm-5.1");
  assert.equal(seen.headers?.get("x-godotz-cost-usd"), "0.0");
  assert.equal(seen.headers?.get("content-type"), "application/json");
});

test("replayCompletion drops cached_at and keeps the original usage", () => {
  const out = replayCompletion(textAnswer(), identity);
  assert.equal("cached_at" in out, false);
  assert.deepEqual(out.usage, textAnswer().usage);
  assert.equal(out.id, identity.id);
});

test("stream: text arrives in several chunks that add up to the answer; no usage unless asked", async () => {
  const seen: { headers?: Headers } = {};
  const stream = await clientReplaying(textAnswer(), seen).chat.completions.create({ model: "glm-5.1", messages, temperature: 0, stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(seen.headers?.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(seen.headers?.get("x-godotz-cache"), "hit");
  assert.equal(chunks[0]?.choices[0]?.delta.role, "assistant");
  const contentChunks = chunks.filter((c) => c.choices[0]?.delta.content);
  assert.ok(contentChunks.length >= 2, `content in ${contentChunks.length} chunk(s)`);
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), textAnswer().choices[0]!.message.content);
  assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, "stop");
  assert.ok(chunks.every((c) => c.id === identity.id && c.model === "glm-5.1" && c.object === "chat.completion.chunk"));
  assert.ok(chunks.every((c) => c.choices.length === 1 && !c.usage), "a usage chunk was sent without include_usage");
});

test("stream with include_usage: a final usage chunk with no choices, carrying the original counts", async () => {
  const stream = await clientReplaying(textAnswer()).chat.completions.create({
    model: "glm-5.1",
    messages,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks.at(-1)!;
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, textAnswer().usage);
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null), "usage must be null on every other chunk");
  assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, "stop");
});

test("stream: the SDK's stream helper rebuilds exactly the stored text completion", async () => {
  const runner = clientReplaying(textAnswer()).chat.completions.stream({ model: "glm-5.1", messages, temperature: 0, stream_options: { include_usage: true } });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0]?.message.content, textAnswer().choices[0]!.message.content);
  assert.equal(final.choices[0]?.finish_reason, "stop");
  assert.deepEqual(final.usage, textAnswer().usage);
});

test("stream: tool calls arrive as deltas the SDK's stream helper reassembles exactly", async () => {
  const answer = toolAnswer();
  const tools = [
    { type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: {} } } },
    { type: "function" as const, function: { name: "get_time", parameters: { type: "object", properties: {} } } },
  ];
  const runner = clientReplaying(answer).chat.completions.stream({ model: "claude-sonnet", messages, temperature: 0, tools });
  const final = await runner.finalChatCompletion();
  const message = final.choices[0]!.message;
  assert.equal(message.content, null);
  assert.deepEqual(
    message.tool_calls?.map((call) => (call.type === "function" ? { id: call.id, type: call.type, function: { name: call.function.name, arguments: call.function.arguments } } : call)),
    answer.choices[0]!.message.tool_calls,
  );
  assert.equal(final.choices[0]?.finish_reason, "tool_calls");
  assert.equal(final.model, "claude-sonnet");
});

test("stream: long tool arguments are split over several deltas, and the first delta names the call", async () => {
  const stream = await clientReplaying(toolAnswer()).chat.completions.create({ model: "claude-sonnet", messages, temperature: 0, stream: true });
  const deltas = [];
  for await (const chunk of stream) for (const call of chunk.choices[0]?.delta.tool_calls ?? []) deltas.push(call);
  const first = deltas.filter((d) => d.index === 0);
  assert.equal(first[0]?.id, "call_weather_1");
  assert.equal(first[0]?.function?.name, "get_weather");
  assert.ok(first.length >= 3, `arguments of call 0 in ${first.length - 1} delta(s)`);
  assert.ok(first.slice(1).every((d) => d.id === undefined && d.function?.name === undefined));
  assert.equal(first.map((d) => d.function?.arguments ?? "").join(""), toolAnswer().choices[0]!.message.tool_calls![0]!.function.arguments);
});

test("the raw stream ends with data: [DONE] and every event is a data line", async () => {
  const text = await replayResponse(textAnswer(), { stream: true }, identity).text();
  const events = text.split("\n\n").filter(Boolean);
  assert.equal(events.at(-1), "data: [DONE]");
  assert.ok(events.every((e) => e.startsWith("data: ") && !e.includes("\n")));
  assert.ok(text.endsWith("\n\n"));
});

test("splitText keeps every character, including surrogate pairs, in order", () => {
  const text = "naïve café ☕ 🌧 ".repeat(20);
  for (const atWords of [true, false]) {
    const pieces = splitText(text, 7, atWords);
    assert.equal(pieces.join(""), text);
    assert.ok(pieces.length > 5);
    assert.ok(pieces.every((p) => !/^[\uDC00-\uDFFF]/.test(p)), "a piece starts inside a surrogate pair");
  }
  assert.deepEqual(splitText("", 7), []);
});
