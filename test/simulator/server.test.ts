import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import type { Simulator } from "../../simulator/server.ts";
import { startSimulator } from "../../simulator/server.ts";
import { json, readSse } from "./helpers.ts";

/** The simulator's own contract: auth per provider, scripting, call log, wire details. */

let sim: Simulator;
before(async () => {
  sim = await startSimulator();
});
after(() => sim.close());
beforeEach(() => sim.reset());

const chatBody = (model: string, extra: Record<string, unknown> = {}) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], ...extra });
const openai = (body: string, headers: Record<string, string> = { authorization: "Bearer k" }) =>
  fetch(`${sim.url}/openai/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
const anthropicBody = JSON.stringify({ model: "claude", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
const geminiBody = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] });

test("url and port describe a loopback listener", () => {
  assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(sim.url, `http://127.0.0.1:${sim.port}`);
  assert.ok(sim.port > 0);
});

test("openai: a bearer token is required, errors in OpenAI's shape", async () => {
  const res = await openai(chatBody("m"), {});
  assert.equal(res.status, 401);
  const body = await json(res);
  assert.equal(body.error.code, "invalid_api_key");
  assert.equal(typeof body.error.message, "string");
  assert.equal((await openai(chatBody("m"), { authorization: "Bearer " })).status, 401);
  assert.equal((await openai(chatBody("m"))).status, 200);
  assert.equal(sim.calls().length, 1, "refused requests are not logged as calls");
});

test("anthropic: x-api-key and anthropic-version are required", async () => {
  const url = `${sim.url}/anthropic/v1/messages`;
  const noKey = await fetch(url, { method: "POST", headers: { "anthropic-version": "2023-06-01" }, body: anthropicBody });
  assert.equal(noKey.status, 401);
  assert.equal((await json(noKey)).error.type, "authentication_error");
  const noVersion = await fetch(url, { method: "POST", headers: { "x-api-key": "k" }, body: anthropicBody });
  assert.equal(noVersion.status, 400);
  assert.equal((await json(noVersion)).type, "error");
  const ok = await fetch(url, { method: "POST", headers: { "x-api-key": "k", "anthropic-version": "2023-06-01" }, body: anthropicBody });
  assert.equal(ok.status, 200);
  assert.equal((await json(ok)).type, "message");
});

