import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import type { ChunkOut, UpstreamTarget } from "../../edge/providers/types.ts";
import { UnsupportedInputError, UpstreamFormatError, UpstreamStreamError } from "../../edge/providers/types.ts";
import { geminiAdapter } from "../../edge/providers/gemini/adapter.ts";
import { HISTORY_THOUGHT_SIGNATURE } from "../../edge/providers/gemini/request.ts";

const target: UpstreamTarget = { baseUrl: "https://generativelanguage.googleapis.com/v1beta", apiKey: "AIza-test", headers: {}, upstreamModel: "gemini-x" };
const ctx = { id: "chatcmpl-abc123", created: 1700000000, model: "fast" };

function bodyOf(req: ChatCompletionRequest) {
  return JSON.parse(geminiAdapter.chatRequest(req, target, false).body);
}

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather now",
    parameters: {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      additionalProperties: false,
      properties: {
        city: { type: "string", format: "uri", description: "City" },
        unit: { type: ["string", "null"], enum: ["c", "f"] },
        default: { type: "object", additionalProperties: { type: "string" }, properties: { x: { type: "integer" } } },
        tags: { type: "array", items: { type: "string", additionalProperties: false } },
      },
      required: ["city"],
    },
  },
};

test("URLs, method and the API key header", () => {
  const plain = geminiAdapter.chatRequest({ model: "fast", messages: [{ role: "user", content: "hi" }] }, target, false);
  assert.equal(plain.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-x:generateContent");
  assert.equal(plain.headers["x-goog-api-key"], "AIza-test");
  assert.equal(plain.headers.authorization, undefined);
  const streamed = geminiAdapter.chatRequest({ model: "fast", messages: [{ role: "user", content: "hi" }] }, { ...target, upstreamModel: "models/gemini-x" }, true);
  assert.equal(streamed.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-x:streamGenerateContent?alt=sse");
});

test("system -> systemInstruction, roles -> user/model, generationConfig", () => {
  const body = bodyOf({
    model: "fast",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
      { role: "user", content: "again" },
    ],
    temperature: 0.3,
    top_p: 0.8,
    max_completion_tokens: 50,
    stop: ["X", "Y"],
    seed: 7,
    response_format: { type: "json_object" },
  });
  assert.deepEqual(body.systemInstruction, { parts: [{ text: "Be brief." }] });
  assert.deepEqual(body.contents, [
    { role: "user", parts: [{ text: "hi" }] },
    { role: "model", parts: [{ text: "hello" }] },
    { role: "user", parts: [{ text: "again" }] },
  ]);
  assert.deepEqual(body.generationConfig, { temperature: 0.3, topP: 0.8, maxOutputTokens: 50, stopSequences: ["X", "Y"], seed: 7, responseMimeType: "application/json" });
  assert.equal(body.tools, undefined);
});

test("json_schema response format passes the schema as responseJsonSchema", () => {
  const schema = { type: "object", properties: { a: { type: "string" } } };
  const body = bodyOf({ model: "m", messages: [{ role: "user", content: "x" }], response_format: { type: "json_schema", json_schema: { name: "s", schema } } });
  assert.equal(body.generationConfig.responseMimeType, "application/json");
  assert.deepEqual(body.generationConfig.responseJsonSchema, schema);
});

test("images: data URLs -> inlineData, http URLs -> fileData with a guessed MIME type", () => {
  const body = bodyOf({
    model: "m",
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "compare" },
          { type: "image_url", image_url: { url: "data:image/webp;base64,UklGRg==" } },
          { type: "image_url", image_url: { url: "https://example.com/a/photo.PNG?size=large" } },
        ],
      },
    ],
  });
  assert.deepEqual(body.contents[0].parts, [
    { text: "compare" },
    { inlineData: { mimeType: "image/webp", data: "UklGRg==" } },
    { fileData: { mimeType: "image/png", fileUri: "https://example.com/a/photo.PNG?size=large" } },
  ]);
});

test("tool calls -> functionCall, tool results -> functionResponse named from the call id, merged into one turn", () => {
  const body = bodyOf({
    model: "m",
    messages: [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "a1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } },
          { id: "a2", type: "function", function: { name: "get_time", arguments: "" } },
        ],
      },
      { role: "tool", tool_call_id: "a2", content: "noon" },
      { role: "tool", tool_call_id: "a1", content: "3C" },
    ],
  });
  assert.deepEqual(body.contents[1], {
    role: "model",
    parts: [
      { functionCall: { name: "get_weather", args: { city: "Oslo" } }, thoughtSignature: HISTORY_THOUGHT_SIGNATURE },
      { functionCall: { name: "get_time", args: {} } },
    ],
  });
  assert.deepEqual(body.contents[2], {
    role: "user",
    parts: [
      { functionResponse: { name: "get_time", response: { content: "noon" } } },
      { functionResponse: { name: "get_weather", response: { content: "3C" } } },
    ],
  });
});

test("a tool result for an unknown call id is refused", () => {
  assert.throws(() => bodyOf({ model: "m", messages: [{ role: "tool", tool_call_id: "nope", content: "x" }] }), UnsupportedInputError);
});

