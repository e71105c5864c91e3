import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { BudgetExceededError, BudgetLedger } from "../../edge/budget/ledger.ts";
import { DEFAULT_SLICE_OPTIONS, type SliceOptions } from "../../edge/budget/slices.ts";
import { textUnits, toUnits, unitsText } from "../../edge/budget/units.ts";
import { freshDatabase } from "../helpers/db.ts";

// Budget slices: a process holds part of a budget and admits requests on it in memory. These
// tests read the ledger's rows directly, so they see what another process would see.
let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let admin: BudgetLedger;
const errors: unknown[] = [];

before(async () => {
  db = await freshDatabase();
  sql = openDatabase(db.url);
  await migrate(sql);
  admin = new BudgetLedger(sql, 900, { slices: false });
});
after(async () => {
  await sql.end();
  await db.drop();
});

/** A gateway process's ledger: its own pool, listening, slices on. */
async function processLedger(options: Partial<SliceOptions> = {}) {
  const pool = openDatabase(db.url);
  const ledger = new BudgetLedger(pool, 900, { slices: { ...DEFAULT_SLICE_OPTIONS, ...options }, onError: (e) => errors.push(e) });
  const subscription = await ledger.listenForChanges();
  return {
    ledger,
    /** Shutdown as the gateway does it: write everything, give every slice back. */
    async stop() {
      await subscription.unlisten();
      await pool.end();
    },
  };
}

async function windowOf(id: string) {
  const [row] = await sql<{ spent: string; reserved: string; holds: string }[]>`
    SELECT bw.spent_usd::text AS spent, bw.reserved_usd::text AS reserved,
           (SELECT count(*) FROM budget_reservations r WHERE r.budget_id = bw.budget_id)::text AS holds
    FROM budget_windows bw WHERE bw.budget_id = ${id}`;
  return { spent: Number(row?.spent ?? 0), reserved: Number(row?.reserved ?? 0), holds: Number(row?.holds ?? 0) };
}

test("amounts convert to ten-decimal units exactly as Postgres rounds them", () => {
  assert.equal(toUnits(0.000170304), 1_703_040n);
  assert.equal(toUnits(1.7e-7), 1_700n);
  assert.equal(toUnits(0.00000000005), 1n, "half away from zero");
  assert.equal(toUnits(0.00000000004), 0n);
  assert.equal(toUnits(1e-11, true), 1n, "rounded up when asked");
  assert.equal(toUnits(1.1e-9, true), 11n);
  assert.equal(toUnits(1.01e-9, true), 11n);
  assert.equal(toUnits(1.01e-9), 10n);
  assert.equal(toUnits(123456789.5), 1_234_567_895_000_000_000n);
  assert.equal(unitsText(1_703_040n), "0.0001703040");
  assert.equal(textUnits("12.5"), 125_000_000_000n);
  assert.equal(textUnits(unitsText(-42n)), -42n);
});

test("a slice admits requests in memory, and a clean shutdown writes their spend and gives the slice back", async () => {
  await admin.set({ scope: "key", subject: "s1", period: "daily", cap_usd: 10 });
  const gateway = await processLedger({ flushMs: 60_000 }); // no timed writes: only the shutdown's
  try {
    const holds = await Promise.all(Array.from({ length: 20 }, () => gateway.ledger.reserve(["key:s1"], 0.01)));
    assert.ok(holds.every((h) => h.sliced), "admitted on the slice");
    const during = await windowOf("key:s1");
    assert.equal(during.holds, 1, "one reservation row for the whole slice");
    assert.ok(during.reserved >= 0.2 && during.reserved <= 10, `slice ${during.reserved}`);
    for (const h of holds) await gateway.ledger.settle(h, ["key:s1"], 0.0033333333);
    assert.equal((await windowOf("key:s1")).spent, 0, "not written yet");
  } finally {
    await gateway.stop();
  }
  const done = await windowOf("key:s1");
  assert.deepEqual(done, { spent: 20 * 0.0033333333, reserved: 0, holds: 0 });
});

test("list() includes this process's settled spend that was not written yet", async () => {
  await admin.set({ scope: "key", subject: "s2", period: "monthly", cap_usd: 5 });
  const gateway = await processLedger({ flushMs: 60_000 });
  try {
    const hold = await gateway.ledger.reserve(["key:s2"], 0.5);
    await gateway.ledger.settle(hold, ["key:s2"], 0.25);
    const [status] = await gateway.ledger.list({ ids: ["key:s2"] });
    assert.equal(status!.spent_usd, 0.25);
    assert.ok(status!.spent_usd + status!.reserved_usd <= 5);
  } finally {
    await gateway.stop();
  }
});