test("anthropic: max_tokens is required, as in the real API", async () => {
  const res = await fetch(`${sim.url}/anthropic/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": "k", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude", messages: [{ role: "user", content: "hi" }] }),
  });
  assert.equal(res.status, 400);
  assert.match((await json(res)).error.message, /max_tokens/);
});

test("gemini: key by header or ?key=, otherwise 403 in Google's shape", async () => {
  const url = `${sim.url}/gemini/v1beta/models/gemini-x:generateContent`;
  const none = await fetch(url, { method: "POST", body: geminiBody });
  assert.equal(none.status, 403);
  assert.equal((await json(none)).error.status, "PERMISSION_DENIED");
  assert.equal((await fetch(`${url}?key=k`, { method: "POST", body: geminiBody })).status, 200);
  const byHeader = await fetch(url, { method: "POST", headers: { "x-goog-api-key": "k" }, body: geminiBody });
  assert.equal(byHeader.status, 200);
  assert.equal((await json(byHeader)).candidates[0].content.parts[0].text, "Simulated gemini-x reply to: hi");
  assert.deepEqual(sim.calls().map((c) => c.model), ["gemini-x", "gemini-x"]);
});

test("gemini: streaming is SSE only; embeddings check the model names the URL's", async () => {
  const base = `${sim.url}/gemini/v1beta/models/gemini-x`;
  const headers = { "x-goog-api-key": "k" };
  assert.equal((await fetch(`${base}:streamGenerateContent`, { method: "POST", headers, body: geminiBody })).status, 404);
  const sse = await fetch(`${base}:streamGenerateContent?alt=sse`, { method: "POST", headers, body: geminiBody });
  assert.equal(sse.headers.get("content-type"), "text/event-stream");
  const events = await readSse(sse);
  assert.ok(events.length > 1);
  assert.equal(JSON.parse(events[events.length - 1]!.data).candidates[0].finishReason, "STOP");
  const mismatch = await fetch(`${base}:batchEmbedContents`, {
    method: "POST",
    headers,
    body: JSON.stringify({ requests: [{ model: "models/other", content: { parts: [{ text: "a" }] } }] }),
  });
  assert.equal(mismatch.status, 400);
  const single = await fetch(`${base}:embedContent`, { method: "POST", headers, body: JSON.stringify({ content: { parts: [{ text: "a" }] } }) });
  assert.equal((await json(single)).embedding.values.length, 8);
});

test("openai stream: usage chunk only with include_usage, always ending in [DONE]", async () => {
  const without = await readSse(await openai(chatBody("m", { stream: true })));
  assert.equal(without[without.length - 1]!.data, "[DONE]");
  assert.ok(!without.some((e) => e.data !== "[DONE]" && JSON.parse(e.data).usage));
  const withUsage = await readSse(await openai(chatBody("m", { stream: true, stream_options: { include_usage: true } })));
  assert.equal(withUsage[withUsage.length - 1]!.data, "[DONE]");
  const usageChunk = JSON.parse(withUsage[withUsage.length - 2]!.data);
  assert.deepEqual(usageChunk.choices, []);
  assert.ok(usageChunk.usage.total_tokens > 0);
});

test("openai: models list, unknown routes 404, bad JSON 400", async () => {
  const models = await fetch(`${sim.url}/openai/v1/models`, { headers: { authorization: "Bearer k" } });
  const list = await json(models);
  assert.equal(list.object, "list");
  assert.ok(list.data.some((m: { id: string }) => m.id === "gpt-4o-mini"));
  assert.equal((await fetch(`${sim.url}/openai/v1/nope`, { method: "POST", headers: { authorization: "Bearer k" } })).status, 404);
  const bad = await openai("{not json");
  assert.equal(bad.status, 400);
  assert.equal((await json(bad)).error.type, "invalid_request_error");
});

test("in-process script: fail the next N, then succeed; the call log records each", async () => {
  sim.script("flaky", { failStatus: 503, failTimes: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await openai(chatBody("flaky"))).status);
  assert.deepEqual(statuses, [503, 503, 200]);
  const calls = sim.calls();
  assert.equal(calls.length, 3);
  assert.deepEqual({ ...calls[0], at: 0, digest: "" }, { provider: "openai", model: "flaky", stream: false, kind: "chat", at: 0, cutShort: false, digest: "" });
  assert.ok(Math.abs(calls[0]!.at - Date.now()) < 5000);
  // The same request gets the same digest (retries of one request are recognisable), another request another.
  assert.match(calls[0]!.digest, /^[0-9a-f]{64}$/);
  assert.equal(calls[1]!.digest, calls[0]!.digest);
  await openai(chatBody("flaky", { messages: [{ role: "user", content: "something else" }] }));
  assert.notEqual(sim.calls()[3]!.digest, calls[0]!.digest);
});

test("swarm rules: a routing tool goes to the first option not yet answered, then FINISH", async () => {
  const route = {
    type: "function",
    function: { name: "route", parameters: { type: "object", properties: { next: { type: "string", enum: ["alpha", "beta", "FINISH"] }, reason: { type: "string" } }, required: ["next"] } },
  };
  const ask = async (content: string) => {
    const res = await openai(chatBody("router", { tools: [route], tool_choice: { type: "function", function: { name: "route" } }, messages: [{ role: "user", content }] }));
    const json = (await res.json()) as { choices: { message: { tool_calls: { function: { arguments: string } }[] } }[] };
    return (JSON.parse(json.choices[0]!.message.tool_calls[0]!.function.arguments) as { next: string }).next;
  };
  assert.equal(await ask("Task: x"), "alpha");
  assert.equal(await ask("Task: x\n[alpha] done"), "beta");
  assert.equal(await ask("Task: x\n[beta] done\n[alpha] done"), "FINISH");
  // A name inside a line does not count; only a turn written as `[name]` at the start of a line does.
  assert.equal(await ask("Task: mention [alpha] here"), "alpha");
});

test("swarm rules: a panel tool answers with a confidence and adopts a more confident peer's answer", async () => {
  const tool = {
    type: "function",
    function: { name: "answer", parameters: { type: "object", properties: { answer: { type: "string" }, confidence: { type: "number" } }, required: ["answer", "confidence"] } },
  };
  const ask = async (model: string, content: string) => {
    const res = await openai(chatBody(model, { tools: [tool], messages: [{ role: "user", content }] }));
    const json = (await res.json()) as { choices: { message: { tool_calls: { function: { arguments: string } }[] } }[] };
    return JSON.parse(json.choices[0]!.message.tool_calls[0]!.function.arguments) as { answer: string; confidence: number };
  };
  const first = await ask("panel-a", "Which is it?");
  assert.ok(first.confidence >= 0.5 && first.confidence <= 0.95);
  assert.match(first.answer, /panel-a answer to: Which is it\?/);
  assert.deepEqual(await ask("panel-a", "Which is it?"), first, "deterministic");
  const revised = await ask("panel-a", "Which is it?\n[other] (confidence 0.99) forty-two");
  assert.deepEqual(revised, { answer: "forty-two", confidence: 0.99 });
  const kept = await ask("panel-a", "Which is it?\n[other] (confidence 0.1) nope");
  assert.deepEqual(kept, first);
});

test("a script without failTimes fails until reset", async () => {
  sim.script("down", { failStatus: 500 });
  assert.equal((await openai(chatBody("down"))).status, 500);
  assert.equal((await openai(chatBody("down"))).status, 500);
  assert.equal((await openai(chatBody("other"))).status, 200, "scripts are per model");
  sim.reset();
  assert.equal((await openai(chatBody("down"))).status, 200);
});

test("HTTP control: script, calls and reset from another process", async () => {
  const script = await fetch(`${sim.url}/__sim/script`, {
    method: "POST",
    body: JSON.stringify({ model: "remote", behaviour: { failStatus: 429, failTimes: 1, reply: "scripted words" } }),
  });
  assert.equal(script.status, 200);
  const limited = await openai(chatBody("remote"));
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "1");
  const ok = await json(await openai(chatBody("remote")));
  assert.equal(ok.choices[0].message.content, "scripted words");
  const calls = await json(await fetch(`${sim.url}/__sim/calls`));
  assert.deepEqual(calls.map((c: { model: string }) => c.model), ["remote", "remote"]);
  assert.equal((await fetch(`${sim.url}/__sim/reset`, { method: "POST" })).status, 200);
  assert.deepEqual(await json(await fetch(`${sim.url}/__sim/calls`)), []);
  const invalid = await fetch(`${sim.url}/__sim/script`, { method: "POST", body: JSON.stringify({ model: "x", behaviour: { failStatus: "soon" } }) });
  assert.equal(invalid.status, 400);
});

test("latency and chunk delay slow the answer down", async () => {
  sim.script("slow", { latencyMs: 120 });
  let start = performance.now();
  await json(await openai(chatBody("slow")));
  assert.ok(performance.now() - start >= 110, "latencyMs delays the response");

  sim.script("dribble", { chunkDelayMs: 25 });
  start = performance.now();
  const events = await readSse(await openai(chatBody("dribble", { stream: true })));
  assert.ok(performance.now() - start >= 25 * (events.length - 1) - 10, "chunkDelayMs spaces the events");
});

test("dropAfterChunks cuts the stream after exactly N events", async () => {
  sim.script("drop", { dropAfterChunks: 2 });
  const res = await openai(chatBody("drop", { stream: true }));
  const seen: string[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  await assert.rejects(async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      seen.push(value);
    }
  });
  const events = seen.join("").split("\n\n").filter(Boolean);
  assert.equal(events.length, 2);
});

test("the official openai client works against the simulated OpenAI API", async () => {
  const { default: OpenAI } = await import("openai");
  const client = new OpenAI({ baseURL: `${sim.url}/openai/v1`, apiKey: "k", maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: "sdk-model",
    messages: [{ role: "user", content: "stream please" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, "Simulated sdk-model reply to: stream please");
  assert.ok(usage && usage.completion_tokens > 0);
  // The SDK asks for base64 embeddings by default and decodes them itself.
  const embeddings = await client.embeddings.create({ model: "sdk-embed", input: ["a", "b"] });
  assert.equal(embeddings.data.length, 2);
  assert.equal(embeddings.data[0]!.embedding.length, 8);
  assert.ok(Math.abs(Math.hypot(...embeddings.data[0]!.embedding) - 1) < 1e-6);
});

test("a scripted latency ends when the caller goes away: the call is cut short and nothing lingers", async () => {
  sim.reset();
  sim.script("slow", { latencyMs: 600_000 });
  await assert.rejects(
    fetch(`${sim.url}/openai/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer k" }, body: chatBody("slow"), signal: AbortSignal.timeout(100) }),
  );
  const deadline = Date.now() + 5000;
  while (!sim.calls()[0]?.cutShort && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(sim.calls()[0]?.cutShort, true);
  sim.reset();
});
