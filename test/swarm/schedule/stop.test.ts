import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { SwarmScheduler } from "../../../workers/swarm/schedule/index.ts";
import { deploy, runsOf, scheduleDatabase, scheduledSwarm, ticksOf, waitFor } from "./helpers.ts";

// stop(): no timer is left (a process that stops its scheduler exits by itself), and a claim under
// way when stop() is called is finished before stop() resolves.

let db: Awaited<ReturnType<typeof scheduleDatabase>>;
let other: Sql;

before(async () => {
  db = await scheduleDatabase();
  other = openDatabase(db.url, { max: 2 });
});
after(async () => {
  await other?.end();
  await db?.close();
});

const FIXTURE = fileURLToPath(new URL("./fixtures/start-and-stop.ts", import.meta.url));

test("a process that stops its scheduler and closes its pool exits on its own", async () => {
  await deploy(db.sql, scheduledSwarm("exit-check", ["* * * * * *"]));
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    env: { ...process.env, SCHEDULE_TEST_DATABASE_URL: db.url },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  // Bounded: a timer left behind would keep the child alive, and the child is killed after the bound.
  const bound = setTimeout(() => child.kill("SIGKILL"), 40_000);
  const code = await exited.finally(() => clearTimeout(bound));
  await db.sql`DELETE FROM swarms WHERE name = 'exit-check'`;
  assert.equal(code, 0, `the child did not exit by itself (a timer or connection was left):\n${output}`);
  const counts = JSON.parse(/stopped (\{.*\})/.exec(output)?.[1] ?? "null") as { claimed: number; taken: number; timers: number } | null;
  assert.ok(counts && counts.claimed + counts.taken >= 1, output);
  assert.equal(counts.timers, 0, output);
});

test("stop() waits for the claim under way", async () => {
  await deploy(db.sql, scheduledSwarm("in-flight", ["* * * * * *"]));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  // Holds inserts into the ticks table, so the scheduler's claim waits in the middle of its transaction.
  const holding = other.begin(async (tx) => {
    await tx`LOCK TABLE swarm_schedule_ticks IN EXCLUSIVE MODE`;
    locked();
    await released;
  });
  await isLocked;
  // No refresh during the test: the held claim is a timer's, which only stop()'s own wait covers.
  const s = new SwarmScheduler(db.sql, { refreshMs: 60_000, log: () => {} });
  // Not awaited yet: start() resolves after any catch-up claim, which may be the one held here.
  const starting = s.start();
  await waitFor("a claim waiting on the lock", async () => {
    const [row] = await db.sql<{ waiting: number }[]>`
      SELECT count(*)::int AS waiting FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
      WHERE NOT l.granted AND c.relname = 'swarm_schedule_ticks'`;
    return row!.waiting > 0;
  }, 15_000);
  const stopping = s.stop();
  release();
  await holding;
  await starting;
  await stopping;
  assert.equal(s.counts.claimed, 1, JSON.stringify(s.counts));
  const ticks = await ticksOf(db.sql, "in-flight");
  const runs = await runsOf(db.sql, "in-flight");
  assert.equal(ticks.length, 1);
  assert.equal(runs.length, 1);
  assert.equal(ticks[0]!.run_id, runs[0]!.id);
});
