import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startStack, type Stack } from "../helpers/stack.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";

// Through the gateway, with governance state in the real Redis (Upstash REST in front of it).
let stack: Stack;
before(async () => {
  stack = await startStack({
    redis: true,
    configYaml: (url) =>
      simulatedConfigYaml(url)
        .replace("glm-4.7:                { provider: simulated-zai, family: glm, price: { input: 0.6, output: 2.2 }, max_concurrency: 2 }", "glm-4.7:                { provider: simulated-zai, family: glm, price: { input: 0.6, output: 2.2 }, max_concurrency: 2, rpm: 1000 }")
        .replace("hardcore: false", "limits: { max_queue: 4, max_wait_ms: 3000 }\nhardcore: false"),
  });
});
after(() => stack.close());

const ask = (client: OpenAI, content: string, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}, headers: Record<string, string> = {}) =>
  client.chat.completions.create({ model: "glm-5.1", temperature: 0, messages: [{ role: "user", content }], ...extra }, { headers }).withResponse();

test("an identical deterministic request is answered from the cache: no upstream call, cost 0, audited as a hit", async () => {
  const first = await ask(stack.client, "cache me");
  assert.equal(first.response.headers.get("x-godotz-cache"), "miss");
  const calls = stack.simulator.calls().length;
  await new Promise((r) => setTimeout(r, 100)); // the cache write happens after the response
  const second = await ask(stack.client, "cache me");
  assert.equal(second.response.headers.get("x-godotz-cache"), "hit");
  assert.equal(second.response.headers.get("x-godotz-cost-usd"), "0.0");
  assert.equal(second.data.choices[0]!.message.content, first.data.choices[0]!.message.content);
  assert.equal(stack.simulator.calls().length, calls, "no upstream call for a hit");

  // Streamed, the same answer is replayed as a stream.
  const stream = await stack.client.chat.completions.create({ model: "glm-5.1", temperature: 0, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "cache me" }] });
  let text = "";
  let usage;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
  assert.equal(text, first.data.choices[0]!.message.content);
  assert.equal(usage?.completion_tokens, first.data.usage?.completion_tokens);
  assert.equal(stack.simulator.calls().length, calls);

  const rows = (await stack.auditRows()).filter((r) => JSON.stringify(r.request_body).includes("cache me"));
  assert.deepEqual(rows.map((r) => r.cache), ["miss", "hit", "hit"]);
  assert.deepEqual(rows.map((r) => r.cost_usd > 0), [true, false, false]);
});

test("no-cache, sampling temperature and other keys bypass or miss the cache", async () => {
  await ask(stack.client, "cache policy");
  await new Promise((r) => setTimeout(r, 100));
  const noCache = await ask(stack.client, "cache policy", {}, { "cache-control": "no-cache" });
  assert.equal(noCache.response.headers.get("x-godotz-cache"), "bypass");
  const hot = await ask(stack.client, "cache policy", { temperature: 0.7 });
  assert.equal(hot.response.headers.get("x-godotz-cache"), "bypass");
  const other = (await (await stack.admin("POST", "/keys", { name: "other-tenant" })).json()) as { key: string };
  const otherClient = new OpenAI({ apiKey: other.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  const separate = await ask(otherClient, "cache policy");
  assert.equal(separate.response.headers.get("x-godotz-cache"), "miss", "answers are not shared between keys");
});

test("requests per minute on a key: 429 rate_limited with Retry-After, through the official client", async () => {
  const created = (await (await stack.admin("POST", "/keys", { name: "slow", rpm: 3 })).json()) as { key: string };
  const client = new OpenAI({ apiKey: created.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: `rpm ${i}` }] });
  const error = await client.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: "rpm 4" }] }).catch((e: unknown) => e);
  assert.ok(error instanceof OpenAI.RateLimitError, String(error));
  assert.equal(error.code, "rate_limited");
  assert.ok(Number(error.headers?.get("retry-after")) >= 1);
  assert.match(error.message, /3 requests per minute/);
});

test("tokens per minute on a key count the prompt and the output asked for", async () => {
  const created = (await (await stack.admin("POST", "/keys", { name: "tpm", tpm: 300 })).json()) as { key: string };
  const client = new OpenAI({ apiKey: created.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: "glm-4.7", max_tokens: 200, messages: [{ role: "user", content: "tokens" }] });
  await assert.rejects(client.chat.completions.create({ model: "glm-4.7", max_tokens: 200, messages: [{ role: "user", content: "tokens" }] }), (e: unknown) => e instanceof OpenAI.RateLimitError && /tokens per minute/.test(e.message));
});

