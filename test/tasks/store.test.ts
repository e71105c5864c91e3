import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import {
  TaskStore, DependencyCycleError, DependencyNotFoundError, InvalidTransitionError, LeaseLostError, TaskInputError, TaskNotFoundError, TaskNotReadyError,
} from "../../workers/tasks/index.ts";

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let store: TaskStore;

before(async () => {
  db = await freshDatabase("godotz_tasks");
  sql = openDatabase(db.url, { max: 4 });
  await migrate(sql);
  store = new TaskStore(sql);
});
after(async () => {
  await sql.end();
  await db.drop();
});

const make = async (title: string, extra: Parameters<TaskStore["create"]>[0] extends infer I ? Partial<I & object> : never = {}) =>
  (await store.create({ title, ...extra })).task;
const readyIds = async (swarm: string) => (await store.ready({ swarm, limit: 100 })).map((t) => t.id);

test("ids are short and readable: gz- and 4 base36 characters", async () => {
  const t = await make("id shape", { swarm: "ids" });
  assert.match(t.id, /^gz-[0-9a-z]{4}$/);
});

test("ready is ordered by priority, then age", async () => {
  const swarm = "order";
  const p2 = await make("p2", { swarm, priority: 2 });
  const p0old = await make("p0 old", { swarm, priority: 0 });
  const p1 = await make("p1", { swarm, priority: 1 });
  const p0new = await make("p0 new", { swarm, priority: 0 });
  assert.deepEqual(await readyIds(swarm), [p0old.id, p0new.id, p1.id, p2.id]);
  assert.deepEqual((await store.ready({ swarm, limit: 2 })).map((t) => t.id), [p0old.id, p0new.id]);
});

test("only blocks and parent-child gate readiness; related and discovered-from do not", async () => {
  const swarm = "gating";
  const blocker = await make("blocker", { swarm });
  const blocked = await make("blocked", { swarm, dependencies: [{ type: "blocks", depends_on_id: blocker.id }] });
  const related = await make("related", { swarm, dependencies: [{ type: "related", depends_on_id: blocker.id }] });
  const found = await make("found", { swarm, dependencies: [{ type: "discovered-from", depends_on_id: blocker.id }] });
  // A parent gates its children by being blocked itself (as beads): an open epic does not.
  const epic = await make("epic", { swarm, dependencies: [{ type: "blocks", depends_on_id: blocker.id }] });
  const child = await make("child", { swarm, dependencies: [{ type: "parent-child", depends_on_id: epic.id }] });
  const grandchild = await make("grandchild", { swarm, dependencies: [{ type: "parent-child", depends_on_id: child.id }] });
  const freeEpic = await make("free epic", { swarm });
  const freeChild = await make("free child", { swarm, dependencies: [{ type: "parent-child", depends_on_id: freeEpic.id }] });

  const before = await readyIds(swarm);
  for (const id of [blocker.id, related.id, found.id, freeEpic.id, freeChild.id]) assert.ok(before.includes(id), `${id} should be ready`);
  for (const id of [blocked.id, epic.id, child.id, grandchild.id]) assert.ok(!before.includes(id), `${id} should not be ready`);

  await store.close(blocker.id, "done");
  const afterClose = await readyIds(swarm);
  for (const id of [blocked.id, epic.id, child.id, grandchild.id]) assert.ok(afterClose.includes(id), `${id} should be ready once its blocker closed`);
  assert.ok(!afterClose.includes(blocker.id), "a closed task is not ready");
});

test("a failed blocker still blocks; a dependency added later gates immediately", async () => {
  const swarm = "late";
  const a = await make("a", { swarm });
  const b = await make("b", { swarm });
  await store.addDependency(b.id, a.id, "blocks");
  assert.deepEqual(await readyIds(swarm), [a.id]);
  const claimed = await store.claimTask(a.id, { worker: "w" });
  await store.fail(claimed!.id, "w", "boom");
  assert.deepEqual(await readyIds(swarm), []);
  await store.removeDependency(b.id, a.id);
  assert.deepEqual(await readyIds(swarm), [b.id]);
});

test("a gating dependency that would close a cycle is refused; non-gating ones may loop", async () => {
  const a = await make("a");
  const b = await make("b");
  const c = await make("c");
  await store.addDependency(a.id, b.id, "blocks");
  await store.addDependency(b.id, c.id, "parent-child");
  await assert.rejects(store.addDependency(c.id, a.id, "blocks"), DependencyCycleError);
  await assert.rejects(store.addDependency(c.id, a.id, "parent-child"), DependencyCycleError);
  await assert.rejects(store.addDependency(b.id, a.id, "blocks"), DependencyCycleError);
  const loop = await store.addDependency(c.id, a.id, "related");
  assert.equal(loop.type, "related");
  // Turning that non-gating edge into a gating one is checked like a new edge.
  await assert.rejects(store.addDependency(c.id, a.id, "blocks"), DependencyCycleError);
  assert.equal((await store.show(c.id)).dependencies[0]?.dependency_type, "related");
});

