import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { startSimulator, type Simulator } from "../../simulator/server.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { freshDatabase } from "../helpers/db.ts";
import { spawnGodotz, waitForOutput, type Spawned } from "../helpers/process.ts";

// The headline guarantee, measured: hundreds of concurrent requests at a nearly spent budget,
// through two gateway processes sharing the database, never spend past the cap.
const MASTER = "gdzm_budget_race_master";
const CAP = 0.004;
const REQUESTS = 300;
let simulator: Simulator;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dir: string;
const gateways: Spawned[] = [];

before(async () => {
  simulator = await startSimulator();
  simulator.script("glm-5.1", { latencyMs: 20 });
  db = await freshDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "godotz-race-"));
  await writeFile(path.join(dir, "godotz.yaml"), simulatedConfigYaml(simulator.url));
});
after(async () => {
  for (const g of gateways) {
    g.child.kill("SIGTERM");
    await g.exited;
  }
  await simulator.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

test(`${REQUESTS} concurrent requests across two gateway processes never overrun a $${CAP} budget`, async () => {
  const env = { DATABASE_URL: db.url, GODOTZ_MASTER_KEY: MASTER, GODOTZ_SIMULATOR_KEY: "simulated", GODOTZ_HOME: path.join(dir, ".godotz") };
  for (let i = 0; i < 2; i++) gateways.push(spawnGodotz(["gateway", "--config", path.join(dir, "godotz.yaml"), "--port", "0"], env));
  const urls: string[] = [];
  for (const g of gateways) urls.push((await waitForOutput(g, /godotz gateway: (http:\S+)\/v1/))[1]!);

  const admin = (method: string, route: string, body?: unknown) =>
    fetch(`${urls[0]}/admin${route}`, { method, headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" }, body: body ? JSON.stringify(body) : null });
  const { id, key } = (await (await admin("POST", "/keys", { name: "racer", budget_usd: CAP, budget_period: "daily" })).json()) as { id: string; key: string };

  const results = await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const res = await fetch(`${urls[i % 2]}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "glm-5.1", max_tokens: 40, messages: [{ role: "user", content: `race ${i}` }] }),
      });
      const body = (await res.json()) as { error?: { code: string } };
      return { status: res.status, code: body.error?.code, retryAfter: res.headers.get("retry-after") };
    }),
  );
  const served = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status !== 200);
  assert.ok(refused.every((r) => r.status === 429 && r.code === "budget_exceeded" && r.retryAfter), JSON.stringify(refused.find((r) => r.code !== "budget_exceeded")));
  assert.ok(served > 20, `served ${served}`);
  assert.ok(refused.length > 0, "the budget ran out");

  // Let both processes finish settling and writing the audit.
  for (const g of gateways.splice(0)) {
    g.child.kill("SIGTERM");
    assert.equal(await g.exited, 0, g.output());
  }
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const [window] = await sql<{ spent: string; reserved: string }[]>`SELECT spent_usd AS spent, reserved_usd AS reserved FROM budget_windows WHERE budget_id = ${`key:${id}`}`;
    const [audit] = await sql<{ n: string; cost: string }[]>`SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS cost FROM audit_log WHERE key_id = ${id} AND status = 200`;
    const spent = Number(window!.spent);
    console.log(`budget race: fired ${REQUESTS}, served ${served}, refused ${refused.length}, cap $${CAP}, spent $${spent.toFixed(10)}, audit $${Number(audit!.cost).toFixed(10)} (${audit!.n} rows), held after $${Number(window!.reserved).toFixed(10)}`);
    assert.ok(spent <= CAP, `spent ${spent} > cap ${CAP}`);
    assert.equal(Number(window!.reserved), 0, "every hold settled");
    assert.equal(Number(audit!.n), served);
    assert.ok(Math.abs(Number(audit!.cost) - spent) < 0.005, "the ledger agrees with the audit to the cent");
    assert.ok(Math.abs(Number(audit!.cost) - spent) < 1e-9, "…and in fact exactly");
  } finally {
    await sql.end();
  }
});
