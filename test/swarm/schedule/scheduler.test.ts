import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { SwarmScheduler } from "../../../workers/swarm/schedule/index.ts";
import { deploy, runsOf, scheduleDatabase, scheduledSwarm, ticksOf, waitFor } from "./helpers.ts";

// SwarmScheduler in real time with per-second schedules (six fields), several schedulers on one
// database as several worker processes would be. Each test removes its swarms when done, so the
// next test's schedulers do not follow them.

let db: Awaited<ReturnType<typeof scheduleDatabase>>;
let other: Sql;
const schedulers: SwarmScheduler[] = [];
const logs: string[] = [];

before(async () => {
  db = await scheduleDatabase();
  other = openDatabase(db.url, { max: 4 });
});
after(async () => {
  await Promise.all(schedulers.map((s) => s.stop()));
  await other?.end();
  await db?.close();
});

function scheduler(sql: Sql, refreshMs = 200): SwarmScheduler {
  const s = new SwarmScheduler(sql, { refreshMs, log: (line) => logs.push(line) });
  schedulers.push(s);
  return s;
}

async function undeploy(...names: string[]): Promise<void> {
  await db.sql`DELETE FROM swarms WHERE name IN ${db.sql(names)}`;
}

/** Every tick has its run, every scheduled run its tick, and no tick twice. */
async function assertOneRunPerTick(swarm: string): Promise<number> {
  const ticks = await ticksOf(db.sql, swarm);
  const runs = await runsOf(db.sql, swarm);
  assert.equal(runs.length, ticks.length, `${swarm}: ${runs.length} runs for ${ticks.length} ticks`);
  assert.deepEqual(new Set(ticks.map((t) => t.run_id)), new Set(runs.map((r) => r.id)));
  assert.equal(new Set(ticks.map((t) => `${t.cron}@${t.tick_at.toISOString()}`)).size, ticks.length);
  for (const run of runs) {
    assert.equal(run.trigger, "schedule");
    const tick = ticks.find((t) => t.run_id === run.id)!;
    assert.equal(run.input, `scheduled run at ${tick.tick_at.toISOString()}`);
  }
  return ticks.length;
}

test("two schedulers on one database: every tick gives exactly one run", async () => {
  await deploy(db.sql, scheduledSwarm("every-second", ["* * * * * *"]));
  const a = scheduler(db.sql);
  const b = scheduler(other);
  await Promise.all([a.start(), b.start()]);
  assert.deepEqual(a.list().map((s) => [s.swarm, s.cron]), [["every-second", "* * * * * *"]]);
  assert.ok(a.list()[0]!.next instanceof Date);
  await waitFor("4 ticks claimed", async () => (await ticksOf(db.sql, "every-second")).length >= 4, 15_000);
  await Promise.all([a.stop(), b.stop()]);
  const ticks = await assertOneRunPerTick("every-second");
  assert.equal(a.counts.claimed + b.counts.claimed, ticks, JSON.stringify([a.counts, b.counts]));
  assert.equal(a.counts.failed + b.counts.failed, 0, logs.join("\n"));
  // Both were trying: a tick one of them won, the other found taken.
  assert.ok(a.counts.taken + b.counts.taken >= 1, JSON.stringify([a.counts, b.counts]));
  // Stopped: no tick is claimed any more (a third scheduler proves time went on).
  const witness = scheduler(db.sql);
  await witness.start();
  await waitFor("a tick claimed after the stop", () => witness.counts.claimed >= 2, 15_000);
  await witness.stop();
  assert.equal(a.counts.claimed + b.counts.claimed, ticks);
  await assertOneRunPerTick("every-second");
  await undeploy("every-second");
});

test("a swarm deployed while the scheduler runs is picked up at the next refresh", async () => {
  const s = scheduler(db.sql, 150);
  await s.start();
  assert.deepEqual(s.list(), []);
  await deploy(db.sql, scheduledSwarm("late-comer", ["*/2 * * * * *"], "2"));
  await waitFor("the new schedule followed", () => s.list().some((l) => l.swarm === "late-comer"));
  const [run] = await waitFor("a run of the new swarm", async () => (await runsOf(db.sql, "late-comer"))[0] && runsOf(db.sql, "late-comer"), 15_000);
  assert.equal(run!.swarm_version, "2");
  const [tick] = await ticksOf(db.sql, "late-comer");
  assert.equal(tick!.tick_at.getUTCSeconds() % 2, 0, "ticks follow the expression");
  await s.stop();
  await assertOneRunPerTick("late-comer");
  await undeploy("late-comer");
});

