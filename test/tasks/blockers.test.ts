import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { MIGRATIONS_DIR, migrate } from "../../shared/db/migrate.ts";
import { unblocked } from "../../workers/tasks/sql.ts";
import { TaskError, TaskStore, type DependencyType, type TaskStatus } from "../../workers/tasks/index.ts";

// tasks.blocker_count (migrations/0004) against the recursive definition of "nothing holds it back"
// (workers/tasks/sql.ts `unblocked`), after random edits, racing edits, and the migration's backfill.
let db: Awaited<ReturnType<typeof freshDatabase>>;
let pools: Sql[] = [];
let sql: Sql;

before(async () => {
  db = await freshDatabase("godotz_tasks_blockers");
  pools = Array.from({ length: 6 }, () => openDatabase(db.url, { max: 2 }));
  sql = pools[0]!;
  await migrate(sql);
});
after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db.drop();
});

/** A small seeded generator, so a failing sequence can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  return { next, pick };
}

/**
 * Every disagreement between the stored counts and the definitions, for tasks of `swarm`: the exact
 * count recomputed in TypeScript (unclosed 'blocks' blockers + blocked parents), the recursive SQL
 * definition, and what `ready` returns.
 */
async function drift(db: Sql, swarm: string, withReady = true): Promise<string[]> {
  const tasks = await db<{ id: string; status: string; blocker_count: number; by_definition: boolean }[]>`
    SELECT t.id, t.status, t.blocker_count, ${unblocked(db)} AS by_definition FROM tasks t WHERE t.swarm = ${swarm}`;
  const edges = await db<{ issue_id: string; depends_on_id: string; type: DependencyType }[]>`
    SELECT issue_id, depends_on_id, type FROM task_dependencies`;
  const status = new Map((await db<{ id: string; status: string }[]>`SELECT id, status FROM tasks`).map((t) => [t.id, t.status]));
  const memo = new Map<string, boolean>();
  const blocked = (id: string): boolean => {
    if (!memo.has(id)) {
      const mine = edges.filter((e) => e.issue_id === id);
      memo.set(id, mine.some((e) => (e.type === "blocks" && status.get(e.depends_on_id) !== "closed") || (e.type === "parent-child" && blocked(e.depends_on_id))));
    }
    return memo.get(id)!;
  };
  const problems: string[] = [];
  for (const t of tasks) {
    const expected = edges.filter((e) => e.issue_id === t.id && ((e.type === "blocks" && status.get(e.depends_on_id) !== "closed") || (e.type === "parent-child" && blocked(e.depends_on_id)))).length;
    if (t.blocker_count !== expected) problems.push(`${t.id}: blocker_count ${t.blocker_count}, expected ${expected}`);
    if ((t.blocker_count === 0) !== t.by_definition) problems.push(`${t.id}: blocker_count ${t.blocker_count} but unblocked() is ${t.by_definition}`);
  }
  if (withReady) {
    const ready = (await new TaskStore(db).ready({ swarm, limit: 10_000 })).map((t) => t.id).sort();
    const expected = tasks.filter((t) => t.status === "open" && t.by_definition).map((t) => t.id).sort();
    if (JSON.stringify(ready) !== JSON.stringify(expected)) problems.push(`ready ${ready.join(",")} but by definition ${expected.join(",")}`);
  }
  return problems;
}

const STATUSES: TaskStatus[] = ["open", "in_progress", "blocked", "closed", "failed", "cancelled"];
const TYPES: DependencyType[] = ["blocks", "blocks", "parent-child", "parent-child", "related", "discovered-from"];

/** One random edit through the store (or, rarely, a raw delete); refusals the store is meant to make are fine. */
async function randomEdit(store: TaskStore, r: ReturnType<typeof rng>, ids: string[], swarm: string): Promise<string> {
  const a = r.pick(ids);
  const b = r.pick(ids);
  const roll = r.next();
  try {
    if (roll < 0.3) {
      await store.addDependency(a, b, r.pick(TYPES));
      return "add";
    }
    if (roll < 0.45) {
      const [edge] = await store.sql<{ issue_id: string; depends_on_id: string }[]>`
        SELECT issue_id, depends_on_id FROM task_dependencies d JOIN tasks t ON t.id = d.issue_id WHERE t.swarm = ${swarm}
        ORDER BY md5(issue_id || depends_on_id || ${String(r.next())}) LIMIT 1`;
      if (edge) await store.removeDependency(edge.issue_id, edge.depends_on_id);
      return "remove";
    }
    if (roll < 0.6) {
      await store.close(a, "done");
      return "close";
    }
    if (roll < 0.75) {
      await store.update(a, { status: r.pick(STATUSES) });
      return "update";
    }
    if (roll < 0.82) {
      const t = await store.claimTask(a, { worker: "w" });
      if (t) await (r.next() < 0.5 ? store.fail(a, "w", "boom") : store.complete(a, "w"));
      return "claim";
    }
    if (roll < 0.87) {
      await store.retry(a);
      return "retry";
    }
    if (roll < 0.9) {
      await store.cancel(a);
      return "cancel";
    }
    if (roll < 0.97) {
      const deps = [...new Set([a, b])].map((id) => ({ type: r.pick(TYPES), depends_on_id: id }));
      ids.push((await store.create({ title: "new", swarm, dependencies: deps })).task.id);
      return "create";
    }
    if (ids.length > 4) {
      ids.splice(ids.indexOf(a), 1);
      await store.sql`DELETE FROM tasks WHERE id = ${a}`;
    }
    return "delete";
  } catch (error) {
    if (error instanceof TaskError) return "refused";
    // Two racing edits may lock the same rows in opposite orders; Postgres aborts one, whole.
    if ((error as { code?: string }).code === "40P01") return "deadlock";
    // An edge to a task another connection deleted meanwhile (the store checks, then inserts).
    if ((error as { code?: string }).code === "23503") return "gone";
    throw error;
  }
}