test("tools -> functionDeclarations with JSON-schema keys Gemini rejects stripped", () => {
  const body = bodyOf({ model: "m", messages: [{ role: "user", content: "x" }], tools: [weatherTool, { type: "function", function: { name: "ping", parameters: { type: "object", properties: {} } } }] });
  assert.deepEqual(body.tools, [
    {
      functionDeclarations: [
        {
          name: "get_weather",
          description: "Weather now",
          parameters: {
            type: "object",
            properties: {
              city: { type: "string", description: "City" },
              unit: { type: "string", nullable: true, enum: ["c", "f"] },
              default: { type: "object", properties: { x: { type: "integer" } } },
              tags: { type: "array", items: { type: "string" } },
            },
            required: ["city"],
          },
        },
        { name: "ping" },
      ],
    },
  ]);
});

test("tool_choice -> functionCallingConfig", () => {
  const base = { model: "m", messages: [{ role: "user" as const, content: "x" }], tools: [weatherTool] };
  assert.deepEqual(bodyOf({ ...base, tool_choice: "auto" }).toolConfig, { functionCallingConfig: { mode: "AUTO" } });
  assert.deepEqual(bodyOf({ ...base, tool_choice: "required" }).toolConfig, { functionCallingConfig: { mode: "ANY" } });
  assert.deepEqual(bodyOf({ ...base, tool_choice: "none" }).toolConfig, { functionCallingConfig: { mode: "NONE" } });
  assert.deepEqual(bodyOf({ ...base, tool_choice: { type: "function", function: { name: "get_weather" } } }).toolConfig, {
    functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_weather"] },
  });
  assert.equal(bodyOf(base).toolConfig, undefined);
});

test("response: text joined (thoughts skipped), function calls -> tool_calls, usage with thoughts", () => {
  const out = geminiAdapter.chatResponse(
    {
      candidates: [
        {
          content: {
            role: "model",
            parts: [{ text: "thinking...", thought: true }, { text: "Sure, " }, { text: "checking." }, { functionCall: { name: "get_weather", args: { city: "Oslo" } } }, { functionCall: { name: "get_time", args: {} } }],
          },
          finishReason: "STOP",
        },
      ],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, thoughtsTokenCount: 6, totalTokenCount: 20 },
    },
    ctx,
  );
  const choice = out.choices[0]!;
  assert.equal(out.id, "chatcmpl-abc123");
  assert.equal(out.model, "fast");
  assert.equal(choice.message.content, "Sure, checking.");
  assert.equal(choice.finish_reason, "tool_calls");
  const calls = choice.message.tool_calls!;
  assert.equal(calls.length, 2);
  assert.match(calls[0]!.id, /^call_0_/);
  assert.match(calls[1]!.id, /^call_1_/);
  assert.notEqual(calls[0]!.id, calls[1]!.id);
  assert.deepEqual(calls[0]!.function, { name: "get_weather", arguments: '{"city":"Oslo"}' });
  assert.deepEqual(out.usage, { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 });
});

test("response: finish reasons and blocked prompts", () => {
  const finish = (finishReason: string) =>
    geminiAdapter.chatResponse({ candidates: [{ content: { parts: [{ text: "x" }] }, finishReason }] }, ctx).choices[0]!.finish_reason;
  assert.equal(finish("STOP"), "stop");
  assert.equal(finish("MAX_TOKENS"), "length");
  assert.equal(finish("SAFETY"), "content_filter");
  assert.equal(finish("RECITATION"), "content_filter");
  const blocked = geminiAdapter.chatResponse({ promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 3 } }, ctx);
  assert.equal(blocked.choices[0]!.finish_reason, "content_filter");
  assert.equal(blocked.choices[0]!.message.content, "");
});

test("response: unreadable bodies are refused", () => {
  assert.throws(() => geminiAdapter.chatResponse(null, ctx), UpstreamFormatError);
  assert.throws(() => geminiAdapter.chatResponse([], ctx), UpstreamFormatError);
  assert.throws(() => geminiAdapter.chatResponse({ foo: 1 }, ctx), UpstreamFormatError);
});

function run(events: unknown[]): ChunkOut[] {
  const t = geminiAdapter.chatStream(ctx);
  return [...events.flatMap((e) => t.onEvent({ data: JSON.stringify(e) })), ...t.finish()];
}

test("stream: role chunk, text deltas, tool call deltas, finish, then usage from the last usageMetadata", () => {
  const out = run([
    { candidates: [{ content: { role: "model", parts: [{ text: "Hel" }] } }], usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 1 } },
    { candidates: [{ content: { role: "model", parts: [{ text: "lo" }] } }], usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 2 } },
    {
      candidates: [{ content: { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Oslo" } } }] }, finishReason: "STOP" }],
      usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 9, thoughtsTokenCount: 3 },
    },
  ]);
  const chunks = out.map((c) => c.chunk);
  for (const c of out) assert.deepEqual(JSON.parse(c.json), c.chunk);
  assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: "assistant", content: "" });
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), "Hello");
  const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.index, 0);
  assert.match(calls[0]!.id!, /^call_0_/);
  assert.deepEqual(calls[0]!.function, { name: "get_weather", arguments: '{"city":"Oslo"}' });
  const finishes = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(finishes.length, 1);
  assert.equal(finishes[0]!.choices[0]!.finish_reason, "tool_calls");
  const last = chunks[chunks.length - 1]!;
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, { prompt_tokens: 8, completion_tokens: 12, total_tokens: 20 });
  assert.equal(chunks.filter((c) => c.usage).length, 1);
});

