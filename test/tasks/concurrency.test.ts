import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TaskStore, DependencyCycleError } from "../../workers/tasks/index.ts";

// The guarantees that only hold under real contention, measured on real Postgres.
let db: Awaited<ReturnType<typeof freshDatabase>>;
let pools: Sql[] = [];
let store: TaskStore;

before(async () => {
  db = await freshDatabase("godotz_tasks_race");
  // One pool per claimer, as separate worker processes would have.
  pools = Array.from({ length: 8 }, () => openDatabase(db.url, { max: 2 }));
  await migrate(pools[0]!);
  store = new TaskStore(pools[0]!);
});
after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db.drop();
});

test("8 concurrent claimers over 200 tasks: every task is claimed exactly once", async () => {
  const TASKS = 200;
  const created = new Set<string>();
  for (let i = 0; i < TASKS; i++) created.add((await store.create({ title: `job ${i}`, priority: i % 5, swarm: "claims" })).task.id);
  const claims = await Promise.all(
    pools.map(async (pool, n) => {
      const worker = new TaskStore(pool);
      const mine: string[] = [];
      for (;;) {
        const task = await worker.claim({ worker: `w${n}`, swarm: "claims" });
        if (!task) return mine;
        mine.push(task.id);
      }
    }),
  );
  const all = claims.flat();
  assert.equal(all.length, TASKS, "no task claimed twice");
  assert.deepEqual(new Set(all), created, "every task claimed");
  assert.ok(claims.filter((c) => c.length > 0).length > 1, "the claims were spread over several workers");
  const rows = await pools[0]!<{ id: string; claimed_by: string; attempts: number }[]>`SELECT id, claimed_by, attempts FROM tasks WHERE swarm = 'claims'`;
  const owner = new Map(claims.flatMap((ids, n) => ids.map((id) => [id, `w${n}`] as const)));
  for (const r of rows) {
    assert.equal(r.attempts, 1, `${r.id} claimed once`);
    assert.equal(r.claimed_by, owner.get(r.id), `${r.id} is held by the worker that got it`);
  }
});

test("two concurrent inserts that would together close a cycle: exactly one wins", async () => {
  const PAIRS = 40;
  const pairs = [];
  for (let i = 0; i < PAIRS; i++) pairs.push([(await store.create({ title: `a${i}` })).task.id, (await store.create({ title: `b${i}` })).task.id] as const);
  // Each direction goes through its own pool, so the two inserts of a pair really run at once.
  const results = await Promise.allSettled(
    pairs.flatMap(([a, b], i) => [
      new TaskStore(pools[i % 8]!).addDependency(a, b, "blocks"),
      new TaskStore(pools[(i + 4) % 8]!).addDependency(b, a, "parent-child"),
    ]),
  );
  for (let i = 0; i < PAIRS; i++) {
    const pair = [results[2 * i]!, results[2 * i + 1]!];
    assert.equal(pair.filter((r) => r.status === "fulfilled").length, 1, `pair ${i}: exactly one edge stands`);
    const refused = pair.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.ok(refused.reason instanceof DependencyCycleError, String(refused.reason));
  }
  const [row] = await pools[0]!<{ cycles: number }[]>`
    SELECT count(*)::int AS cycles FROM task_dependencies x JOIN task_dependencies y ON x.issue_id = y.depends_on_id AND x.depends_on_id = y.issue_id`;
  assert.equal(row?.cycles, 0);
});
