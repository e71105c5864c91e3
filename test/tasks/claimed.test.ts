import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TaskStore, TaskInputError, claimedTaskStatements, type Task } from "../../workers/tasks/index.ts";

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let store: TaskStore;

before(async () => {
  db = await freshDatabase("godotz_claimed");
  sql = openDatabase(db.url, { max: 2 });
  await migrate(sql);
  store = new TaskStore(sql);
});
after(async () => {
  await sql.end();
  await db.drop();
});

const claim = { worker: "run:r1", leaseSeconds: 60 };
const step = (key: string) => ({ title: `step ${key}`, swarm: "claimed", idempotency_key: key });
const events = async (id: string) => (await sql<{ type: string }[]>`SELECT type FROM task_events WHERE task_id = ${id} ORDER BY seq`).map((r) => r.type);

/** BEGIN, both statements and COMMIT sent together on one connection, as the swarm runtime sends them. */
async function sendTogether(build: (conn: Sql) => ReturnType<typeof claimedTaskStatements>): Promise<{ id: string; inserted?: Task; claimed?: Task }> {
  const conn = await sql.reserve();
  try {
    const s = build(conn);
    const [, [inserted], [claimed]] = await Promise.all([conn`BEGIN`, s.insert, s.claim, conn`COMMIT`]);
    return { id: s.id, inserted, claimed };
  } finally {
    conn.release();
  }
}

test("sent together in one transaction: the task is created and claimed at once, with created then started", async () => {
  const { id, inserted, claimed } = await sendTogether((conn) => claimedTaskStatements(conn, step("claimed/1"), claim));
  assert.equal(inserted?.id, id);
  assert.deepEqual([claimed?.id, claimed?.status, claimed?.claimed_by, claimed?.attempts], [id, "in_progress", "run:r1", 1]);
  assert.deepEqual(await events(id), ["created", "started"]);
  assert.deepEqual((await store.ready({ swarm: "claimed" })).map((t) => t.id), [], "never ready");
});

test("a key used already inserts nothing and claims nothing; a taken id never claims the task holding it", async () => {
  const first = await store.create(step("claimed/2"), claim);
  const again = await sendTogether((conn) => claimedTaskStatements(conn, step("claimed/2"), claim));
  assert.deepEqual([again.inserted, again.claimed], [undefined, undefined]);
  assert.equal((await store.get(first.task.id)).attempts, 1);

  // Someone else's open task holds the id drawn for the step: it is neither overwritten nor claimed.
  const other = (await store.create({ title: "someone else's", swarm: "claimed" })).task;
  const clash = await sendTogether((conn) => claimedTaskStatements(conn, step("claimed/3"), claim, { id: other.id }));
  assert.deepEqual([clash.inserted, clash.claimed], [undefined, undefined]);
  const still = await store.get(other.id);
  assert.deepEqual([still.status, still.claimed_by, still.title], ["open", null, "someone else's"]);
});

test("with a condition that does not hold, nothing is written", async () => {
  const gated = await sendTogether((conn) => claimedTaskStatements(conn, step("claimed/4"), claim, { when: conn`false` }));
  assert.deepEqual([gated.inserted, gated.claimed], [undefined, undefined]);
  assert.equal((await sql`SELECT 1 FROM tasks WHERE idempotency_key = 'claimed/4'`).length, 0);
});

test("bad input is refused before anything is sent: no key, dependencies, a bad claim", () => {
  assert.throws(() => claimedTaskStatements(sql, { title: "no key" }, claim), TaskInputError);
  assert.throws(() => claimedTaskStatements(sql, { ...step("claimed/5"), dependencies: [{ type: "blocks", depends_on_id: "gz-aaaa" }] }, claim), TaskInputError);
  assert.throws(() => claimedTaskStatements(sql, step("claimed/6"), { worker: "", leaseSeconds: 60 }), TaskInputError);
});
