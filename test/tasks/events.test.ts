import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TaskStore, TaskEventRelay } from "../../workers/tasks/index.ts";
import {
  EventBus, TASK_EVENT_STREAM, natsUrlFrom, taskEvent, taskEventSink, subjectToken,
  type EventStreamSpec, type Received, type TaskEvent, type TaskEventSink,
} from "../../workers/events/index.ts";

// Real Postgres and the real NATS server on loopback; a stream and subject prefix of our own,
// deleted at the end, so parallel runs and the real GODOTZ_TASKS stream never meet.
const run = `${process.pid}${Math.random().toString(36).slice(2, 7)}`;
const spec: EventStreamSpec = { ...TASK_EVENT_STREAM, name: `GODOTZ_TASKS_TEST_${run}`, subjectPrefix: `godotz.test${run}.tasks`, maxAgeMs: 600_000 };

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let store: TaskStore;
let bus: EventBus;
let sink: TaskEventSink;
let relay: TaskEventRelay;

before(async () => {
  db = await freshDatabase("godotz_task_events");
  sql = openDatabase(db.url, { max: 4 });
  await migrate(sql);
  store = new TaskStore(sql);
  bus = await EventBus.connect({ url: natsUrlFrom(), name: "godotz-test", publishTimeoutMs: 2000 });
  assert.equal(await bus.ensureStream(spec), "created");
  sink = taskEventSink(bus, spec);
  relay = new TaskEventRelay(sql, sink);
});
after(async () => {
  await bus?.jsm.streams.delete(spec.name).catch(() => {});
  await bus?.close();
  await sql?.end();
  await db?.drop();
});

const make = async (title: string, swarm: string, extra: Omit<Parameters<TaskStore["create"]>[0], "title" | "swarm"> = {}) =>
  (await store.create({ title, swarm, ...extra })).task;
