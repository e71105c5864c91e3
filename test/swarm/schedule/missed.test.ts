import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SwarmScheduler, type SwarmSchedulerOptions } from "../../../workers/swarm/schedule/index.ts";
import { deploy, runsOf, scheduleDatabase, scheduledSwarm, ticksOf } from "./helpers.ts";

// Missed ticks, with an injected clock: a tick missed while no worker ran gets one catch-up run if
// it is the latest tick, at most `graceMs` old and not older than the swarm's deploy; never a burst.
// start() and refresh() resolve once due ticks are claimed, so no test waits for a timer.

let db: Awaited<ReturnType<typeof scheduleDatabase>>;
const started: SwarmScheduler[] = [];
const logs: string[] = [];

before(async () => {
  db = await scheduleDatabase();
});
after(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await db?.close();
});

const DAILY = "0 7 * * *";

/** Deploys `name` with the daily 07:00 schedule, as if deployed at `deployedAt`. */
async function deployedAt(name: string, at: string): Promise<void> {
  await deploy(db.sql, scheduledSwarm(name, [DAILY]));
  await db.sql`UPDATE swarms SET deployed_at = ${new Date(at)} WHERE name = ${name}`;
}

async function startAt(clock: { now: number }, options: SwarmSchedulerOptions = {}): Promise<SwarmScheduler> {
  const s = new SwarmScheduler(db.sql, { now: () => clock.now, log: (line) => logs.push(line), ...options });
  started.push(s);
  await s.start();
  return s;
}

async function tickTimes(name: string): Promise<string[]> {
  return (await ticksOf(db.sql, name)).map((t) => t.tick_at.toISOString());
}

async function undeploy(name: string): Promise<void> {
  await db.sql`DELETE FROM swarms WHERE name = ${name}`;
}

test("a worker starting 3 minutes after a missed tick runs it once; days missed before that are skipped", async () => {
  await deployedAt("catch-up", "2026-03-01T00:00:00Z");
  const clock = { now: Date.parse("2026-03-05T07:03:00Z") };
  const first = await startAt(clock);
  assert.deepEqual(await tickTimes("catch-up"), ["2026-03-05T07:00:00.000Z"]);
  const [run] = await runsOf(db.sql, "catch-up");
  assert.equal(run?.input, "scheduled run at 2026-03-05T07:00:00.000Z");
  assert.equal(run?.trigger, "schedule");
  assert.deepEqual(first.counts, { claimed: 1, taken: 0, failed: 0 });

  // A second worker starting then, and the first refreshing: the tick is not run again.
  const second = await startAt(clock);
  assert.deepEqual(second.counts, { claimed: 0, taken: 1, failed: 0 });
  await first.refresh();
  assert.deepEqual(first.counts, { claimed: 1, taken: 0, failed: 0 }, "a tick is tried once per process");
  assert.equal((await runsOf(db.sql, "catch-up")).length, 1);
  await Promise.all([first.stop(), second.stop()]);
  await undeploy("catch-up");
});

test("a tick older than the grace window is skipped; a longer grace takes it", async () => {
  await deployedAt("too-late", "2026-03-01T00:00:00Z");
  const clock = { now: Date.parse("2026-03-06T07:10:01Z") };
  const late = await startAt(clock); // default grace: 10 minutes
  assert.deepEqual(late.counts, { claimed: 0, taken: 0, failed: 0 });
  assert.deepEqual(await tickTimes("too-late"), []);
  clock.now = Date.parse("2026-03-06T07:10:00Z"); // exactly 10 minutes: still within grace
  await late.refresh();
  assert.deepEqual(await tickTimes("too-late"), ["2026-03-06T07:00:00.000Z"]);
  await late.stop();

  await deployedAt("slow-ok", "2026-03-01T00:00:00Z");
  const patient = await startAt({ now: Date.parse("2026-03-06T07:40:00Z") }, { graceMs: 60 * 60_000 });
  assert.deepEqual(await tickTimes("slow-ok"), ["2026-03-06T07:00:00.000Z"]);
  const strict = await startAt({ now: Date.parse("2026-03-07T07:00:01Z") }, { graceMs: 0 });
  assert.deepEqual(await tickTimes("slow-ok"), ["2026-03-06T07:00:00.000Z"], "grace 0: only a tick claimed on time");
  await Promise.all([patient.stop(), strict.stop()]);
  await undeploy("too-late");
  await undeploy("slow-ok");
});

test("a tick from before the swarm's deploy is never caught up; one exactly on time is run", async () => {
  await deployedAt("fresh", "2026-03-05T07:01:00Z");
  const s = await startAt({ now: Date.parse("2026-03-05T07:03:00Z") });
  assert.deepEqual(await tickTimes("fresh"), []);
  await s.stop();
  const clock = { now: Date.parse("2026-03-06T07:00:00Z") };
  const onTime = await startAt(clock);
  assert.deepEqual(await tickTimes("fresh"), ["2026-03-06T07:00:00.000Z"]);
  // A running scheduler follows the same rule: redeployed after a tick it has not claimed yet.
  await db.sql`UPDATE swarms SET deployed_at = ${new Date("2026-03-07T07:00:30Z")} WHERE name = 'fresh'`;
  clock.now = Date.parse("2026-03-07T07:01:00Z");
  await onTime.refresh();
  assert.deepEqual(await tickTimes("fresh"), ["2026-03-06T07:00:00.000Z"]);
  clock.now = Date.parse("2026-03-08T07:01:00Z");
  await onTime.refresh();
  assert.deepEqual(await tickTimes("fresh"), ["2026-03-06T07:00:00.000Z", "2026-03-08T07:00:00.000Z"]);
  await onTime.stop();
  await undeploy("fresh");
});

test("after a long stall only the latest tick runs: never a burst of the ticks in between", async () => {
  await deployedAt("stalled", "2026-03-01T00:00:00Z");
  const clock = { now: Date.parse("2026-03-10T06:00:00Z") };
  const s = await startAt(clock);
  assert.deepEqual(await tickTimes("stalled"), [], "the latest tick (the day before) is far past grace");
  clock.now = Date.parse("2026-03-10T07:00:02Z");
  await s.refresh();
  clock.now = Date.parse("2026-03-14T07:05:00Z"); // the process slept through 3 ticks
  await s.refresh();
  await s.refresh();
  assert.deepEqual(await tickTimes("stalled"), ["2026-03-10T07:00:00.000Z", "2026-03-14T07:00:00.000Z"]);
  assert.equal((await runsOf(db.sql, "stalled")).length, 2);
  assert.deepEqual(s.counts, { claimed: 2, taken: 0, failed: 0 });
  await s.stop();
  await undeploy("stalled");
});
