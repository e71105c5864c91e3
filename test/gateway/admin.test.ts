import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startStack, type Stack } from "../helpers/stack.ts";

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

test("/admin needs the master key", async () => {
  const res = await fetch(`${stack.gateway.url}/admin/keys`, { headers: { authorization: `Bearer ${stack.key}` } });
  assert.equal(res.status, 401);
  const none = await fetch(`${stack.gateway.url}/admin/keys`);
  assert.equal(none.status, 401);
});

test("a key is created (secret shown once), listed without its secret, and refused after revocation", async () => {
  const res = await stack.admin("POST", "/keys", { name: "ci-bot", models: ["glm-5.1"], budget_usd: 5, rpm: 60 });
  assert.equal(res.status, 201);
  const created = (await res.json()) as { id: string; key: string; budget_period: string; budget_usd: number };
  assert.match(created.key, /^gdz_/);
  assert.equal(created.budget_period, "monthly");
  assert.equal(created.budget_usd, 5);

  const list = (await (await stack.admin("GET", "/keys")).json()) as { data: Record<string, unknown>[] };
  const listed = list.data.find((k) => k.id === created.id)!;
  assert.equal(listed.name, "ci-bot");
  assert.ok(!JSON.stringify(list).includes(created.key), "secret never listed");
  const stored = await stack.gateway.sql`SELECT key_hash FROM virtual_keys WHERE id = ${created.id}`;
  assert.notEqual(stored[0]!.key_hash, created.key);
  assert.equal(stored[0]!.key_hash.length, 64);

  const client = new OpenAI({ apiKey: created.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "before revoke" }] });
  assert.equal((await stack.admin("DELETE", `/keys/${created.id}`)).status, 200);
  await assert.rejects(client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "after" }] }), OpenAI.AuthenticationError);
  assert.equal((await stack.admin("DELETE", `/keys/${created.id}`)).status, 404, "revoking twice is a 404");
});

