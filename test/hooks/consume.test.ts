import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { EventBus, natsUrlFrom, type EventStreamSpec } from "../../workers/events/index.ts";
import {
  RunRequestRelay, consumeRunRequests, ensureRunStream, requestRun, runRequestSubject,
  type ConsumeRunRequestsOptions, type ConsumeSummary, type RunRequestDelivery,
} from "../../workers/swarm/dispatch/index.ts";
import { loadedSwarm, testRunStream, waitFor } from "./helpers.ts";

// The workers' side of the hand-off: requestRun → outbox → relay → GODOTZ_RUNS-like work queue →
// consumeRunRequests, on real Postgres and NATS. Each test has a stream of its own.

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let bus: EventBus;
const streams: EventStreamSpec[] = [];
const swarm = loadedSwarm("consumed");

before(async () => {
  db = await freshDatabase("godotz_run_dispatch");
  sql = openDatabase(db.url, { max: 4 });
  await migrate(sql);
  bus = await EventBus.connect({ url: natsUrlFrom(), name: "godotz-dispatch-test", publishTimeoutMs: 2000 });
});
after(async () => {
  for (const s of streams) await bus?.jsm.streams.delete(s.name).catch(() => {});
  await bus?.close();
  await sql?.end();
  await db?.drop();
});

async function newStream(label: string): Promise<EventStreamSpec> {
  const stream = testRunStream(label);
  streams.push(stream);
  assert.equal(await ensureRunStream(bus.jsm, stream), "created");
  return stream;
}

/** Queues runs through requestRun and relays them into `stream`. */
async function queue(stream: EventStreamSpec, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await requestRun(sql, { loaded: swarm, input: `job ${i}`, trigger: "cli" })).runId);
  const report = await new RunRequestRelay(sql, bus, { stream }).relayOnce();
  assert.equal(report.failure, undefined);
  assert.equal(report.published, n);
  return ids;
}

/** Runs a consumer until `stop` aborts; its log lines are collected. */
function consumer(stream: EventStreamSpec, options: Partial<ConsumeRunRequestsOptions> & Pick<ConsumeRunRequestsOptions, "handler">) {
  const stop = new AbortController();
  const log: string[] = [];
  const done: Promise<ConsumeSummary> = consumeRunRequests(bus, { durable: "workers", stream, signal: stop.signal, pollMs: 1000, log: (l) => log.push(l), ...options });
  return { stop: () => (stop.abort(), done), done, log };
}

const streamMessages = async (stream: EventStreamSpec) => (await bus.jsm.streams.info(stream.name)).state.messages;

test("requestRun records the queued run and its outbox row together; the stream is ensured idempotently", async () => {
  const { runId } = await requestRun(sql, { loaded: swarm, input: "hello", trigger: "api" });
  assert.match(runId, /^run_[0-9a-z]{25}$/);
  const [run] = await sql`SELECT status, trigger, swarm, swarm_version, spec FROM swarm_runs WHERE id = ${runId}`;
  assert.deepEqual({ ...run, spec: undefined }, { status: "queued", trigger: "api", swarm: "consumed", swarm_version: "3", spec: undefined });
  assert.deepEqual(run!.spec, JSON.parse(JSON.stringify(swarm)));
  assert.equal((await sql`SELECT 1 FROM swarm_run_requests WHERE run_id = ${runId} AND published_at IS NULL`).length, 1);
  await assert.rejects(requestRun(sql, { loaded: swarm, input: "x", trigger: "email" as never }), /invalid run request: trigger: /);
  await assert.rejects(requestRun(sql, { loaded: { spec: { name: "", version: "1" } }, input: "x", trigger: "cli" }), /invalid run request: loaded\.spec\.name: /);
  await assert.rejects(requestRun(sql, { loaded: swarm, input: "a\u0000b", trigger: "cli" }), /input: must not contain NUL/);
  assert.equal((await sql`SELECT 1 FROM swarm_runs`).length, 1, "a refused request records nothing");

  const stream = await newStream("ensure");
  assert.equal(await ensureRunStream(bus.jsm, stream), "unchanged");
  assert.equal(await ensureRunStream(bus.jsm, { ...stream, maxBytes: stream.maxBytes / 2 }), "updated");
  assert.equal(await ensureRunStream(bus.jsm, stream), "updated");
  const info = await bus.jsm.streams.info(stream.name);
  assert.equal(info.config.retention, "workqueue");
  assert.equal(info.config.duplicate_window, stream.duplicateWindowMs * 1e6);
  const limits = testRunStream("limits");
  streams.push(limits);
  await bus.jsm.streams.add({ name: limits.name, subjects: [`${limits.subjectPrefix}.>`] });
  await assert.rejects(ensureRunStream(bus.jsm, limits), /exists with limits retention, not workqueue/);
  await new RunRequestRelay(sql, bus, { stream }).relayOnce(); // leave the outbox drained
});

