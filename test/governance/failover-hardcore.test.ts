import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import OpenAI from "openai";
import { startStack } from "../helpers/stack.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { BudgetLedger } from "../../edge/budget/ledger.ts";
import { openDatabase } from "../../shared/db/connect.ts";

const fastCircuit = (url: string) => simulatedConfigYaml(url).replace("vision_fallback: gemini-3.1-pro-low", "vision_fallback: gemini-3.1-pro-low\n  circuit: { failure_threshold: 3, open_ms: 400 }");

test("the primary dies mid-run: requests carry on on the fallback, then return to the primary when it recovers", async () => {
  const stack = await startStack({ redis: true, configYaml: fastCircuit });
  try {
    const served: string[] = [];
    const ask = async () => {
      const { response } = await stack.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "keep going" }] }).withResponse();
      served.push(response.headers.get("x-godotz-model")!);
    };
    for (let i = 0; i < 3; i++) await ask();
    stack.simulator.script("glm-5.1", { failStatus: 503 }); // the primary goes down
    for (let i = 0; i < 6; i++) await ask();
    const primaryCallsWhileDown = stack.simulator.calls().filter((c) => c.model === "glm-5.1").length;
    for (let i = 0; i < 3; i++) await ask();
    assert.equal(stack.simulator.calls().filter((c) => c.model === "glm-5.1").length, primaryCallsWhileDown, "an open circuit is skipped, not retried");
    stack.simulator.reset(); // the primary recovers
    await sleep(500); // past open_ms: the next request probes it
    for (let i = 0; i < 3; i++) await ask();
    assert.deepEqual(served.slice(0, 3), ["glm-5.1", "glm-5.1", "glm-5.1"]);
    assert.deepEqual(served.slice(3, 12), Array(9).fill("glm-4.7"), "no request failed while the primary was down");
    assert.deepEqual(served.slice(12), ["glm-5.1", "glm-5.1", "glm-5.1"]);
  } finally {
    await stack.close();
  }
});

test("two gateway processes share model health: one learns the primary is down from the other", async () => {
  const namespace = `godotz-test-${crypto.randomUUID()}`;
  const a = await startStack({ redis: true, configYaml: fastCircuit, namespace });
  try {
    // The second gateway talks to the same Redis through the first one's REST server.
    assert.equal(a.gateway.deps.governance.store, "redis");
    const b = await startStack({ configYaml: fastCircuit, namespace, redis: a.upstash! });
    try {
      a.simulator.script("glm-5.1", { failStatus: 503 });
      for (let i = 0; i < 3; i++) await a.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "a" }] });
      // b's own simulator is healthy, but the shared health says glm-5.1 is open: b goes to the fallback.
      const { response } = await b.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "b" }] }).withResponse();
      assert.equal(response.headers.get("x-godotz-model"), "glm-4.7");
      assert.ok(!b.simulator.calls().some((c) => c.model === "glm-5.1"));
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
});

test("hardcore: a governance store that cannot be reached means 503, while the default serves on", async () => {
  const dead = { url: "http://127.0.0.1:9", token: "nobody" };
  const lenient = await startStack({ redis: dead, configYaml: (url) => simulatedConfigYaml(url).replace("max_concurrency: 10", "max_concurrency: 10, rpm: 100") });
  const strict = await startStack({ redis: dead, configYaml: (url) => simulatedConfigYaml(url).replace("max_concurrency: 10", "max_concurrency: 10, rpm: 100").replace("hardcore: false", "hardcore: true") });
  try {
    const ok = await lenient.client.chat.completions.create({ model: "glm-5.1", temperature: 0, messages: [{ role: "user", content: "lenient" }] });
    assert.equal(ok.object, "chat.completion");
    await assert.rejects(strict.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "strict" }] }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 503 && e.code === "governance_unavailable");
  } finally {
    await lenient.close();
    await strict.close();
  }
});

test("hardcore: an unreachable budget store or a failing audit store means 503", async () => {
  const strict = await startStack({ configYaml: (url) => simulatedConfigYaml(url).replace("hardcore: false", "hardcore: true") });
  const deadDb = openDatabase("postgres://postgres@127.0.0.1:9/none", { max: 1 });
  try {
    const working = strict.gateway.deps.budgets;
    strict.gateway.deps.budgets = new BudgetLedger(deadDb);
    await assert.rejects(strict.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "x" }] }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 503 && e.code === "budget_store_unavailable");
    strict.gateway.deps.budgets = working;
    const audit = strict.gateway.deps.audit;
    const healthy = audit.healthy.bind(audit);
    audit.healthy = () => false;
    await assert.rejects(strict.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "x" }] }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 503 && e.code === "audit_unavailable");
    audit.healthy = healthy;
    const ok = await strict.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "x" }] });
    assert.equal(ok.object, "chat.completion");
  } finally {
    await deadDb.end().catch(() => {});
    await strict.close();
  }
});
