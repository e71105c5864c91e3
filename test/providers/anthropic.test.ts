import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import type { ChunkOut, SseEvent, UpstreamTarget } from "../../edge/providers/types.ts";
import { UnsupportedInputError, UpstreamFormatError, UpstreamStreamError } from "../../edge/providers/types.ts";
import { anthropicAdapter } from "../../edge/providers/anthropic/adapter.ts";

const target: UpstreamTarget = { baseUrl: "https://api.anthropic.com/v1/", apiKey: "sk-ant-test", headers: {}, upstreamModel: "claude-x" };
const ctx = { id: "chatcmpl-1", created: 1700000000, model: "smart" };

function bodyOf(req: ChatCompletionRequest, stream = false) {
  return JSON.parse(anthropicAdapter.chatRequest(req, target, stream).body);
}

const weatherTool = {
  type: "function" as const,
  function: { name: "get_weather", description: "Weather now", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
};

test("request goes to /messages with Anthropic headers", () => {
  const out = anthropicAdapter.chatRequest({ model: "smart", messages: [{ role: "user", content: "hi" }] }, target, false);
  assert.equal(out.url, "https://api.anthropic.com/v1/messages");
  assert.equal(out.method, "POST");
  assert.equal(out.headers["x-api-key"], "sk-ant-test");
  assert.equal(out.headers["anthropic-version"], "2023-06-01");
  assert.equal(out.headers["content-type"], "application/json");
  assert.equal(out.headers.authorization, undefined);
});

test("system and developer messages become `system`; parameters are mapped", () => {
  const body = bodyOf(
    {
      model: "smart",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "developer", content: [{ type: "text", text: "Use metric units." }] },
        { role: "user", content: "hi" },
      ],
      temperature: 1.5,
      top_p: 0.9,
      stop: "END",
      max_tokens: 100,
      user: "u-1",
    },
    true,
  );
  assert.equal(body.system, "Be brief.\n\nUse metric units.");
  assert.equal(body.model, "claude-x");
  assert.equal(body.stream, true);
  assert.equal(body.temperature, 1, "temperature above Anthropic's maximum is clamped");
  assert.equal(body.top_p, 0.9);
  assert.deepEqual(body.stop_sequences, ["END"]);
  assert.equal(body.max_tokens, 100);
  assert.deepEqual(body.metadata, { user_id: "u-1" });
  assert.deepEqual(body.messages, [{ role: "user", content: [{ type: "text", text: "hi" }] }]);
});

test("max_tokens: max_completion_tokens wins, then max_tokens, else 4096", () => {
  const messages = [{ role: "user" as const, content: "hi" }];
  assert.equal(bodyOf({ model: "m", messages, max_tokens: 10, max_completion_tokens: 20 }).max_tokens, 20);
  assert.equal(bodyOf({ model: "m", messages, max_tokens: 10 }).max_tokens, 10);
  assert.equal(bodyOf({ model: "m", messages }).max_tokens, 4096);
  assert.equal(bodyOf({ model: "m", messages }).stream, undefined);
});

test("images: data URLs become base64 sources, http URLs url sources", () => {
  const body = bodyOf({
    model: "m",
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "what is this?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
        ],
      },
    ],
  });
  assert.deepEqual(body.messages[0].content, [
    { type: "text", text: "what is this?" },
    { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
    { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
  ]);
});

test("unsupported content parts are refused, not dropped", () => {
  assert.throws(
    () => bodyOf({ model: "m", messages: [{ role: "user", content: [{ type: "input_audio", input_audio: {} }] }] }),
    UnsupportedInputError,
  );
});