async function seed(store: TaskStore, swarm: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await store.create({ title: `t${i}`, swarm })).task.id);
  return ids;
}

test("after every step of random edits, blocker_count matches the recursive definition", async () => {
  for (const seedValue of [1, 2, 3]) {
    const swarm = `random-${seedValue}`;
    const store = new TaskStore(sql);
    const r = rng(seedValue);
    const ids = await seed(store, swarm, 10);
    const log: string[] = [];
    for (let step = 0; step < 150; step++) {
      log.push(await randomEdit(store, r, ids, swarm));
      const problems = await drift(sql, swarm, step % 10 === 0);
      assert.deepEqual(problems, [], `seed ${seedValue}, step ${step} (${log.slice(-5).join(" → ")})`);
    }
    for (const kind of ["add", "remove", "close", "update", "claim", "create"]) assert.ok(log.includes(kind), `seed ${seedValue} exercised ${kind}`);
  }
});

test("a deep parent chain: closing the blocker at the top frees every descendant, reopening it holds them again", async () => {
  const swarm = "chain";
  const store = new TaskStore(sql);
  const [blocker, ...chain] = await seed(store, swarm, 8);
  await store.addDependency(chain[0]!, blocker!, "blocks");
  for (let i = 1; i < chain.length; i++) await store.addDependency(chain[i]!, chain[i - 1]!, "parent-child");
  const counts = async () => (await sql<{ id: string; n: number }[]>`SELECT id, blocker_count AS n FROM tasks WHERE id = ANY(${chain})`).map((r) => r.n);
  assert.deepEqual(await counts(), chain.map(() => 1));
  await store.close(blocker!);
  assert.deepEqual(await counts(), chain.map(() => 0));
  await store.update(blocker!, { status: "open" });
  assert.deepEqual(await counts(), chain.map(() => 1));
  assert.deepEqual(await drift(sql, swarm), []);
});

test("racing edits from six connections leave no drift", async () => {
  const swarm = "race";
  const ids = await seed(new TaskStore(sql), swarm, 16);
  const outcomes = await Promise.all(
    pools.map(async (pool, n) => {
      const store = new TaskStore(pool);
      const r = rng(100 + n);
      const seen: string[] = [];
      for (let i = 0; i < 60; i++) seen.push(await randomEdit(store, r, ids, swarm));
      return seen;
    }),
  );
  assert.ok(outcomes.flat().filter((o) => o === "add").length > 50);
  assert.deepEqual(await drift(sql, swarm), []);
});

test("the migration's backfill computes the counts of a graph written before it", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "godotz-migrations-"));
  const old = await freshDatabase("godotz_tasks_backfill");
  const db3 = openDatabase(old.url, { max: 1 });
  try {
    for (const f of (await readdir(MIGRATIONS_DIR)).filter((f) => f < "0004")) await cp(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
    await migrate(db3, dir);
    const r = rng(42);
    const ids = Array.from({ length: 40 }, (_, i) => `gz-b${String(i).padStart(3, "0")}`);
    await db3`INSERT INTO tasks ${db3(ids.map((id) => ({ id, title: id, swarm: "backfill", status: r.pick(STATUSES) })))}`;
    const edges = new Map<string, { issue_id: string; depends_on_id: string; type: string }>();
    // Edges point from later to earlier ids only, so the gating ones are acyclic, as 0003 keeps them.
    for (let i = 0; i < 80; i++) {
      const x = Math.floor(r.next() * ids.length);
      const y = Math.floor(r.next() * ids.length);
      if (x === y) continue;
      const [issue, dependsOn] = x > y ? [ids[x]!, ids[y]!] : [ids[y]!, ids[x]!];
      edges.set(`${issue}>${dependsOn}`, { issue_id: issue, depends_on_id: dependsOn, type: r.pick(TYPES) });
    }
    await db3`INSERT INTO task_dependencies ${db3([...edges.values()])}`;
    assert.ok((await migrate(db3)).includes("0004_task_ready_index.sql"));
    const [counted] = await db3<{ blocked: number }[]>`SELECT count(*)::int AS blocked FROM tasks WHERE blocker_count > 0`;
    assert.ok(counted!.blocked > 5, `the graph has blocked tasks (${counted!.blocked})`);
    assert.deepEqual(await drift(db3, "backfill"), []);
  } finally {
    await db3.end();
    await old.drop();
    await rm(dir, { recursive: true, force: true });
  }
});
