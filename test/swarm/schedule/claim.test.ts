import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { InvalidRunRequestError } from "../../../workers/swarm/dispatch/index.ts";
import { claimTick, scheduleCrons, type ClaimOutcome } from "../../../workers/swarm/schedule/index.ts";
import { deploy, runsOf, scheduleDatabase, scheduledSwarm, ticksOf } from "./helpers.ts";

// claimTick against real Postgres: one run per tick however many claim it at once.

let db: Awaited<ReturnType<typeof scheduleDatabase>>;
let other: Sql;

before(async () => {
  db = await scheduleDatabase();
  other = openDatabase(db.url, { max: 4 }); // a second process's pool
});
after(async () => {
  await other?.end();
  await db?.close();
});

const CRON = "0 7 * * 1-5";
const TICK = new Date("2026-01-02T07:00:00Z");

test("many claims of one tick from two pools at once: exactly one run, the rest see it taken", async () => {
  await deploy(db.sql, scheduledSwarm("racer", [CRON], "4"));
  const claim = (sql: Sql) => claimTick(sql, { swarm: "racer", cron: CRON, tickAt: TICK, input: "scheduled run at 2026-01-02T07:00:00.000Z" });
  const outcomes: ClaimOutcome[] = await Promise.all(Array.from({ length: 16 }, (_, i) => claim(i % 2 ? other : db.sql)));
  const claimed = outcomes.filter((o) => o.outcome === "claimed");
  assert.equal(claimed.length, 1, JSON.stringify(outcomes));
  assert.equal(outcomes.filter((o) => o.outcome === "taken").length, 15);

  const runs = await runsOf(db.sql, "racer");
  assert.equal(runs.length, 1);
  const run = runs[0]!;
  assert.deepEqual(
    { id: run.id, version: run.swarm_version, input: run.input, trigger: run.trigger, status: run.status },
    { id: (claimed[0] as { runId: string }).runId, version: "4", input: "scheduled run at 2026-01-02T07:00:00.000Z", trigger: "schedule", status: "queued" },
  );
  assert.deepEqual(await ticksOf(db.sql, "racer"), [{ swarm: "racer", cron: CRON, tick_at: TICK, run_id: run.id }]);
  const [request] = await db.sql<{ payload: { run_id: string; trigger: string } }[]>`SELECT payload FROM swarm_run_requests WHERE run_id = ${run.id}`;
  assert.equal(request?.payload.trigger, "schedule", "the run is handed to the workers through the outbox");

  // The next tick is a new run; the same tick again is not.
  const next = await claim(db.sql);
  assert.equal(next.outcome, "taken");
  const later = await claimTick(other, { swarm: "racer", cron: CRON, tickAt: new Date("2026-01-05T07:00:00Z"), input: "later" });
  assert.equal(later.outcome, "claimed");
  assert.equal((await runsOf(db.sql, "racer")).length, 2);
});

test("a swarm not deployed, or deployed without that schedule, gets no run and no tick row", async () => {
  assert.deepEqual(await claimTick(db.sql, { swarm: "nobody", cron: CRON, tickAt: TICK, input: "x" }), { outcome: "gone" });
  await deploy(db.sql, scheduledSwarm("moved", ["*/5 * * * *"]));
  assert.deepEqual(await claimTick(db.sql, { swarm: "moved", cron: CRON, tickAt: TICK, input: "x" }), { outcome: "gone" });
  await deploy(db.sql, scheduledSwarm("moved", []));
  assert.deepEqual(await claimTick(db.sql, { swarm: "moved", cron: "*/5 * * * *", tickAt: TICK, input: "x" }), { outcome: "gone" });
  assert.deepEqual(await ticksOf(db.sql, "moved"), []);
  assert.deepEqual(await runsOf(db.sql, "moved"), []);
  assert.deepEqual(await ticksOf(db.sql, "nobody"), []);
});

test("a run request that fails rolls the tick back, so the tick can still be claimed", async () => {
  await deploy(db.sql, scheduledSwarm("fragile", [CRON]));
  await assert.rejects(claimTick(db.sql, { swarm: "fragile", cron: CRON, tickAt: TICK, input: "bad\u0000input" }), InvalidRunRequestError);
  assert.deepEqual(await ticksOf(db.sql, "fragile"), []);
  assert.deepEqual(await runsOf(db.sql, "fragile"), []);
  assert.equal((await claimTick(db.sql, { swarm: "fragile", cron: CRON, tickAt: TICK, input: "good" })).outcome, "claimed");
});

test("scheduleCrons reads deployed rows defensively: only well-formed schedule triggers, each once", () => {
  assert.deepEqual(scheduleCrons(scheduledSwarm("a", ["0 7 * * *", "*/5 * * * *", "0 7 * * *"])), ["0 7 * * *", "*/5 * * * *"]);
  for (const junk of [null, 7, "x", {}, { spec: null }, { spec: { triggers: "nope" } }, { spec: { triggers: [{ schedule: { cron: 5 } }, { schedule: {} }, { cron: "0 7 * * *" }, null] } }]) {
    assert.deepEqual(scheduleCrons(junk), [], JSON.stringify(junk));
  }
});