const inStream = (swarm: string) => bus.read({ stream: spec.name, filter: `${spec.subjectPrefix}.${subjectToken(swarm)}.>`, schema: taskEvent });
const brief = (r: Received<TaskEvent>) => `${r.event.task_id} ${r.event.type} ${r.event.attempts}`;
const pending = async () => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE published_at IS NULL AND refused_at IS NULL`)[0]!.n;

test("the stream is ensured idempotently, and brought back to the spec when its limits differ", async () => {
  assert.equal(await bus.ensureStream(spec), "unchanged");
  assert.equal(await bus.ensureStream({ ...spec, maxAgeMs: 1_200_000 }), "updated");
  assert.equal((await bus.jsm.streams.info(spec.name)).config.max_age, 1_200_000 * 1e6);
  assert.equal(await bus.ensureStream(spec), "updated");
  const info = await bus.jsm.streams.info(spec.name);
  assert.deepEqual(info.config.subjects, [`${spec.subjectPrefix}.>`]);
  assert.equal(info.config.max_age, spec.maxAgeMs * 1e6);
  assert.equal(info.config.max_bytes, spec.maxBytes);
  assert.equal(info.config.duplicate_window, spec.duplicateWindowMs * 1e6);
});

test("a task's life emits exactly its events, in order, on per-task subjects", async () => {
  const swarm = "life";
  const done = await make("done", swarm, { run_id: "run-1" });
  await store.claimTask(done.id, { worker: "w1" });
  await store.complete(done.id, "w1", { answer: 42 });

  const flaky = await make("flaky", swarm);
  await store.claimTask(flaky.id, { worker: "w1" });
  await store.fail(flaky.id, "w1", "tool crashed");
  await store.retry(flaky.id);
  await store.claimTask(flaky.id, { worker: "w2" });
  await store.complete(flaky.id, "w2");

  const report = await relay.relayOnce();
  assert.equal(report.failure, undefined);
  assert.deepEqual(report.refused, []);
  assert.equal(report.published, 9);

  const got = await inStream(swarm);
  assert.deepEqual(got.map(brief), [
    `${done.id} created 0`, `${done.id} started 1`, `${done.id} completed 1`,
    `${flaky.id} created 0`, `${flaky.id} started 1`, `${flaky.id} failed 1`, `${flaky.id} reopened 1`,
    `${flaky.id} started 2`, `${flaky.id} completed 2`,
  ]);
  const [created, started, completed] = got;
  assert.equal(created?.subject, `${spec.subjectPrefix}.life.${done.id}.created`);
  assert.deepEqual(
    { ...completed!.event, at: undefined },
    { type: "completed", task_id: done.id, swarm, run_id: "run-1", status: "closed", attempts: 1, at: undefined, worker: "w1", result_summary: '{"answer": 42}' },
  );
  assert.equal(started?.event.worker, "w1");
  assert.ok(Date.parse(created!.event.at) <= Date.parse(started!.event.at));
  assert.equal(got[5]?.event.reason, "tool crashed");
  assert.equal(got[6]?.event.reason, "retry");
  assert.equal(got[6]?.event.status, "open");
  assert.match(got[0]!.msgID ?? "", new RegExp(`^${done.id}:created:0:\\d+$`));
  assert.equal(new Set(got.map((r) => r.msgID)).size, got.length, "every event has its own message id");
});

test("close, cancel cascades and lease expiry each emit their event; unchanged states emit none", async () => {
  const swarm = "ends";
  const root = await make("root", swarm);
  const child = await make("child", swarm, { dependencies: [{ type: "parent-child", depends_on_id: root.id }] });
  const next = await make("next", swarm, { dependencies: [{ type: "blocks", depends_on_id: root.id }] });
  const finished = await make("finished", swarm, { dependencies: [{ type: "parent-child", depends_on_id: root.id }] });
  await store.close(finished.id, "done early");
  await store.close(finished.id, "again"); // already closed: no transition, no event
  await store.cancel(root.id, "plan changed");
  const leased = await make("leased", "lease");
  await store.claimTask(leased.id, { worker: "slow", leaseSeconds: 0.05 });
  await sleep(120);
  await store.reapExpired();

  await relay.relayOnce();
  const got = await inStream(swarm);
  const created = got.slice(0, 4).map(brief);
  assert.deepEqual(created, [root, child, next, finished].map((t) => `${t.id} created 0`));
  assert.equal(brief(got[4]!), `${finished.id} completed 0`);
  assert.equal(got[4]?.event.reason, "done early");
  const cancelled = got.slice(5);
  assert.deepEqual(new Set(cancelled.map(brief)), new Set([root, child, next].map((t) => `${t.id} cancelled 0`)));
  assert.equal(cancelled.length, 3);
  assert.equal(cancelled.find((r) => r.event.task_id === root.id)?.event.reason, "plan changed");
  assert.equal(cancelled.find((r) => r.event.task_id === child.id)?.event.reason, "plan changed");

  const lease = await inStream("lease");
  assert.deepEqual(lease.map(brief), [`${leased.id} created 0`, `${leased.id} started 1`, `${leased.id} reopened 1`]);
  assert.equal(lease[2]?.event.reason, "lease expired");
  assert.equal(lease[2]?.event.worker, "slow");
});

test("the relay is at-least-once, yet the stream holds each event once: rerun, crash before marking, racing relays", async () => {
  const swarm = "dedup";
  const t = await make("once", swarm);
  await store.claimTask(t.id, { worker: "w" });
  await store.complete(t.id, "w");
  const first = await relay.relayOnce();
  assert.equal(first.published, 3);
  assert.equal((await relay.relayOnce()).published, 0, "a second run finds nothing pending");

  // A relay that died after publishing and before its marks committed: the rows are pending again.
  await sql`UPDATE task_events SET published_at = NULL WHERE task_id = ${t.id}`;
  const replay = await relay.relayOnce();
  assert.equal(replay.published, 0);
  assert.equal(replay.duplicates, 3);
  assert.equal(await pending(), 0);

  // A sink that publishes and then dies before returning: the row is published but not marked.
  const u = await make("crashy", swarm);
  const crashing: TaskEventSink = {
    async publish(event, msgID) {
      await sink.publish(event, msgID);
      throw new Error("crashed after publishing");
    },
  };
  const crashed = await new TaskEventRelay(sql, crashing).relayOnce();
  assert.match(crashed.failure?.message ?? "", /crashed after publishing/);
  assert.equal(await pending(), 1);
  const recovered = await relay.relayOnce();
  assert.equal(recovered.duplicates, 1);

  // Two relays at once: the one that came second stands aside while the first is publishing.
  const v = await make("raced", swarm);
  const slow: TaskEventSink = { publish: async (event, msgID) => (await sleep(150), sink.publish(event, msgID)) };
  const slowRun = new TaskEventRelay(sql, slow).relayOnce();
  await sleep(40);
  const second = await relay.relayOnce();
  assert.equal(second.busy, true);
  assert.equal(second.published + second.duplicates, 0);
  assert.equal((await slowRun).published, 1);

  const got = await inStream(swarm);
  assert.deepEqual(got.map(brief), [`${t.id} created 0`, `${t.id} started 1`, `${t.id} completed 1`, `${u.id} created 0`, `${v.id} created 0`]);
});

test("the store works with NATS down; its events wait in the outbox and flow once the relay can publish", async () => {
  await assert.rejects(EventBus.connect({ url: "nats://127.0.0.1:1", connectTimeoutMs: 1000 }), /cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  const down = await EventBus.connect({ url: natsUrlFrom(), publishTimeoutMs: 1000 });
  await down.close();
  const downRelay = new TaskEventRelay(sql, taskEventSink(down, spec));

  const swarm = "offline";
  const t = await make("offline", swarm);
  await store.claimTask(t.id, { worker: "w" });
  await store.fail(t.id, "w", "no network");
  assert.equal((await store.get(t.id)).status, "failed");
  assert.equal(await pending(), 3);

  const failed = await downRelay.relayOnce();
  assert.equal(failed.published, 0);
  assert.match(failed.failure?.message ?? "", /publishing task event #\d+ failed: .*closed/);
  assert.equal(await pending(), 3, "nothing is lost or marked while NATS is away");
  assert.deepEqual(await inStream(swarm), []);

  assert.equal((await relay.relayOnce()).published, 3);
  assert.equal(await pending(), 0);
  assert.deepEqual((await inStream(swarm)).map(brief), [`${t.id} created 0`, `${t.id} started 1`, `${t.id} failed 1`]);
});

test("malformed outbox rows are refused with a clear error and do not hold back the rest", async () => {
  const swarm = "malformed";
  const before = await make("before", swarm);
  await sql`INSERT INTO task_events (task_id, type, payload) VALUES
    ('gz-bad1', 'exploded', ${sql.json({ type: "exploded", task_id: "gz-bad1", swarm, run_id: null, status: "open", attempts: 0, at: new Date().toISOString() })}),
    ('gz-bad2', 'created', ${sql.json({ type: "created", task_id: "gz-else", swarm, run_id: null, status: "open", attempts: 0, at: new Date().toISOString() })}),
    ('gz-bad3', 'created', ${sql.json("not an object")})`;
  const behind = await make("behind", swarm);

  const report = await relay.relayOnce();
  assert.equal(report.published, 2);
  assert.deepEqual(report.refused.map((r) => r.task_id), ["gz-bad1", "gz-bad2", "gz-bad3"]);
  assert.match(report.refused[0]!.error, /^task event #\d+ refused: payload is not a valid event: type: /);
  assert.match(report.refused[1]!.error, /payload is for gz-else, the row for gz-bad2/);
  assert.match(report.refused[2]!.error, /not a valid event: \(event\): /);
  const stored = await sql<{ task_id: string; error: string }[]>`SELECT task_id, error FROM task_events WHERE refused_at IS NOT NULL ORDER BY seq`;
  assert.deepEqual(stored.map((r) => r.task_id), ["gz-bad1", "gz-bad2", "gz-bad3"]);
  assert.equal(stored[0]?.error, report.refused[0]?.error);
  assert.deepEqual((await relay.relayOnce()).refused, [], "a refused row is not retried");
  assert.deepEqual((await inStream(swarm)).map(brief), [`${before.id} created 0`, `${behind.id} created 0`]);

  // The sink itself refuses an invalid event, whoever calls it.
  await assert.rejects(sink.publish({ type: "created", task_id: "nope" } as TaskEvent, "x"), /task event x is not a valid event: task_id/);
});

test("started, the relay delivers new events on its own and a tail sees them; stop ends it", async () => {
  const swarm = "tail swarm.v2";
  const errors: Error[] = [];
  const live = new TaskEventRelay(sql, sink, { intervalMs: 50, onError: (e) => errors.push(e) });
  const tail = bus.consume({ stream: spec.name, filter: `${spec.subjectPrefix}.${subjectToken(swarm)}.>`, schema: taskEvent });
  const firstMessage = tail.next();
  live.start();
  const t = await make("tailed", swarm);
  const seen = await Promise.race([firstMessage, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no event within 3 s")), 3000))]);
  assert.equal(seen.value?.event.task_id, t.id);
  assert.equal(seen.value?.event.swarm, swarm);
  assert.equal(seen.value?.subject, `${spec.subjectPrefix}.tail%20swarm%2Ev2.${t.id}.created`);
  await tail.return(undefined);
  await live.stop();
  const later = await make("after stop", swarm);
  await sleep(150);
  assert.equal(await pending(), 1, "a stopped relay publishes nothing");
  assert.deepEqual(errors, []);
  await relay.relayOnce();
  assert.deepEqual((await inStream(swarm)).map(brief), [`${t.id} created 0`, `${later.id} created 0`]);
});
