import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { migrate } from "../../../shared/db/migrate.ts";
import { requestRun } from "../../../workers/swarm/dispatch/request.ts";
import { durableStep, RunStopped, type RunContext, type StepBoundary } from "../../../workers/swarm/runtime/steps.ts";
import { discardPrepared, settlePrepared } from "../../../workers/swarm/runtime/step-tasks.ts";
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

// Steps opened ahead: the step that closes opens the ones its caller names as next, in its own
// transaction, and the next step takes that opening instead of opening on its own.
const second = { path: "1", agent: "beta", title: "beta: work" };
const withPrepared = async (boundary?: StepBoundary): Promise<RunContext> => ({ ...(await context(boundary)), prepared: new Map() });
const statementsOf = (ctx: RunContext) => {
  let sent = 0;
  const reserve = ctx.sql.reserve.bind(ctx.sql);
  // Counts the connections the steps reserve: one per transaction sent in one round trip.
  const sql = new Proxy(ctx.sql, { get: (target, key) => (key === "reserve" ? () => (sent++, reserve()) : Reflect.get(target, key)) });
  return { ctx: { ...ctx, sql }, sent: () => sent };
};

test("a step opens the step named next in the transaction that closes it; that step takes the opening and sends no transaction of its own", async () => {
  const base = await withPrepared();
  const { ctx, sent } = statementsOf(base);
  assert.equal((await durableStep(ctx, info, answer, () => [second])).ok, true);
  // The close and the opening are under way when the step returns; the next step awaits them.
  await settlePrepared(ctx.prepared!);
  assert.deepEqual(await written(ctx.runId), { tasks: ["closed", "in_progress"], events: ["created", "started", "completed", "created", "started"] });
  assert.equal(sent(), 2, "the first step's opening, then its close with the next step's opening");
  assert.equal((await durableStep(ctx, second, answer)).ok, true);
  assert.equal(sent(), 2, "the second step opened nothing itself, and closed in one statement");
  assert.equal(ctx.prepared!.size, 0);
  assert.deepEqual(await written(ctx.runId), { tasks: ["closed", "closed"], events: ["created", "started", "completed", "created", "started", "completed"] });
});

test("when a step returns, the transaction that closes it and opens the next is all on the socket, its COMMIT included", async () => {
  // postgres.js writes a short tail (the COMMIT) in a setImmediate; LangGraph's work after the step
  // must not hold it back, since the next step waits for this transaction's answer.
  const ctx = await withPrepared();
  const port = Number(new URL(db.url).port || 5432);
  let bytes = 0;
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, ...args: Parameters<typeof write>) {
    if (this.remotePort === port) bytes += (args[0] as Buffer).length;
    return write.apply(this, args);
  } as typeof write;
  try {
    assert.equal((await durableStep(ctx, info, answer, () => [second])).ok, true);
    const atReturn = bytes;
    await settlePrepared(ctx.prepared!);
    assert.equal(bytes, atReturn, "nothing of the transaction was written after the step returned");
  } finally {
    net.Socket.prototype.write = write;
  }
  assert.deepEqual((await written(ctx.runId)).tasks, ["closed", "in_progress"]);
});

test("a stop seen when the next step opens ahead keeps this step's close and stops the next step when it begins, writing nothing of it", async () => {
  const base = await withPrepared();
  // Says stop once this run has a closed step: so only the opening made ahead sees it.
  const ctx = { ...base, boundary: { query: (s: Sql) => s`SELECT CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE run_id = ${base.runId} AND status = 'closed') THEN 'cancelled' END AS stop`, verdict: () => new RunStopped("cancelled", "cancelled by request") } };
  assert.equal((await durableStep(ctx, info, answer, () => [second])).ok, true);
  await settlePrepared(ctx.prepared!);
  assert.deepEqual(await written(ctx.runId), { tasks: ["closed"], events: ["created", "started", "completed"] });
  await assert.rejects(durableStep(ctx, second, () => assert.fail("a stopped step must not work")), RunStopped);
});

test("a failure in the transaction that closes a step and opens the next rolls both back: the step stays in progress for the resumed run", async () => {
  // random() keeps Postgres from folding the division at plan time, so it fails only once a step is closed.
  const base = await withPrepared();
  const ctx = { ...base, boundary: { query: (s: Sql) => s`SELECT CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE run_id = ${base.runId} AND status = 'closed') THEN (1 / floor(random())::int)::text END AS stop`, verdict: () => new RunStopped("cancelled", "unused") } };
  // The step returns before its close is answered; the next step sees the failure when it takes its opening.
  assert.equal((await durableStep(ctx, info, answer, () => [second])).ok, true);
  await assert.rejects(durableStep(ctx, second, () => assert.fail("must not work")), /division by zero/);
  assert.deepEqual(await written(ctx.runId), { tasks: ["in_progress"], events: ["created", "started"] });
  assert.equal(ctx.prepared!.size, 0);
});

test("a draining worker opens nothing ahead; a step opened ahead and left by a drain is taken by the resumed run", async () => {
  const base = await withPrepared();
  let draining = false;
  const ctx = { ...base, beforeStep: async () => { if (draining) throw new RunStopped("drain", "the worker is stopping"); } };
  // The drain begins while the step works: the step finishes and closes, and nothing opens ahead.
  const drainMidStep = async () => ((draining = true), answer());
  assert.equal((await durableStep(ctx, info, drainMidStep, () => [second])).ok, true);
  assert.deepEqual((await written(ctx.runId)).tasks, ["closed"]);
  assert.equal(ctx.prepared!.size, 0);

  // Opened ahead, then the worker drains before the step begins: the resumed run (a new context, nothing prepared) works it.
  draining = false;
  const third = { path: "2", agent: "gamma", title: "gamma: work" };
  assert.equal((await durableStep(ctx, second, answer, () => [third])).ok, true);
  draining = true;
  await assert.rejects(durableStep(ctx, third, () => assert.fail("a drained step must not work")), RunStopped);
  await settlePrepared(ctx.prepared!); // as the executor does before it lets the run go
  const resumed = { ...base, prepared: new Map() as RunContext["prepared"] };
  const result = await durableStep(resumed, third, async () => ({ output: "resumed", tokens: 1, cost_usd: 0 }));
  assert.deepEqual([result.ok, result.ok && result.output], [true, "resumed"]);
  assert.deepEqual((await written(ctx.runId)).tasks, ["closed", "closed", "closed"]);
});

test("an opening made ahead that no step takes is cancelled when the run ends", async () => {
  const ctx = await withPrepared();
  assert.equal((await durableStep(ctx, info, answer, () => [second])).ok, true);
  await discardPrepared(ctx);
  assert.deepEqual((await written(ctx.runId)).tasks.sort(), ["cancelled", "closed"]);
  assert.equal(ctx.prepared!.size, 0);
});

test("several steps named next (a fan-out) are opened ahead together, each taken by its own step", async () => {
  const ctx = await withPrepared();
  const branches = ["1.a", "1.b", "1.c"].map((path) => ({ path, agent: path.slice(2), title: `${path}: work` }));
  assert.equal((await durableStep(ctx, info, answer, () => branches)).ok, true);
  assert.equal(ctx.prepared!.size, 3);
  const results = await Promise.all(branches.map((b) => durableStep(ctx, b, answer)));
  assert.ok(results.every((r) => r.ok));
  assert.deepEqual((await written(ctx.runId)).tasks, ["closed", "closed", "closed", "closed"]);
});