test("stream: MAX_TOKENS finishes with length; error objects throw UpstreamStreamError", () => {
  const out = run([{ candidates: [{ content: { parts: [{ text: "x" }] }, finishReason: "MAX_TOKENS" }] }]);
  assert.equal(out.find((c) => c.chunk.choices[0]?.finish_reason)!.chunk.choices[0]!.finish_reason, "length");
  assert.equal(out.filter((c) => c.chunk.usage).length, 0, "no usage chunk without usageMetadata");
  const t = geminiAdapter.chatStream(ctx);
  assert.throws(() => t.onEvent({ data: JSON.stringify({ error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } }) }), (err: unknown) => {
    assert.ok(err instanceof UpstreamStreamError);
    assert.equal(err.message, "The model is overloaded.");
    return true;
  });
  assert.throws(() => geminiAdapter.chatStream(ctx).onEvent({ data: "[DONE" }), UpstreamFormatError);
});

test("embeddings: batchEmbedContents request and OpenAI-shaped list with estimated usage", () => {
  const req = { model: "embed", input: ["hello world", "abc"], dimensions: 4 };
  const out = geminiAdapter.embeddingsRequest!(req, { ...target, upstreamModel: "text-embedding-004" });
  assert.equal(out.url, "https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:batchEmbedContents");
  assert.equal(out.headers["x-goog-api-key"], "AIza-test");
  assert.deepEqual(JSON.parse(out.body), {
    requests: [
      { model: "models/text-embedding-004", content: { parts: [{ text: "hello world" }] }, outputDimensionality: 4 },
      { model: "models/text-embedding-004", content: { parts: [{ text: "abc" }] }, outputDimensionality: 4 },
    ],
  });
  const list = geminiAdapter.embeddingsResponse!({ embeddings: [{ values: [0.1, 0.2] }, { values: [0.3, 0.4] }] }, { ...ctx, model: "embed" }, req);
  assert.deepEqual(list, {
    object: "list",
    data: [
      { object: "embedding", index: 0, embedding: [0.1, 0.2] },
      { object: "embedding", index: 1, embedding: [0.3, 0.4] },
    ],
    model: "embed",
    usage: { prompt_tokens: 4, total_tokens: 4 },
  });
});

test("embeddings: base64 encoding is float32 little-endian, as the OpenAI SDK decodes it", () => {
  const req = { model: "embed", input: "hi", encoding_format: "base64" as const };
  const list = geminiAdapter.embeddingsResponse!({ embeddings: [{ values: [0.5, -1] }] }, ctx, req);
  const encoded = list.data[0]!.embedding as string;
  const bytes = Buffer.from(encoded, "base64");
  assert.equal(bytes.length, 8);
  assert.deepEqual([bytes.readFloatLE(0), bytes.readFloatLE(4)], [0.5, -1]);
});

test("embeddings: token-id input is refused; bodies without embeddings are format errors", () => {
  assert.throws(() => geminiAdapter.embeddingsRequest!({ model: "e", input: [1, 2, 3] }, target), UnsupportedInputError);
  assert.throws(() => geminiAdapter.embeddingsRequest!({ model: "e", input: [[1], [2]] }, target), UnsupportedInputError);
  assert.throws(() => geminiAdapter.embeddingsResponse!({ embeddings: [{}] }, ctx, { model: "e", input: "x" }), UpstreamFormatError);
});

test("error messages read Gemini's error shape, bare or in an array", () => {
  const body = { error: { code: 429, message: "Resource has been exhausted", status: "RESOURCE_EXHAUSTED" } };
  assert.equal(geminiAdapter.errorMessage(429, JSON.stringify(body)), "Resource has been exhausted");
  assert.equal(geminiAdapter.errorMessage(429, JSON.stringify([body])), "Resource has been exhausted");
});

test("stream: a repeated finishReason yields one finish chunk; a blocked prompt finishes with content_filter", () => {
  const out = run([
    { candidates: [{ content: { parts: [{ text: "a" }] }, finishReason: "STOP" }] },
    { candidates: [{ content: { parts: [{ text: "" }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1 } },
  ]);
  assert.equal(out.filter((c) => c.chunk.choices[0]?.finish_reason).length, 1);
  assert.equal(out.filter((c) => c.chunk.choices[0]?.delta.content === "").length, 1, "only the role chunk is empty");
  const blocked = run([{ promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 4 } }]);
  assert.deepEqual(
    blocked.map((c) => c.chunk.choices[0]?.finish_reason ?? null),
    [null, "content_filter", null],
  );
  assert.deepEqual(blocked[2]!.chunk.usage, { prompt_tokens: 4, completion_tokens: 0, total_tokens: 4 });
});
