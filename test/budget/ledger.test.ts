import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { BudgetExceededError, BudgetLedger } from "../../edge/budget/ledger.ts";
import { promptTokenBound, worstCaseCost } from "../../edge/budget/estimate.ts";
import { freshDatabase } from "../helpers/db.ts";

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let ledger: BudgetLedger;

before(async () => {
  db = await freshDatabase();
  sql = openDatabase(db.url);
  await migrate(sql);
  ledger = new BudgetLedger(sql);
});
after(async () => {
  await sql.end();
  await db.drop();
});

test("a hold is all or nothing across the budgets it touches, and settling charges only what answered", async () => {
  await ledger.set({ scope: "key", subject: "k1", period: "monthly", cap_usd: 1 });
  await ledger.set({ scope: "family", subject: "f1", period: "daily", cap_usd: 0.5 });
  const hold = await ledger.reserve(["key:k1", "family:f1", "tag:unset"], 0.3);
  assert.deepEqual(hold.windows.map((w) => w.budgetId), ["family:f1", "key:k1"]);
  // 0.3 + 0.3 > 0.5 on the family: refused, and the key budget is not touched either.
  await assert.rejects(ledger.reserve(["key:k1", "family:f1"], 0.3), (e: unknown) => e instanceof BudgetExceededError && /family:f1/.test(e.message) && e.status === 429 && e.code === "budget_exceeded");
  let [family, key] = await ledger.list();
  assert.equal(key!.reserved_usd, 0.3);
  assert.equal(family!.reserved_usd, 0.3);
  await ledger.settle(hold, ["key:k1"], 0.1);
  [family, key] = await ledger.list();
  assert.deepEqual([key!.spent_usd, key!.reserved_usd, key!.remaining_usd], [0.1, 0, 0.9]);
  assert.deepEqual([family!.spent_usd, family!.reserved_usd], [0, 0]);
});

test("a request with no budget that applies reserves nothing and settles as a no-op", async () => {
  const hold = await ledger.reserve(["key:nobody"], 123);
  assert.deepEqual(hold.windows, []);
  await ledger.settle(hold, ["key:nobody"], 1);
});

test("a hold left by a crashed process expires and frees the budget", async () => {
  await ledger.set({ scope: "tag", subject: "crash", period: "total", cap_usd: 1 });
  const shortLived = new BudgetLedger(sql, 1);
  await shortLived.reserve(["tag:crash"], 0.9); // never settled: the process "died"
  await assert.rejects(ledger.reserve(["tag:crash"], 0.5), BudgetExceededError);
  await sleep(1500);
  const hold = await ledger.reserve(["tag:crash"], 0.5);
  const [status] = await ledger.list({ ids: ["tag:crash"] });
  assert.equal(status!.reserved_usd, 0.5, "the expired 0.9 is gone, only the new hold remains");
  await ledger.settle(hold, ["tag:crash"], 0.2);
});

test("a settlement after its hold expired still charges the cost", async () => {
  await ledger.set({ scope: "tag", subject: "late", period: "total", cap_usd: 1 });
  const shortLived = new BudgetLedger(sql, 1);
  const hold = await shortLived.reserve(["tag:late"], 0.4);
  await sleep(1200);
  await ledger.reserve(["tag:late"], 0.1).then((h) => ledger.settle(h, ["tag:late"], 0)); // sweeps the expired hold
  await shortLived.settle(hold, ["tag:late"], 0.3);
  const [status] = await ledger.list({ ids: ["tag:late"] });
  assert.deepEqual([status!.spent_usd, status!.reserved_usd], [0.3, 0]);
});