test("tool calls and results: tool_use blocks, consecutive results merged into one user turn", () => {
  const body = bodyOf({
    model: "m",
    messages: [
      { role: "user", content: "weather in Oslo and Rome?" },
      {
        role: "assistant",
        content: "Checking.",
        tool_calls: [
          { id: "toolu_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } },
          { id: "toolu_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "toolu_1", content: "3C" },
      { role: "tool", tool_call_id: "toolu_2", content: [{ type: "text", text: "21C" }] },
      { role: "user", content: "thanks" },
    ],
    tools: [weatherTool],
    tool_choice: "required",
  });
  assert.equal(body.messages.length, 3);
  assert.deepEqual(body.messages[1], {
    role: "assistant",
    content: [
      { type: "text", text: "Checking." },
      { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } },
      { type: "tool_use", id: "toolu_2", name: "get_weather", input: { city: "Rome" } },
    ],
  });
  assert.deepEqual(body.messages[2], {
    role: "user",
    content: [
      { type: "tool_result", tool_use_id: "toolu_1", content: "3C" },
      { type: "tool_result", tool_use_id: "toolu_2", content: [{ type: "text", text: "21C" }] },
      { type: "text", text: "thanks" },
    ],
  });
  assert.deepEqual(body.tools, [{ name: "get_weather", description: "Weather now", input_schema: weatherTool.function.parameters }]);
  assert.deepEqual(body.tool_choice, { type: "any" });
});

test("tool_choice mapping", () => {
  const base = { model: "m", messages: [{ role: "user" as const, content: "x" }], tools: [weatherTool] };
  assert.deepEqual(bodyOf({ ...base, tool_choice: "auto" }).tool_choice, { type: "auto" });
  assert.deepEqual(bodyOf({ ...base, tool_choice: "none" }).tool_choice, { type: "none" });
  assert.deepEqual(bodyOf({ ...base, tool_choice: { type: "function", function: { name: "get_weather" } } }).tool_choice, {
    type: "tool",
    name: "get_weather",
  });
  assert.deepEqual(bodyOf({ ...base, parallel_tool_calls: false }).tool_choice, { type: "auto", disable_parallel_tool_use: true });
  assert.equal(bodyOf({ ...base }).tool_choice, undefined);
  assert.equal(bodyOf({ model: "m", messages: base.messages, tool_choice: "auto" }).tool_choice, undefined, "no tools, no tool_choice");
});

test("response: text joined, tool_use to tool_calls, usage with cache tokens", () => {
  const out = anthropicAdapter.chatResponse(
    {
      id: "msg_1",
      type: "message",
      role: "assistant",
      content: [
        { type: "text", text: "Let me " },
        { type: "text", text: "check." },
        { type: "tool_use", id: "toolu_9", name: "get_weather", input: { city: "Oslo" } },
      ],
      stop_reason: "tool_use",
      usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 2, cache_read_input_tokens: 3 },
    },
    ctx,
  );
  assert.equal(out.id, "chatcmpl-1");
  assert.equal(out.object, "chat.completion");
  assert.equal(out.model, "smart");
  assert.equal(out.created, 1700000000);
  const choice = out.choices[0]!;
  assert.equal(choice.message.content, "Let me check.");
  assert.deepEqual(choice.message.tool_calls, [{ id: "toolu_9", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }]);
  assert.equal(choice.finish_reason, "tool_calls");
  assert.deepEqual(out.usage, { prompt_tokens: 15, completion_tokens: 5, total_tokens: 20 });
});

test("response: stop reasons map to OpenAI finish reasons; tool-only content is null", () => {
  const make = (stop_reason: string, content: unknown[] = [{ type: "text", text: "x" }]) =>
    anthropicAdapter.chatResponse({ content, stop_reason, usage: { input_tokens: 1, output_tokens: 1 } }, ctx).choices[0]!;
  assert.equal(make("end_turn").finish_reason, "stop");
  assert.equal(make("stop_sequence").finish_reason, "stop");
  assert.equal(make("max_tokens").finish_reason, "length");
  assert.equal(make("refusal").finish_reason, "content_filter");
  assert.equal(make("tool_use", [{ type: "tool_use", id: "t", name: "f", input: {} }]).message.content, null);
  assert.equal(make("end_turn", []).message.content, "");
});

test("response: bodies that are not a message are refused", () => {
  assert.throws(() => anthropicAdapter.chatResponse(null, ctx), UpstreamFormatError);
  assert.throws(() => anthropicAdapter.chatResponse("oops", ctx), UpstreamFormatError);
  assert.throws(() => anthropicAdapter.chatResponse({ type: "error", error: { message: "x" } }, ctx), UpstreamFormatError);
});

function ev(type: string, data: Record<string, unknown>): SseEvent {
  return { event: type, data: JSON.stringify({ type, ...data }) };
}

function run(events: SseEvent[]): ChunkOut[] {
  const t = anthropicAdapter.chatStream(ctx);
  return [...events.flatMap((e) => t.onEvent(e)), ...t.finish()];
}

test("stream: text and tool use become OpenAI chunks, then finish, then one usage chunk", () => {
  const out = run([
    ev("message_start", { message: { id: "msg_1", usage: { input_tokens: 12, output_tokens: 1, cache_read_input_tokens: 4 } } }),
    ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    ev("ping", {}),
    ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hel" } }),
    ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "lo" } }),
    ev("content_block_stop", { index: 0 }),
    ev("content_block_start", { index: 1, content_block: { type: "tool_use", id: "toolu_1", name: "get_weather", input: {} } }),
    ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "" } }),
    ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '{"city":' } }),
    ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '"Oslo"}' } }),
    ev("content_block_stop", { index: 1 }),
    ev("content_block_start", { index: 2, content_block: { type: "tool_use", id: "toolu_2", name: "get_time", input: {} } }),
    ev("content_block_delta", { index: 2, delta: { type: "input_json_delta", partial_json: "{}" } }),
    ev("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 30 } }),
    ev("message_stop", {}),
  ]);
  const chunks = out.map((c) => c.chunk);
  for (const c of out) assert.deepEqual(JSON.parse(c.json), c.chunk, "json matches chunk");
  for (const c of chunks) {
    assert.equal(c.id, "chatcmpl-1");
    assert.equal(c.model, "smart");
    assert.equal(c.object, "chat.completion.chunk");
  }
  assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: "assistant", content: "" });
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
  assert.equal(text, "Hello");
  const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
  assert.deepEqual(toolDeltas, [
    { index: 0, id: "toolu_1", type: "function", function: { name: "get_weather", arguments: "" } },
    { index: 0, function: { arguments: '{"city":' } },
    { index: 0, function: { arguments: '"Oslo"}' } },
    { index: 1, id: "toolu_2", type: "function", function: { name: "get_time", arguments: "" } },
    { index: 1, function: { arguments: "{}" } },
  ]);
  const finishes = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(finishes.length, 1);
  assert.equal(finishes[0]!.choices[0]!.finish_reason, "tool_calls");
  const last = chunks[chunks.length - 1]!;
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, { prompt_tokens: 16, completion_tokens: 30, total_tokens: 46 });
  assert.equal(chunks.filter((c) => c.usage).length, 1, "exactly one usage chunk even though finish() ran after message_stop");
});