test("dep tree walks dependencies depth first, and dependents with reverse", async () => {
  const root = await make("root");
  const mid = await make("mid", { dependencies: [{ type: "blocks", depends_on_id: root.id }] });
  const top = await make("top", { dependencies: [{ type: "parent-child", depends_on_id: mid.id }] });
  const tree = await store.tree(top.id);
  assert.deepEqual(tree.map((n) => [n.id, n.depth, n.parent_id, n.dependency_type]), [
    [top.id, 0, null, null],
    [mid.id, 1, top.id, "parent-child"],
    [root.id, 2, mid.id, "blocks"],
  ]);
  assert.deepEqual((await store.tree(root.id, { reverse: true })).map((n) => n.id), [root.id, mid.id, top.id]);
});

test("creating again with the same idempotency key returns the first task, even when racing", async () => {
  const first = await store.create({ title: "once", idempotency_key: "run-7/step-1" });
  const again = await store.create({ title: "once, retried", idempotency_key: "run-7/step-1" });
  assert.equal(first.created, true);
  assert.equal(again.created, false);
  assert.equal(again.task.id, first.task.id);
  assert.equal(again.task.title, "once");
  const racing = await Promise.all(Array.from({ length: 6 }, () => store.create({ title: "race", idempotency_key: "race-key" })));
  assert.equal(new Set(racing.map((r) => r.task.id)).size, 1);
  assert.equal(racing.filter((r) => r.created).length, 1);
  const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM tasks WHERE idempotency_key = 'race-key'`;
  assert.equal(row?.n, 1);
});

test("created with claimFor: a new unblocked task is in progress for its claimer at once, never ready; a blocked one stays open", async () => {
  const swarm = "claim-on-create";
  const { task, created } = await store.create({ title: "step", swarm, idempotency_key: "claim-on-create/1" }, { worker: "run:r1", leaseSeconds: 60 });
  assert.equal(created, true);
  assert.deepEqual([task.status, task.claimed_by, task.attempts], ["in_progress", "run:r1", 1]);
  assert.deepEqual(await readyIds(swarm), []);
  assert.equal(await store.claim({ worker: "someone-else", swarm }), undefined, "nobody else can take it");
  // Created again (a resumed run): the same task, still held by the run, not claimed twice.
  const again = await store.create({ title: "step", swarm, idempotency_key: "claim-on-create/1" }, { worker: "run:r1", leaseSeconds: 60 });
  assert.deepEqual([again.created, again.task.id, again.task.attempts], [false, task.id, 1]);
  const blocker = await make("blocker", { swarm });
  const blocked = await store.create({ title: "blocked step", swarm, dependencies: [{ depends_on_id: blocker.id, type: "blocks" }] }, { worker: "run:r1", leaseSeconds: 60 });
  assert.deepEqual([blocked.task.status, blocked.task.claimed_by], ["open", null]);
  await assert.rejects(store.create({ title: "bad claim", swarm }, { worker: "", leaseSeconds: 60 }), TaskInputError);
});

test("a claim that outlives its lease returns the task to ready; the old claimer can no longer finish it", async () => {
  const swarm = "lease";
  const t = await make("leased", { swarm });
  const first = await store.claim({ worker: "slow", swarm, leaseSeconds: 0.3 });
  assert.equal(first?.id, t.id);
  assert.equal(first?.status, "in_progress");
  assert.equal(first?.attempts, 1);
  assert.deepEqual(await readyIds(swarm), [], "a claimed task is not ready");
  assert.equal(await store.claim({ worker: "other", swarm }), undefined);
  await sleep(450);
  assert.deepEqual(await readyIds(swarm), [t.id]);
  const second = await store.claim({ worker: "fast", swarm });
  assert.equal(second?.id, t.id);
  assert.equal(second?.attempts, 2);
  await assert.rejects(store.complete(t.id, "slow", { late: true }), LeaseLostError);
  const done = await store.complete(t.id, "fast", { ok: 1 });
  assert.equal(done.status, "closed");
  assert.deepEqual(done.result, { ok: 1 });
});

test("retry re-opens a failed task and the attempts stay counted", async () => {
  const swarm = "retry";
  const t = await make("flaky", { swarm });
  await store.claim({ worker: "w1", swarm });
  const failed = await store.fail(t.id, "w1", "timeout");
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, "timeout");
  await assert.rejects(store.retry((await make("open one")).id), InvalidTransitionError);
  const reopened = await store.retry(t.id);
  assert.equal(reopened.status, "open");
  assert.equal(reopened.attempts, 1);
  assert.equal(reopened.claimed_by, null);
  const again = await store.claim({ worker: "w2", swarm });
  assert.equal(again?.attempts, 2);
});

test("run executes a ready task once; running a closed task is a no-op returning the stored result", async () => {
  const t = await make("step");
  let calls = 0;
  const first = await store.run(t.id, "w", async (task) => {
    calls++;
    assert.equal(task.status, "in_progress");
    return { answer: 42 };
  });
  assert.equal(first.ran, true);
  assert.deepEqual(first.result, { answer: 42 });
  assert.equal(first.task.status, "closed");
  const second = await store.run(t.id, "w2", async () => {
    calls++;
    return { answer: 0 };
  });
  assert.equal(second.ran, false);
  assert.deepEqual(second.result, { answer: 42 });
  assert.equal(calls, 1);
  assert.equal((await store.get(t.id)).attempts, 1);

  const broken = await make("broken");
  await assert.rejects(store.run(broken.id, "w", async () => { throw new Error("tool crashed"); }), /tool crashed/);
  const stored = await store.get(broken.id);
  assert.equal(stored.status, "failed");
  assert.equal(stored.error, "tool crashed");

  const blocker = await make("blocker");
  const waiting = await make("waiting", { dependencies: [{ type: "blocks", depends_on_id: blocker.id }] });
  await assert.rejects(store.run(waiting.id, "w", async () => 1), TaskNotReadyError);
});

test("cancel takes the task and its unfinished descendants, and leaves closed ones and non-gating links", async () => {
  const root = await make("root");
  const child = await make("child", { dependencies: [{ type: "parent-child", depends_on_id: root.id }] });
  const grandchild = await make("grandchild", { dependencies: [{ type: "parent-child", depends_on_id: child.id }] });
  const after = await make("after", { dependencies: [{ type: "blocks", depends_on_id: root.id }] });
  const done = await make("done child", { dependencies: [{ type: "parent-child", depends_on_id: root.id }] });
  await store.close(done.id, "finished early");
  const related = await make("related", { dependencies: [{ type: "related", depends_on_id: root.id }] });

  const cancelled = await store.cancel(root.id);
  assert.equal(cancelled[0]?.id, root.id);
  assert.deepEqual(new Set(cancelled.map((t) => t.id)), new Set([root.id, child.id, grandchild.id, after.id]));
  for (const id of [root.id, child.id, grandchild.id, after.id]) assert.equal((await store.get(id)).status, "cancelled");
  assert.equal((await store.get(done.id)).status, "closed");
  assert.equal((await store.get(related.id)).status, "open");
  await assert.rejects(store.cancel(done.id), InvalidTransitionError);
});

test("update keeps the bookkeeping true: reopening drops the claim, closing stamps closed_at", async () => {
  const t = await make("manual", { swarm: "manual" });
  await store.claim({ worker: "w", swarm: "manual" });
  const reopened = await store.update(t.id, { status: "open", priority: 0, labels: ["x", "y"] });
  assert.equal(reopened.claimed_by, null);
  assert.equal(reopened.lease_expires_at, null);
  assert.equal(reopened.priority, 0);
  assert.deepEqual(reopened.labels, ["x", "y"]);
  assert.deepEqual((await store.list({ label: "y" })).map((x) => x.id), [t.id]);
  const closed = await store.update(t.id, { status: "closed" });
  assert.ok(closed.closed_at instanceof Date);
});

test("bad input of every kind is refused with a typed error", async () => {
  const t = await make("target");
  await assert.rejects(store.get("gz-zzzzzz"), TaskNotFoundError);
  await assert.rejects(store.close("gz-zzzzzz"), TaskNotFoundError);
  await assert.rejects(store.addDependency(t.id, "gz-zzzzzz"), TaskNotFoundError);
  await assert.rejects(store.removeDependency(t.id, "gz-zzzzzz"), TaskNotFoundError);
  await assert.rejects(store.removeDependency(t.id, (await make("x")).id), DependencyNotFoundError);
  await assert.rejects(store.get("not-an-id"), TaskInputError);
  for (const priority of [5, -1, 1.5, "high"]) {
    await assert.rejects(store.create({ title: "p", priority: priority as number }), /priority: must be 0-4/);
  }
  assert.equal((await store.create({ title: "P-form", priority: "P1" as unknown as number })).task.priority, 1);
  await assert.rejects(store.update(t.id, { status: "done" as never }), /status: must be one of/);
  await assert.rejects(store.list({ status: "done" as never }), TaskInputError);
  await assert.rejects(store.update(t.id, {}), /nothing to update/);
  await assert.rejects(store.addDependency(t.id, (await make("y")).id, "depends" as never), /dependency type: must be one of/);
  await assert.rejects(store.addDependency(t.id, t.id), /cannot depend on itself/);
  await assert.rejects(store.create({ title: "  " }), /title/);
  await assert.rejects(store.create({ title: "e", estimated_minutes: -5 }), /estimated_minutes/);
  const before = (await store.list({ limit: 10_000 })).length;
  await assert.rejects(store.create({ title: "orphan", dependencies: [{ type: "blocks", depends_on_id: "gz-zzzzzz" }] }), TaskNotFoundError);
  assert.equal((await store.list({ limit: 10_000 })).length, before, "a failed create leaves nothing behind");
});