test("bad key requests are 400s that name the field", async () => {
  for (const [body, param] of [
    [{}, "name"],
    [{ name: "x", budget_usd: -1 }, "budget_usd"],
    [{ name: "x", models: ["nope"] }, "models"],
    [{ name: "x", families: ["nope"] }, "families"],
    [{ name: "x", colour: "red" }, ""],
  ] as const) {
    const res = await stack.admin("POST", "/keys", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    const err = ((await res.json()) as { error: { param: string | null } }).error;
    if (param) assert.equal(err.param, param);
  }
});

test("spend per key, agent, model and day agrees with the audit rows to the cent", async () => {
  const calls: [string, string][] = [["glm-5.1", "planner"], ["glm-5.1", "coder"], ["claude-sonnet-4.5", "coder"], ["gemini-3.1-pro-low", "critic"]];
  for (const [model, agent] of calls) {
    await stack.client.chat.completions.create({ model, messages: [{ role: "user", content: `work for ${agent}` }] }, { headers: { "x-godotz-agent": agent } });
  }
  const rows = await stack.auditRows();
  const total = rows.reduce((s, r) => s + r.cost_usd, 0);
  for (const group of ["key", "agent", "model", "day"]) {
    const res = await stack.admin("GET", `/spend?group_by=${group}`);
    assert.equal(res.status, 200);
    const spend = (await res.json()) as { rows: { group: string | null; requests: number; cost_usd: number; prompt_tokens: number }[] };
    const sum = spend.rows.reduce((s, r) => s + r.cost_usd, 0);
    assert.ok(Math.abs(sum - total) < 0.005, `${group}: ${sum} vs ${total}`);
    assert.equal(spend.rows.reduce((s, r) => s + r.requests, 0), rows.length);
  }
  const byAgent = (await (await stack.admin("GET", "/spend?group_by=agent")).json()) as { rows: { group: string; cost_usd: number }[] };
  const coder = rows.filter((r) => r.agent === "coder").reduce((s, r) => s + r.cost_usd, 0);
  assert.ok(Math.abs(byAgent.rows.find((r) => r.group === "coder")!.cost_usd - coder) < 1e-9);

  const empty = (await (await stack.admin("GET", "/spend?group_by=day&from=2000-01-01&to=2000-01-02")).json()) as { rows: unknown[] };
  assert.deepEqual(empty.rows, []);
  assert.equal((await stack.admin("GET", "/spend?group_by=colour")).status, 400);
  assert.equal((await stack.admin("GET", "/spend?from=yesterday")).status, 400);
});

test("budgets are set, listed with this period's spend, validated and removed through /admin/budgets", async () => {
  const family = await stack.admin("PUT", "/budgets", { scope: "family", subject: "claude", period: "daily", cap_usd: 2.5 });
  assert.equal(family.status, 200);
  assert.deepEqual(await family.json(), { id: "family:claude", scope: "family", subject: "claude", period: "daily", cap_usd: 2.5 });
  await stack.client.chat.completions.create({ model: "claude-sonnet-4.5", messages: [{ role: "user", content: "charged to claude" }] });
  await new Promise((r) => setTimeout(r, 200)); // settlement runs after the response
  const { data } = (await (await stack.admin("GET", "/budgets")).json()) as { data: { id: string; spent_usd: number; reserved_usd: number; remaining_usd: number }[] };
  const claude = data.find((b) => b.id === "family:claude")!;
  const cost = (await stack.auditRows()).find((r) => r.response_text?.includes("charged to claude"))!.cost_usd;
  assert.ok(Math.abs(claude.spent_usd - cost) < 1e-9, `${claude.spent_usd} vs ${cost}`);
  assert.equal(claude.reserved_usd, 0);
  assert.ok(Math.abs(claude.remaining_usd - (2.5 - cost)) < 1e-9);

  for (const [body, param] of [
    [{ scope: "family", subject: "no-such-family", cap_usd: 1 }, "subject"],
    [{ scope: "key", subject: "vk_missing", cap_usd: 1 }, "subject"],
    [{ scope: "team", subject: "x", cap_usd: 1 }, "scope"],
    [{ scope: "tag", subject: "x", cap_usd: -1 }, "cap_usd"],
    [{ scope: "tag", subject: "x", cap_usd: 1, period: "weekly" }, "period"],
  ] as const) {
    const res = await stack.admin("PUT", "/budgets", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(((await res.json()) as { error: { param: string } }).error.param, param);
  }
  assert.equal((await stack.admin("DELETE", "/budgets/family:claude")).status, 200);
  assert.equal((await stack.admin("DELETE", "/budgets/family:claude")).status, 404);
});

test("a key over its budget gets 429 budget_exceeded from the official client, naming the budget", async () => {
  const created = (await (await stack.admin("POST", "/keys", { name: "tiny", budget_usd: 0.00001, tags: ["team-a"] })).json()) as { key: string; id: string; tags: string[] };
  assert.deepEqual(created.tags, ["team-a"]);
  const client = new OpenAI({ apiKey: created.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  const error = await client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "too dear" }] }).catch((e: unknown) => e);
  assert.ok(error instanceof OpenAI.RateLimitError, String(error));
  assert.equal(error.code, "budget_exceeded");
  assert.match(error.message, new RegExp(`key:${created.id}`));
  // A tag budget caps every key carrying the tag.
  await stack.admin("PUT", "/budgets", { scope: "tag", subject: "team-b", cap_usd: 0.00001 });
  const tagged = (await (await stack.admin("POST", "/keys", { name: "b1", tags: ["team-b"] })).json()) as { key: string };
  const taggedClient = new OpenAI({ apiKey: tagged.key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  await assert.rejects(taggedClient.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "x" }] }), (e: unknown) => e instanceof OpenAI.RateLimitError && /tag:team-b/.test(e.message));
});

test("very large budgets are stored exactly, and absurd ones are a 400, not a 500", async () => {
  const big = await stack.admin("POST", "/keys", { name: "enterprise", budget_usd: 2_500_000 });
  assert.equal(big.status, 201);
  assert.equal(((await big.json()) as { budget_usd: number }).budget_usd, 2_500_000);
  const absurd = await stack.admin("POST", "/keys", { name: "absurd", budget_usd: 1e12 });
  assert.equal(absurd.status, 400);
  assert.equal(((await absurd.json()) as { error: { param: string } }).error.param, "budget_usd");
  assert.equal((await stack.admin("PUT", "/budgets", { scope: "tag", subject: "huge", cap_usd: 1e12 })).status, 400);
});