test("stream: usage is emitted from finish() when message_stop never came", () => {
  const out = run([
    ev("message_start", { message: { usage: { input_tokens: 3, output_tokens: 1 } } }),
    ev("content_block_start", { index: 0, content_block: { type: "text", text: "Hi" } }),
  ]);
  assert.equal(out[1]!.chunk.choices[0]!.delta.content, "Hi");
  assert.deepEqual(out[out.length - 1]!.chunk.usage, { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
});

test("stream: max_tokens maps to length; events without `event:` use the data type", () => {
  const t = anthropicAdapter.chatStream(ctx);
  t.onEvent({ data: JSON.stringify({ type: "message_start", message: { usage: { input_tokens: 1 } } }) });
  const out = t.onEvent({ data: JSON.stringify({ type: "message_delta", delta: { stop_reason: "max_tokens" }, usage: { output_tokens: 9 } }) });
  assert.equal(out[0]!.chunk.choices[0]!.finish_reason, "length");
});

test("stream: an error event throws UpstreamStreamError with Anthropic's message", () => {
  const t = anthropicAdapter.chatStream(ctx);
  assert.throws(() => t.onEvent(ev("error", { error: { type: "overloaded_error", message: "Overloaded" } })), (err: unknown) => {
    assert.ok(err instanceof UpstreamStreamError);
    assert.equal(err.message, "Overloaded");
    return true;
  });
});

test("stream: a non-JSON event is a format error; unknown events are ignored", () => {
  const t = anthropicAdapter.chatStream(ctx);
  assert.throws(() => t.onEvent({ event: "message_start", data: "not json" }), UpstreamFormatError);
  assert.deepEqual(t.onEvent(ev("something_new", { x: 1 })), []);
  assert.deepEqual(t.finish(), [], "no usage chunk for a stream that never started");
});

test("no embeddings; error messages read Anthropic's error shape", () => {
  assert.equal(anthropicAdapter.embeddingsRequest, undefined);
  const msg = anthropicAdapter.errorMessage(429, JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "slow down" } }));
  assert.equal(msg, "slow down");
});
