import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, type Stack } from "../helpers/stack.ts";

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

test("request ids (the audit rows' primary key) are UUIDv7s that grow with time", async () => {
  const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  for (let i = 0; i < 5; i++) {
    await stack.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: `in order ${i}` }] });
  }
  const rows = (await stack.auditRows()).filter((r) => /in order \d/.test(r.response_text ?? ""));
  const ids = [0, 1, 2, 3, 4].map((i) => rows.find((r) => r.response_text?.includes(`in order ${i}`))?.id ?? "missing");
  for (const id of ids) assert.match(id, uuidV7);
  assert.deepEqual([...ids].sort(), ids, "ids sort in the order the requests were made");
});

for (const model of ["glm-5.1", "claude-sonnet-4.5", "gemini-3.1-pro-low"]) {
  test(`${model}: a plain completion through the official client is answered, priced and attributed`, async () => {
    const { data, response } = await stack.client.chat.completions
      .create({ model, messages: [{ role: "user", content: `hello from ${model}` }] }, { headers: { "x-godotz-swarm": "s1", "x-godotz-agent": "a1", "x-godotz-task": "t1" } })
      .withResponse();
    assert.equal(data.object, "chat.completion");
    assert.match(data.choices[0]!.message.content ?? "", new RegExp(`hello from ${model.replace(".", "\\.")}`));
    assert.ok(data.usage!.prompt_tokens > 0 && data.usage!.completion_tokens > 0);
    assert.equal(response.headers.get("x-godotz-model"), model);
    assert.equal(response.headers.get("x-godotz-cache"), "bypass");
    const cost = Number(response.headers.get("x-godotz-cost-usd"));
    assert.ok(cost > 0, `cost header ${response.headers.get("x-godotz-cost-usd")}`);

    const row = (await stack.auditRows()).find((r) => (r.response_text ?? "").includes(`hello from ${model}`));
    assert.ok(row, "audit row written");
    assert.equal(row.model_used, model);
    assert.equal(row.status, 200);
    assert.deepEqual([row.swarm, row.agent, row.task], ["s1", "a1", "t1"]);
    assert.equal(row.prompt_tokens, data.usage!.prompt_tokens);
    assert.equal(row.completion_tokens, data.usage!.completion_tokens);
    assert.ok(Math.abs(row.cost_usd - cost) < 1e-9);
  });

  test(`${model}: a stream arrives chunk by chunk, ends with [DONE] and carries usage when asked`, async () => {
    const stream = await stack.client.chat.completions.create({
      model,
      messages: [{ role: "user", content: `stream please ${model}` }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let chunks = 0;
    let usage;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(chunks >= 3, `only ${chunks} chunks`);
    assert.match(text, /stream please/);
    assert.ok(usage && usage.completion_tokens > 0);
    const row = (await stack.auditRows()).find((r) => r.stream && (r.response_text ?? "") === text);
    assert.ok(row, "streamed call audited with the assembled text");
    assert.equal(row.completion_tokens, usage.completion_tokens);
  });

  test(`${model}: tools are offered and the tool call comes back in OpenAI's shape, plain and streamed`, async () => {
    const plain = await stack.client.chat.completions.create({ model, messages: [{ role: "user", content: "weather in Paris?" }], tools: [weatherTool] });
    const call = plain.choices[0]!.message.tool_calls?.[0];
    assert.equal(plain.choices[0]!.finish_reason, "tool_calls");
    assert.equal(call?.type, "function");
    assert.equal(call?.type === "function" && call.function.name, "get_weather");
    assert.ok(call?.type === "function" && typeof JSON.parse(call.function.arguments).city === "string");

    const stream = await stack.client.chat.completions.create({ model, messages: [{ role: "user", content: "weather?" }], tools: [weatherTool], stream: true });
    let name = "";
    let args = "";
    let finish = "";
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta;
      for (const tc of delta?.tool_calls ?? []) {
        name += tc.function?.name ?? "";
        args += tc.function?.arguments ?? "";
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(name, "get_weather");
    assert.ok(JSON.parse(args).city);
    assert.equal(finish, "tool_calls");

    // The tool result goes back and the model answers with text.
    const followUp = await stack.client.chat.completions.create({
      model,
      tools: [weatherTool],
      messages: [
        { role: "user", content: "weather in Paris?" },
        { role: "assistant", content: null, tool_calls: [call!] },
        { role: "tool", tool_call_id: call!.id, content: '{"temp_c": 21}' },
      ],
    });
    assert.match(followUp.choices[0]!.message.content ?? "", /21/);
  });
}

test("image parts reach a vision model intact", async () => {
  const png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
  for (const model of ["gemini-3.1-pro-low", "claude-sonnet-4.5"]) {
    const res = await stack.client.chat.completions.create({
      model,
      messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: png } }] }],
    });
    assert.match(res.choices[0]!.message.content ?? "", /1 image/, model);
  }
});

test("a stream without include_usage gets no usage chunk, yet is still priced in the audit", async () => {
  const stream = await stack.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "no usage please" }], stream: true });
  let sawUsage = false;
  let text = "";
  for await (const chunk of stream) {
    if (chunk.usage) sawUsage = true;
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  assert.equal(sawUsage, false);
  const row = (await stack.auditRows()).find((r) => r.response_text === text);
  assert.ok(row && row.completion_tokens > 0 && row.cost_usd > 0);
});

test("embeddings work on OpenAI-compatible and Gemini providers and are priced", async () => {
  for (const model of ["text-embedding-3-small", "gemini-embedding-001"]) {
    const { data, response } = await stack.client.embeddings.create({ model, input: ["alpha", "beta"] }).withResponse();
    assert.equal(data.data.length, 2);
    assert.ok(Array.isArray(data.data[0]!.embedding) && data.data[0]!.embedding.length > 0);
    assert.notDeepEqual(data.data[0]!.embedding, data.data[1]!.embedding);
    assert.ok(data.usage.prompt_tokens > 0);
    assert.equal(response.headers.get("x-godotz-model"), model);
  }
  const rows = (await stack.auditRows()).filter((r) => r.endpoint === "/v1/embeddings" && r.status === 200);
  assert.equal(rows.length, 2);
  assert.ok(rows.every((r) => r.cost_usd > 0));
});

test("/v1/models lists the configured models", async () => {
  const ids: string[] = [];
  for await (const m of stack.client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ["claude-sonnet-4.5", "gemini-3.1-pro-low", "gemini-embedding-001", "glm-4.7", "glm-5.1", "text-embedding-3-small"]);
});

test("a failing primary falls back along the configured chain, and the header names who answered", async () => {
  stack.simulator.script("glm-5.1", { failStatus: 503 });
  try {
    const { data, response } = await stack.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "fallback?" }] }).withResponse();
    assert.equal(response.headers.get("x-godotz-model"), "glm-4.7");
    assert.equal(data.model, "glm-4.7");
    const row = (await stack.auditRows()).find((r) => r.response_text?.includes("fallback?"));
    assert.equal(row?.model_requested, "glm-5.1");
    assert.equal(row?.model_used, "glm-4.7");
  } finally {
    stack.simulator.reset();
  }
});
