import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { roleSubject, WORK_STREAM } from "../../fleet-agent/index.ts";
import { runFleet, startNats, type NatsServer } from "./helpers.ts";

// `godotz fleet submit|status` and `godotz fleet-agent` at the command line: what they print and
// how they refuse bad input (exit 2 for usage, 1 for an unreachable service), nothing written then.
let nats: NatsServer;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;

before(async () => {
  nats = await startNats();
  db = await freshDatabase();
  sql = openDatabase(db.url, { max: 2 });
  await migrate(sql);
});

after(async () => {
  await sql?.end();
  await db?.drop();
  await nats?.close();
});

const env = () => ({ DATABASE_URL: db.url, NATS_URL: nats.url });
const taskCount = async () => Number((await sql<{ n: string }[]>`SELECT count(*) AS n FROM tasks`)[0]!.n);

test("fleet submit creates the task and dispatches it; --json; the same idempotency key does not dispatch twice", { timeout: 60_000 }, async () => {
  const first = await runFleet(["fleet", "submit", "--title", "build it", "--command", "make", "--role", "builder", "--capability", "gcc", "--idempotency-key", "k1", "--json"], env());
  assert.equal(first.code, 0, first.output);
  const task = JSON.parse(first.output) as { id: string; title: string; status: string; subject: string; published: boolean };
  assert.equal(task.title, "build it");
  assert.equal(task.status, "open");
  assert.equal(task.subject, roleSubject("builder"));
  assert.equal(task.published, true);
  const again = await runFleet(["fleet", "submit", "--title", "build it", "--command", "make", "--role", "builder", "--idempotency-key", "k1"], env());
  assert.equal(again.code, 0, again.output);
  assert.match(again.output, new RegExp(`^${task.id}  dispatched to godotz\\.work\\.role\\.builder`, "m"));
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const held = (await jsm.streams.info(WORK_STREAM, { subjects_filter: roleSubject("builder") })).state.messages;
    assert.equal(held, 1, "the stream's dedup window kept the second publish out");
    const stored = await jsm.streams.getMessage(WORK_STREAM, { last_by_subj: roleSubject("builder") });
    assert.deepEqual(stored!.json<{ requirements: unknown }>().requirements, { capabilities: ["gcc"] });
  } finally {
    await nc.close();
  }
  assert.equal(await taskCount(), 1);
});

test("bad input: a clear message, exit 2, no task written", { timeout: 60_000 }, async () => {
  const before = await taskCount();
  const cases: [string[], RegExp][] = [
    [["fleet", "submit", "--title", "t", "--command", "x"], /--role <role> or --node <node>/],
    [["fleet", "submit", "--title", "t", "--command", "x", "--role", "a.b"], /dispatch\.role: must be letters/],
    [["fleet", "submit", "--title", "t", "--command", "x", "--role", "a", "--node", "b"], /one of --role <role> or --node <node>/],
    [["fleet", "submit", "--title", "t", "--command", "x", "--role", "a", "--timeout-ms", "soon"], /dispatch\.timeout_ms/],
    [["fleet", "submit", "--title", "t", "--command", "x", "--role", "a", "--priority", "9"], /priority: must be 0-4/],
    [["fleet", "submit", "--title", "t", "--command", "x", "--role", "a", "--nats-url", "http://nope"], /NATS_URL must look like/],
    [["fleet-agent", "--capacity", "0"], /fleet-agent\.capacity/],
    [["fleet-agent", "--roles", "x y"], /fleet-agent\.roles\.0/],
  ];
  for (const [args, message] of cases) {
    const r = await runFleet(args, env());
    assert.equal(r.code, 2, `${args.join(" ")}:\n${r.output}`);
    assert.match(r.output, message);
  }
  assert.equal(await taskCount(), before);
});

test("NATS unreachable: exit 1 naming the server", { timeout: 60_000 }, async () => {
  const r = await runFleet(["fleet", "submit", "--title", "t", "--command", "x", "--role", "a"], { ...env(), NATS_URL: "nats://127.0.0.1:1" });
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  const agent = await runFleet(["fleet-agent", "--node-id", "lonely"], { ...env(), NATS_URL: "nats://127.0.0.1:1" });
  assert.equal(agent.code, 1, agent.output);
  assert.match(agent.output, /cannot reach NATS/);
});

test("fleet status with no nodes says so; --json is an empty list", { timeout: 60_000 }, async () => {
  const table = await runFleet(["fleet", "status"], env());
  assert.equal(table.code, 0);
  assert.match(table.output, /No fleet nodes have registered yet/);
  const json = await runFleet(["fleet", "status", "--json"], env());
  assert.deepEqual(JSON.parse(json.output), []);
});