test("several workers on one durable share the queue: each request is handled once", async () => {
  const stream = await newStream("share");
  const ids = await queue(stream, 6);
  const seen: string[] = [];
  const handler = async (r: RunRequestDelivery) => void seen.push(r.runId);
  const a = consumer(stream, { handler });
  const b = consumer(stream, { handler });
  await waitFor("all six requests", () => seen.length >= 6);
  await waitFor("the queue to be empty", async () => (await streamMessages(stream)) === 0);
  const [sa, sb] = await Promise.all([a.stop(), b.stop()]);
  assert.deepEqual([...seen].sort(), [...ids].sort());
  assert.equal(sa.handled + sb.handled, 6);
});

test("a handler that throws gets the request again, later, with a higher delivery count", async () => {
  const stream = await newStream("retry");
  const [id] = await queue(stream, 1);
  const deliveries: number[] = [];
  const c = consumer(stream, {
    retryDelayMs: 100,
    handler: async (r) => {
      deliveries.push(r.deliveries);
      if (r.deliveries === 1) throw new Error("model provider down");
    },
  });
  await waitFor("the second delivery to succeed", () => deliveries.length === 2);
  await waitFor("the queue to be empty", async () => (await streamMessages(stream)) === 0);
  const summary = await c.stop();
  assert.deepEqual(deliveries, [1, 2]);
  assert.deepEqual(summary, { handled: 1, retried: 1, terminated: 0 });
  assert.match(c.log.join("\n"), new RegExp(`run ${id}: handler failed \\(delivery 1\\), again in 100 ms: model provider down`));
});

test("a handler that keeps failing is given up after maxDeliveries, and the request leaves the queue", async () => {
  const stream = await newStream("giveup");
  const [id] = await queue(stream, 1);
  let calls = 0;
  const c = consumer(stream, { retryDelayMs: 50, maxDeliveries: 3, handler: async () => void (calls++, assert.fail("always broken")) });
  await waitFor("the request to be terminated", async () => (await streamMessages(stream)) === 0 && calls >= 3);
  const summary = await c.stop();
  assert.equal(calls, 3);
  assert.deepEqual(summary, { handled: 0, retried: 2, terminated: 1 });
  assert.match(c.log.at(-1) ?? "", new RegExp(`run ${id}: handler failed 3 times, giving up: always broken`));
});

test("malformed messages are terminated with a logged reason; the consumer goes on with the rest", async () => {
  const stream = await newStream("malformed");
  const subject = runRequestSubject(stream.subjectPrefix, "consumed");
  await bus.js.publish(subject, "not json", { msgID: "bad-1" });
  await bus.publish(subject, { run_id: "nope", swarm: "consumed", trigger: "cli", requested_at: new Date().toISOString() }, "bad-2");
  await bus.publish(runRequestSubject(stream.subjectPrefix, "elsewhere"), { run_id: "run_0123456789abcdef", swarm: "consumed", trigger: "cli", requested_at: new Date().toISOString() }, "bad-3");
  const [good] = await queue(stream, 1);
  const seen: string[] = [];
  const c = consumer(stream, { handler: async (r) => void seen.push(r.runId) });
  await waitFor("the good request and the empty queue", async () => seen.length === 1 && (await streamMessages(stream)) === 0);
  const summary = await c.stop();
  assert.deepEqual(seen, [good]);
  assert.deepEqual(summary, { handled: 1, retried: 0, terminated: 3 });
  assert.equal(c.log.length, 3);
  assert.match(c.log[0]!, /^terminated message \d+: not JSON$/);
  assert.match(c.log[1]!, /^terminated message \d+: run request is not a valid event: run_id: /);
  assert.match(c.log[2]!, /^terminated message \d+: request for swarm consumed arrived on .*\.elsewhere\.requested$/);
});

test("in-progress acks keep a long handler's request from being redelivered past the ack wait", async () => {
  const stream = await newStream("long");
  const [id] = await queue(stream, 1);
  const calls: RunRequestDelivery[] = [];
  let finished = false;
  // Three ack waits long, with room for a second handler: without in-progress acks the server
  // would hand the request out again after the first second.
  const c = consumer(stream, {
    ackWaitMs: 1000,
    concurrency: 2,
    handler: async (r) => {
      calls.push(r);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      finished = true;
    },
  });
  await waitFor("the long handler to finish", () => finished);
  await waitFor("the queue to be empty", async () => (await streamMessages(stream)) === 0);
  const summary = await c.stop();
  assert.deepEqual(calls.map((r) => [r.runId, r.deliveries]), [[id, 1]]);
  assert.deepEqual(summary, { handled: 1, retried: 0, terminated: 0 });
  const info = await bus.jsm.consumers.info(stream.name, "workers");
  assert.equal(info.num_redelivered, 0);
  assert.equal(info.config.ack_wait, 1000 * 1e6);
});

test("aborting returns only after the running handler finished, and its request is acknowledged", async () => {
  const stream = await newStream("abort");
  await queue(stream, 1);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started = false;
  const c = consumer(stream, { handler: async () => ((started = true), await gate) });
  await waitFor("the handler to start", () => started);
  let returned = false;
  const stopping = c.stop().then((s) => ((returned = true), s));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(returned, false, "still waiting for the handler");
  release();
  const summary = await stopping;
  assert.deepEqual(summary, { handled: 1, retried: 0, terminated: 0 });
  await waitFor("the queue to be empty", async () => (await streamMessages(stream)) === 0);
});
