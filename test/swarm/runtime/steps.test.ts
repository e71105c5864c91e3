import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { migrate } from "../../../shared/db/migrate.ts";
import { requestRun } from "../../../workers/swarm/dispatch/request.ts";
import { durableStep, RunStopped, type RunContext, type StepBoundary } from "../../../workers/swarm/runtime/steps.ts";
import { TaskStore } from "../../../workers/tasks/store.ts";
import { freshDatabase } from "../../helpers/db.ts";

// durableStep against the database alone: the work is a function here, no model is called.

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;

before(async () => {
  db = await freshDatabase("godotz_steps");
  sql = openDatabase(db.url, { max: 1 }); // one connection: a transaction left open would show at once
  await migrate(sql);
});
after(async () => {
  await sql.end();
  await db.drop();
});

async function context(boundary?: StepBoundary): Promise<RunContext> {
  const { runId } = await requestRun(sql, { loaded: { spec: { name: "steps", version: "1" } }, input: "x", trigger: "api" });
  return { sql, tasks: new TaskStore(sql), gateway: { url: "http://127.0.0.1:9", key: "k" }, runId, swarm: "steps", claimer: `run:${runId}`, signal: new AbortController().signal, boundary };
}
const info = { path: "0", agent: "alpha", title: "alpha: work" };
const answer = async () => ({ output: "done", model: "m", tokens: 3, cost_usd: 0.01 });
const written = async (runId: string) => ({
  tasks: (await sql<{ status: string }[]>`SELECT status FROM tasks WHERE run_id = ${runId}`).map((r) => r.status),
  events: (await sql<{ type: string }[]>`SELECT payload->>'type' AS type FROM run_events WHERE run_id = ${runId} ORDER BY seq`).map((r) => r.type),
});

test("a step opens, runs and closes with its events; run again, it hands back its stored result without working", async () => {
  const ctx = await context();
  assert.deepEqual(await durableStep(ctx, info, answer), { ok: true, output: "done", model: "m", tokens: 3, cost_usd: 0.01 });
  assert.deepEqual(await written(ctx.runId), { tasks: ["closed"], events: ["created", "started", "completed"] });
  const replayed = await durableStep(ctx, info, () => assert.fail("a finished step must not work again"));
  assert.deepEqual([replayed.ok, replayed.ok && replayed.output], [true, "done"]);
  assert.deepEqual((await written(ctx.runId)).events, ["created", "started", "completed"], "a replay writes no events");
});

test("a step whose task is still in progress for the run (a crash mid-step) is worked again and says started again", async () => {
  const ctx = await context();
  await assert.rejects(durableStep(ctx, info, () => Promise.reject(new Error("the worker died"))), /the worker died/);
  assert.deepEqual(await written(ctx.runId), { tasks: ["in_progress"], events: ["created", "started"] });
  assert.equal((await durableStep(ctx, info, answer)).ok, true);
  assert.deepEqual(await written(ctx.runId), { tasks: ["closed"], events: ["created", "started", "started", "completed"] });
});

test("a boundary that says stop throws its RunStopped and writes nothing of the step", async () => {
  const ctx = await context({ query: (s) => s`SELECT 'cancelled'::text AS stop`, verdict: () => new RunStopped("cancelled", "cancelled by request") });
  await assert.rejects(durableStep(ctx, info, () => assert.fail("a stopped step must not work")), RunStopped);
  assert.deepEqual(await written(ctx.runId), { tasks: [], events: [] });
});

test("a failing statement in the opening transaction rolls it all back, is thrown, and leaves the connection usable", async () => {
  const ctx = await context({ query: (s) => s`SELECT (1 / 0)::text AS stop`, verdict: () => new RunStopped("cancelled", "unused") });
  await assert.rejects(durableStep(ctx, info, () => assert.fail("must not work")), /division by zero/);
  assert.deepEqual(await written(ctx.runId), { tasks: [], events: [] });
  // The pool's one connection is not left in the aborted transaction: the next step goes through.
  assert.equal((await durableStep(await context(), info, answer)).ok, true);
});