test("a greedy key cannot starve another on a model with a concurrency cap; past the queue it gets 429", async () => {
  stack.simulator.script("glm-4.7", { latencyMs: 150 });
  try {
    const greedy = new OpenAI({ apiKey: ((await (await stack.admin("POST", "/keys", { name: "greedy" })).json()) as { key: string }).key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const polite = new OpenAI({ apiKey: ((await (await stack.admin("POST", "/keys", { name: "polite" })).json()) as { key: string }).key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const flood = Array.from({ length: 30 }, (_, i) =>
      greedy.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: `greedy ${i}` }] }).then(
        () => "ok",
        (e: unknown) => (e instanceof OpenAI.RateLimitError ? "429" : `other: ${e}`),
      ),
    );
    await new Promise((r) => setTimeout(r, 50));
    const politeResults = [];
    for (let i = 0; i < 3; i++) {
      politeResults.push(await polite.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: `polite ${i}` }] }).then(() => "ok", (e: unknown) => `failed: ${e}`));
    }
    const greedyResults = await Promise.all(flood);
    assert.deepEqual(politeResults, ["ok", "ok", "ok"]);
    assert.ok(greedyResults.includes("429"), "the greedy key overflowed the queue");
    assert.ok(greedyResults.every((r) => r === "ok" || r === "429"), greedyResults.join(","));
  } finally {
    stack.simulator.reset();
  }
});

test("a request refused by its rate limit gives back the concurrency slot admission took for it", async () => {
  // Admission asks for the slot at the same time as the rate limits; glm-4.7 has 2 slots, so two
  // refusals that kept theirs (for the 15 s of a lease) would make the next request wait out
  // max_wait_ms and get a 429.
  const limited = (await (await stack.admin("POST", "/keys", { name: "one-a-minute", rpm: 1 })).json()) as { key: string };
  const client = new OpenAI({ apiKey: limited.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: "the one" }] });
  for (let i = 0; i < 6; i++) {
    await assert.rejects(client.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: `refused ${i}` }] }), (e: unknown) => e instanceof OpenAI.RateLimitError && e.code === "rate_limited");
  }
  const other = (await (await stack.admin("POST", "/keys", { name: "after-refusals" })).json()) as { key: string };
  const otherClient = new OpenAI({ apiKey: other.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  // Both need a slot at once: with a slot kept by a refusal, one waits out max_wait_ms and gets a 429.
  await Promise.all([0, 1].map((i) => otherClient.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: `after ${i}` }] })));
});

test("a cache hit is served whatever the rate limit says, and takes neither rate quota nor a slot", async () => {
  // Hits that counted would refuse "second"; hits that kept slots (glm-4.7 has 2) would make the
  // last two requests wait out max_wait_ms and one of them get a 429.
  const created = (await (await stack.admin("POST", "/keys", { name: "two-a-minute", rpm: 2 })).json()) as { key: string };
  const client = new OpenAI({ apiKey: created.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  const ask47 = (content: string) => client.chat.completions.create({ model: "glm-4.7", temperature: 0, messages: [{ role: "user", content }] }).withResponse();
  assert.equal((await ask47("hit me")).response.headers.get("x-godotz-cache"), "miss");
  await new Promise((r) => setTimeout(r, 100)); // the cache write happens after the response
  for (let i = 0; i < 4; i++) assert.equal((await ask47("hit me")).response.headers.get("x-godotz-cache"), "hit");
  assert.equal((await ask47("second")).response.headers.get("x-godotz-cache"), "miss");
  assert.equal((await ask47("hit me")).response.headers.get("x-godotz-cache"), "hit", "a hit at the limit is still served");
  await assert.rejects(ask47("third"), (e: unknown) => e instanceof OpenAI.RateLimitError && /2 requests per minute/.test(e.message));
  const other = (await (await stack.admin("POST", "/keys", { name: "after-hits" })).json()) as { key: string };
  const otherClient = new OpenAI({ apiKey: other.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  await Promise.all([0, 1].map((i) => otherClient.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: `after hits ${i}` }] })));
});

test("a client that leaves while admission waits for a concurrency slot gives up its place in the queue", async () => {
  // glm-4.7 has 2 slots and a queue of 4 per key. Two slow requests hold the slots; four of
  // another key wait and then disconnect. Had their waits outlived the clients, that key's queue
  // would still be full and its next request refused at once (429 queue full) instead of served.
  stack.simulator.script("glm-4.7", { latencyMs: 600 });
  try {
    const keyFor = async (name: string) => ((await (await stack.admin("POST", "/keys", { name })).json()) as { key: string }).key;
    const holder = new OpenAI({ apiKey: await keyFor("slot-holder"), baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const leaverKey = await keyFor("leaver");
    const holding = [0, 1].map((i) => holder.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: `hold ${i}` }] }));
    await new Promise((r) => setTimeout(r, 100));
    const leaving = new AbortController();
    const waits = Array.from({ length: 4 }, (_, i) =>
      fetch(`${stack.gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${leaverKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "glm-4.7", messages: [{ role: "user", content: `leave ${i}` }] }),
        signal: leaving.signal,
      }).then(() => "answered", (e: unknown) => (e as Error).name),
    );
    await new Promise((r) => setTimeout(r, 150));
    leaving.abort();
    assert.deepEqual(await Promise.all(waits), ["AbortError", "AbortError", "AbortError", "AbortError"]);
    await new Promise((r) => setTimeout(r, 150)); // a waiter polls every 50 ms or so
    const after = new OpenAI({ apiKey: leaverKey, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const answer = await after.chat.completions.create({ model: "glm-4.7", messages: [{ role: "user", content: "after leaving" }] });
    assert.equal(answer.choices.length, 1);
    await Promise.all(holding);
  } finally {
    stack.simulator.reset();
  }
});