test("hundreds of concurrent holds from two connection pools never overrun the cap", async () => {
  await ledger.set({ scope: "key", subject: "race", period: "daily", cap_usd: 0.05 });
  const other = openDatabase(db.url);
  const ledgers = [ledger, new BudgetLedger(other)];
  let admitted = 0;
  let refused = 0;
  try {
    await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        try {
          const hold = await ledgers[i % 2]!.reserve(["key:race"], 0.001);
          admitted++;
          await sleep(Math.random() * 10);
          await ledgers[i % 2]!.settle(hold, ["key:race"], 0.0004);
        } catch (error) {
          assert.ok(error instanceof BudgetExceededError, String(error));
          refused++;
        }
      }),
    );
  } finally {
    await other.end();
  }
  const [status] = await ledger.list({ ids: ["key:race"] });
  assert.ok(status!.spent_usd <= 0.05 + 1e-12, `spent ${status!.spent_usd}`);
  assert.equal(status!.reserved_usd, 0);
  assert.equal(admitted + refused, 400);
  assert.ok(refused > 0 && admitted > 50, `admitted ${admitted}, refused ${refused}`);
  assert.ok(Math.abs(status!.spent_usd - admitted * 0.0004) < 1e-9);
});

test("worst-case estimates bound the prompt by bytes, count images by size not base64 length, and use the output limit", () => {
  const text = { messages: [{ role: "user" as const, content: "héllo" }] };
  assert.ok(promptTokenBound(text) >= 6, "é is two bytes");
  const image = `data:image/png;base64,${"A".repeat(100_000)}`;
  const withImage = { messages: [{ role: "user" as const, content: [{ type: "image_url" as const, image_url: { url: image } }] }] };
  assert.ok(promptTokenBound(withImage) < 10_000, "the image data is not counted byte by byte");
  assert.ok(promptTokenBound(withImage) >= 6_500);
  const model = { provider: "p", family: "f", type: "chat" as const, vision: false, max_output_tokens: 1000, price: { input: 1, output: 10 } };
  const req = { model: "m", ...text };
  assert.equal(worstCaseCost(req, [model]), (promptTokenBound(text) * 1 + 1000 * 10) / 1e6);
  assert.equal(worstCaseCost({ ...req, max_tokens: 10 }, [model]), (promptTokenBound(text) + 100) / 1e6);
  const pricier = { ...model, price: { input: 1, output: 20 } };
  assert.equal(worstCaseCost({ ...req, max_tokens: 10 }, [model, pricier]), (promptTokenBound(text) + 200) / 1e6);
});

/** Calls `probe` until it answers `wanted` or 5 s pass; returns the last answer. */
async function eventually(probe: () => Promise<string>, wanted: string): Promise<string> {
  const deadline = Date.now() + 5_000;
  let answer = await probe();
  while (answer !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    answer = await probe();
  }
  return answer;
}

test("a process that caches which budgets exist applies a budget set by another process as soon as Postgres tells it", async () => {
  const poolA = openDatabase(db.url);
  const poolB = openDatabase(db.url);
  const a = new BudgetLedger(poolA);
  const b = new BudgetLedger(poolB);
  const subscriptions = [await a.listenForChanges(), await b.listenForChanges()];
  try {
    // B learns there is no budget for this key, and caches that.
    assert.deepEqual((await b.reserve(["key:late-comer"], 0.5)).windows, []);
    await a.set({ scope: "key", subject: "late-comer", period: "daily", cap_usd: 0.1 });
    // A's own cache holds at once; B's when Postgres delivers the notice to its backend, which
    // on a loaded machine can trail A's commit by a few milliseconds.
    await assert.rejects(a.reserve(["key:late-comer"], 0.5), BudgetExceededError);
    assert.equal(await eventually(() => b.reserve(["key:late-comer"], 0.5).then(() => "admitted", (e: unknown) => (e instanceof BudgetExceededError ? "refused" : String(e))), "refused"), "refused");
    await a.remove("key:late-comer");
    assert.deepEqual((await a.reserve(["key:late-comer"], 0.5)).windows, []);
    assert.equal(await eventually(() => b.reserve(["key:late-comer"], 0.5).then((h) => (h.windows.length === 0 ? "free" : "held")), "free"), "free");
  } finally {
    for (const s of subscriptions) await s.unlisten();
    await poolA.end();
    await poolB.end();
  }
});