test("a changed schedule follows the new expression only; a removed one stops", async () => {
  await deploy(db.sql, scheduledSwarm("shifty", ["* * * * * *"]), scheduledSwarm("steady", ["* * * * * *"]), scheduledSwarm("doomed", ["* * * * * *"]));
  const s = scheduler(db.sql, 150);
  await s.start();
  await waitFor("ticks of all three", async () => {
    for (const name of ["shifty", "steady", "doomed"]) if ((await ticksOf(db.sql, name)).length === 0) return false;
    return true;
  }, 15_000);

  await deploy(db.sql, scheduledSwarm("shifty", ["*/2 * * * * *"]), scheduledSwarm("doomed", []));
  await waitFor("the refresh to see the deploy", () => {
    const followed = s.list().map((l) => `${l.swarm} ${l.cron}`).sort();
    return JSON.stringify(followed) === JSON.stringify(["shifty */2 * * * * *", "steady * * * * * *"]);
  });
  // From here on claimTick refuses the old schedules, whatever is in flight.
  const oldShifty = (await ticksOf(db.sql, "shifty")).filter((t) => t.cron === "* * * * * *").length;
  const doomed = (await ticksOf(db.sql, "doomed")).length;
  const steady = (await ticksOf(db.sql, "steady")).length;
  await waitFor("three more ticks of the steady swarm", async () => (await ticksOf(db.sql, "steady")).length >= steady + 3, 15_000);
  await waitFor("a tick of the new expression", async () => (await ticksOf(db.sql, "shifty")).some((t) => t.cron === "*/2 * * * * *"), 15_000);
  await s.stop();

  const shiftyTicks = await ticksOf(db.sql, "shifty");
  assert.equal(shiftyTicks.filter((t) => t.cron === "* * * * * *").length, oldShifty, "no tick of the old expression after the change");
  for (const t of shiftyTicks.filter((t) => t.cron === "*/2 * * * * *")) assert.equal(t.tick_at.getUTCSeconds() % 2, 0);
  assert.equal((await ticksOf(db.sql, "doomed")).length, doomed, "no tick after the schedule was removed");
  assert.ok(logs.some((l) => l.includes('doomed: no longer scheduled at "* * * * * *"')), logs.join("\n"));
  for (const name of ["shifty", "steady", "doomed"]) await assertOneRunPerTick(name);
  await undeploy("shifty", "steady", "doomed");
});

test("bad deployed rows are logged and skipped; the other schedules keep running", async () => {
  // Deployed before validation refused such expressions, or written by hand: never a crash.
  await deploy(db.sql, scheduledSwarm("bad-cron", ["61 * * * * *"]), scheduledSwarm("good", ["* * * * * *"]));
  await db.sql`INSERT INTO swarms (name, version, spec) VALUES
    ('no-version', '1', ${db.sql.json({ spec: { name: "no-version", triggers: [{ schedule: { cron: "* * * * * *" } }] } })}),
    ('odd-trigger', '1', ${db.sql.json({ spec: { name: "odd-trigger", version: "1", triggers: [{ schedule: { cron: 5 } }, { schedule: {} }] } })})`;
  const s = scheduler(db.sql, 150);
  await s.start();
  assert.deepEqual(s.list().map((l) => l.swarm).sort(), ["good", "no-version"]);
  await waitFor("runs of the good swarm", async () => (await runsOf(db.sql, "good")).length >= 2, 15_000);
  // no-version cannot make a valid run request: each try fails and is rolled back, nothing half-made.
  await waitFor("the broken request logged", () => logs.some((l) => /no-version: requesting the run for .* failed: invalid run request/.test(l)), 15_000);
  await s.stop();
  assert.ok(s.counts.failed >= 1);
  assert.deepEqual(await ticksOf(db.sql, "no-version"), []);
  assert.deepEqual(await runsOf(db.sql, "no-version"), []);
  assert.equal(logs.filter((l) => l.includes("bad-cron: schedule ignored: invalid cron")).length, 1, "said once, not at every refresh");
  assert.deepEqual(await runsOf(db.sql, "bad-cron"), []);
  await assertOneRunPerTick("good");
  await undeploy("bad-cron", "good", "no-version", "odd-trigger");
});

test("start twice is refused; a scheduler whose database is unreachable fails to start and leaves nothing running", async () => {
  const s = scheduler(db.sql);
  await s.start();
  await assert.rejects(s.start(), /starts once/);
  await s.stop();
  const nowhere = openDatabase("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  try {
    const lost = scheduler(nowhere);
    await assert.rejects(lost.start(), /ECONNREFUSED|connect/);
    assert.deepEqual(lost.list(), []);
  } finally {
    await nowhere.end();
  }
});