test("near the cap slices shrink to what is left, and the last request that fits is still admitted", async () => {
  await admin.set({ scope: "key", subject: "s3", period: "daily", cap_usd: 0.1 });
  const gateway = await processLedger({ share: 4 });
  try {
    // The first slice asks for 64 worst cases ($0.64) and gets a quarter of what is left.
    const first = await gateway.ledger.reserve(["key:s3"], 0.01);
    const held = await windowOf("key:s3");
    assert.ok(held.reserved >= 0.01 && held.reserved <= 0.01 + 0.09 / 4 + 1e-10, `slice ${held.reserved}`);
    await gateway.ledger.settle(first, ["key:s3"], 0.01);
    // Ten worst cases of $0.01 is the whole cap: exactly nine more fit.
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => gateway.ledger.reserve(["key:s3"], 0.01)));
    const admitted = results.filter((r) => r.status === "fulfilled");
    assert.equal(admitted.length, 9);
    assert.ok(results.every((r) => r.status === "fulfilled" || r.reason instanceof BudgetExceededError));
    const full = await windowOf("key:s3");
    assert.ok(full.spent + full.reserved <= 0.1 + 1e-12, JSON.stringify(full));
    for (const r of admitted) await gateway.ledger.settle((r as PromiseFulfilledResult<Awaited<ReturnType<BudgetLedger["reserve"]>>>).value, ["key:s3"], 0.01);
  } finally {
    await gateway.stop();
  }
  assert.deepEqual(await windowOf("key:s3"), { spent: 0.1, reserved: 0, holds: 0 });
});

test("two processes racing on one budget never hold or spend past its cap, and agree with the sum of settlements", async () => {
  await admin.set({ scope: "key", subject: "race", period: "daily", cap_usd: 0.05 });
  const gateways = [await processLedger(), await processLedger()];
  let admitted = 0;
  let refused = 0;
  let worst = 0;
  try {
    await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const { ledger } = gateways[i % 2]!;
        try {
          const hold = await ledger.reserve(["key:race"], 0.001);
          admitted++;
          const seen = await windowOf("key:race");
          worst = Math.max(worst, seen.spent + seen.reserved);
          await sleep(Math.random() * 10);
          await ledger.settle(hold, ["key:race"], 0.0004);
        } catch (error) {
          assert.ok(error instanceof BudgetExceededError, String(error));
          refused++;
        }
      }),
    );
  } finally {
    for (const g of gateways) await g.stop();
  }
  const done = await windowOf("key:race");
  assert.ok(worst <= 0.05 + 1e-12, `held and spent ${worst}`);
  assert.equal(admitted + refused, 400);
  assert.ok(refused > 0 && admitted > 50, `admitted ${admitted}, refused ${refused}`);
  assert.deepEqual(done, { spent: Number((admitted * 0.0004).toFixed(10)), reserved: 0, holds: 0 });
  assert.deepEqual(errors, []);
});

test("a slice left by a crashed process expires and is released, not charged", async () => {
  await admin.set({ scope: "tag", subject: "crash", period: "total", cap_usd: 1 });
  const crashed = await processLedger({ ttlSeconds: 1, flushMs: 60_000 });
  const hold = await crashed.ledger.reserve(["tag:crash"], 0.2);
  assert.ok(hold.sliced);
  const slice = await windowOf("tag:crash");
  assert.ok(slice.reserved >= 0.2, "the slice holds at least the request");
  // The process dies: no write, no shutdown; its pool goes away without a word.
  await crashed.ledger["sql"].end({ timeout: 0 });
  await assert.rejects(admin.reserve(["tag:crash"], 1), BudgetExceededError, "the slice still counts while it lives");
  await sleep(1_500);
  const after = await admin.reserve(["tag:crash"], 1);
  assert.equal((await windowOf("tag:crash")).reserved, 1, "the expired slice is gone, the new hold is all that is held");
  await admin.settle(after, ["tag:crash"], 0);
});

test("setting a budget retires its slices: a lowered cap applies to the next request", async () => {
  await admin.set({ scope: "key", subject: "s4", period: "daily", cap_usd: 10 });
  const gateway = await processLedger();
  try {
    const first = await gateway.ledger.reserve(["key:s4"], 0.5);
    assert.ok((await windowOf("key:s4")).reserved > 1, "a slice with headroom");
    await gateway.ledger.set({ scope: "key", subject: "s4", period: "daily", cap_usd: 0.6 });
    await assert.rejects(gateway.ledger.reserve(["key:s4"], 0.5), BudgetExceededError);
    const second = await gateway.ledger.reserve(["key:s4"], 0.1);
    await gateway.ledger.settle(first, ["key:s4"], 0.5);
    await gateway.ledger.settle(second, ["key:s4"], 0.1);
  } finally {
    await gateway.stop();
  }
  assert.deepEqual(await windowOf("key:s4"), { spent: 0.6, reserved: 0, holds: 0 });
});

test("a request charged to several budgets is admitted on a slice of each, and settles only to those that answered", async () => {
  await admin.set({ scope: "key", subject: "s5", period: "daily", cap_usd: 1 });
  await admin.set({ scope: "family", subject: "fam5", period: "monthly", cap_usd: 1 });
  await admin.set({ scope: "family", subject: "other5", period: "monthly", cap_usd: 1 });
  const gateway = await processLedger();
  try {
    const hold = await gateway.ledger.reserve(["key:s5", "family:fam5", "family:other5"], 0.05);
    assert.deepEqual(hold.windows.map((w) => w.budgetId).sort(), ["family:fam5", "family:other5", "key:s5"]);
    await gateway.ledger.settle(hold, ["key:s5", "family:fam5"], 0.02);
  } finally {
    await gateway.stop();
  }
  assert.equal((await windowOf("key:s5")).spent, 0.02);
  assert.equal((await windowOf("family:fam5")).spent, 0.02);
  assert.deepEqual(await windowOf("family:other5"), { spent: 0, reserved: 0, holds: 0 });
});
