import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TaskStore } from "../../workers/tasks/index.ts";
import {
  FleetAgent, FleetInputError, SecurityEventRecorder, ensureFleetStreams, listSecurityEvents, loadAgentConfig, sandboxExecutor, securityEventRecord,
  securitySubject, submitTask, type Executor, type SecurityEventRecord,
} from "../../fleet-agent/index.ts";
import { runFleet, startNats, waitFor, type NatsServer } from "./helpers.ts";
import { httpServer, type CountingServer } from "./sandbox/helpers.ts";

// Sandbox security events end to end: the agent in this process running tasks in the real sandbox
// (bubblewrap, the filtering proxy), a database and a NATS server of this file's own, and
// `godotz fleet security` as a child process.
let nats: NatsServer;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let nc: NatsConnection;
let js: JetStreamClient;
let store: TaskStore;
let executor: Executor;
let recorder: SecurityEventRecorder;
let agent: FleetAgent;
let forbidden: CountingServer;
let workRoot: string;
let subscription: Subscription;
const published: (SecurityEventRecord & { subject: string })[] = [];
const logs: string[] = [];
const NODE = `sec-${randomUUID().slice(0, 8)}`;

before(async () => {
  nats = await startNats();
  db = await freshDatabase();
  sql = openDatabase(db.url);
  await migrate(sql);
  store = new TaskStore(sql);
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  await ensureFleetStreams(await jetstreamManager(nc));
  subscription = nc.subscribe("godotz.security.>", { callback: (error, msg) => {
    if (!error) published.push({ ...securityEventRecord.parse(msg.json()), subject: msg.subject });
  } });
  await nc.flush();
  forbidden = await httpServer("should never be seen");
  workRoot = await mkdtemp(join(tmpdir(), "godotz-security-test-"));
  recorder = new SecurityEventRecorder({ sql, nodeId: NODE, log: (line) => logs.push(line) });
  executor = await sandboxExecutor({ onSecurityEvent: recorder.sink });
  agent = await FleetAgent.start({
    config: loadAgentConfig({ nodeId: NODE, roles: ["sec"], ackWaitMs: 5_000, heartbeatMs: 500, workRoot }, {}),
    executor, sql, natsUrl: nats.url, log: (line) => logs.push(line), securityEvents: recorder,
  });
});

after(async () => {
  await agent?.drain(); // closes the executor (and so the sandbox) too
  subscription?.unsubscribe();
  await nc?.close();
  await sql?.end();
  await db?.drop();
  await nats?.close();
  await forbidden?.close();
  if (workRoot) await rm(workRoot, { recursive: true, force: true });
});

const env = () => ({ DATABASE_URL: db.url, NATS_URL: nats.url });
const rowsFor = (taskId: string) => sql<SecurityEventRecord[]>`SELECT id, node_id, task_id, kind, detail, command, work_dir FROM security_events WHERE task_id = ${taskId}`;
async function runTask(command: string): Promise<{ id: string; error: string }> {
  const { task } = await submitTask({ store, js }, { task: { title: command }, dispatch: { command, role: "sec", timeout_ms: 30_000 } });
  const done = await waitFor(`task ${task.id} to finish`, async () => {
    const t = await store.get(task.id);
    return ["closed", "failed"].includes(t.status) && t;
  }, 60_000, 200);
  assert.equal(done.status, "failed", `the task ends failed: ${JSON.stringify(done)}`);
  return { id: task.id, error: JSON.stringify(done) };
}

let writeTask = "";
let networkTask = "";
const outside = `/etc/godotz-breakout-${randomUUID()}`;

test("a task that writes outside its folder fails and leaves a security event with node, task and what was tried", { timeout: 90_000 }, async () => {
  const { id, error } = await runTask(`echo x > ${outside}`);
  writeTask = id;
  assert.match(error, /sandbox violation/);
  const rows = await waitFor("the write's security event", async () => {
    const r = await rowsFor(id);
    return r.some((e) => e.kind === "write") && r;
  });
  const row = rows.find((e) => e.kind === "write" && e.detail.includes(outside));
  assert.ok(row, JSON.stringify(rows));
  assert.equal(row.node_id, NODE);
  assert.equal(row.task_id, id);
  assert.equal(row.command, `echo x > ${outside}`);
  assert.ok(row.work_dir.includes(`godotz-${id}-`), row.work_dir);
});

test("a blocked connection is a network security event of its task", { timeout: 90_000 }, async () => {
  const before = forbidden.hits();
  const { id } = await runTask(`curl -sS -m 10 http://127.0.0.1:${forbidden.port}/; sleep 60`);
  networkTask = id;
  const rows = await waitFor("the connection's security event", async () => {
    const r = await rowsFor(id);
    return r.some((e) => e.kind === "network") && r;
  });
  assert.ok(rows.some((e) => e.kind === "network" && e.node_id === NODE && e.detail.includes(`127.0.0.1:${forbidden.port}`)), JSON.stringify(rows));
  assert.equal(forbidden.hits(), before, "nothing reached the forbidden server");
});

test("a NATS subscriber on godotz.security.> receives each event, with its row id", { timeout: 30_000 }, async () => {
  assert.ok(writeTask && networkTask, "the tests above ran");
  const got = await waitFor("both events on NATS", () => {
    const w = published.find((e) => e.task_id === writeTask && e.kind === "write");
    const n = published.find((e) => e.task_id === networkTask && e.kind === "network");
    return w && n && { w, n };
  });
  assert.equal(got.w.node_id, NODE);
  assert.equal(got.w.subject, securitySubject(NODE));
  assert.equal(got.n.subject, securitySubject(NODE));
  assert.ok(got.w.detail.includes(outside));
  const [row] = await sql<{ task_id: string }[]>`SELECT task_id FROM security_events WHERE id = ${got.w.id!}`;
  assert.equal(row?.task_id, writeTask, "the published id is the stored row's");
});

test("godotz fleet security lists them: table and --json, by node, since, limited", { timeout: 60_000 }, async () => {
  assert.ok(writeTask && networkTask, "the tests above ran");
  const json = await runFleet(["fleet", "security", "--node", NODE, "--json"], env());
  assert.equal(json.code, 0, json.output);
  const events = (JSON.parse(json.output) as unknown[]).map((e) => securityEventRecord.parse(e));
  assert.ok(events.some((e) => e.task_id === writeTask && e.kind === "write" && e.detail.includes(outside)));
  assert.ok(events.some((e) => e.task_id === networkTask && e.kind === "network"));
  const times = events.map((e) => Date.parse(e.at));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");

  const table = await runFleet(["fleet", "security"], env());
  assert.equal(table.code, 0, table.output);
  assert.match(table.output, /^AT +NODE +TASK +KIND +TRIED +COMMAND/m);
  assert.match(table.output, new RegExp(`${NODE} +${writeTask} +write `));
  assert.match(table.output, new RegExp(`${NODE} +${networkTask} +network `));

  const one = await runFleet(["fleet", "security", "--limit", "1", "--json"], env());
  assert.equal(one.code, 0, one.output);
  assert.equal((JSON.parse(one.output) as unknown[]).length, 1);
  const future = await runFleet(["fleet", "security", "--since", "2999-01-01T00:00:00Z", "--json"], env());
  assert.deepEqual(JSON.parse(future.output), []);
  const other = await runFleet(["fleet", "security", "--node", "no-such-node"], env());
  assert.equal(other.code, 0, other.output);
  assert.match(other.output, /No sandbox security events/);
});

test("bad query input: a clear message, exit 2; the library says FleetInputError", { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [["--limit", "abc"], /limit/],
    [["--limit", "0"], /limit/],
    [["--since", "yesterday"], /since/],
    [["--node", "a.b"], /node/],
  ];
  for (const [args, message] of cases) {
    const r = await runFleet(["fleet", "security", ...args], env());
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.output}`);
    assert.match(r.output, message);
  }
  await assert.rejects(listSecurityEvents(sql, { node: "x y" }), FleetInputError);
  await assert.rejects(listSecurityEvents(sql, { limit: 1_000_000 }), FleetInputError);
});

test("an event no task can be named for is kept with no task", { timeout: 60_000 }, async () => {
  const workDir = join(workRoot, `untracked-${randomUUID()}`);
  const target = `/etc/godotz-untracked-${randomUUID()}`;
  const r = await executor.run({ command: `echo x > ${target}`, workDir, allowedHosts: [], env: {}, timeoutMs: 20_000, signal: new AbortController().signal });
  assert.ok(r.violations.some((v) => v.kind === "write"));
  const row = await waitFor("the unattributed event", async () => (await sql<SecurityEventRecord[]>`SELECT * FROM security_events WHERE detail LIKE ${`%${target}%`}`)[0]);
  assert.equal(row.task_id, null);
  assert.equal(row.node_id, NODE);
});

test("NATS being down loses no event; a failed insert is logged and never throws", { timeout: 60_000 }, async () => {
  const closed = await connect({ servers: nats.url });
  await closed.close();
  const offline = new SecurityEventRecorder({ sql, nodeId: "offline-node", log: (line) => logs.push(line) });
  offline.attach(closed);
  const at = new Date().toISOString();
  offline.sink({ at, kind: "network", detail: "deny network-outbound example.com:443", command: "curl https://example.com", workDir: "/tmp/x", taskId: null });
  await offline.flush();
  const kept = await listSecurityEvents(sql, { node: "offline-node" });
  assert.equal(kept.length, 1);
  assert.equal(kept[0]!.detail, "deny network-outbound example.com:443");

  const bare = await freshDatabase(); // no migrations: there is no table to insert into
  const bareSql = openDatabase(bare.url, { max: 1 });
  try {
    const lines: string[] = [];
    const broken = new SecurityEventRecorder({ sql: bareSql, nodeId: "broken-node", log: (line) => lines.push(line) });
    broken.sink({ at, kind: "write", detail: "deny openat /etc/x", command: "echo > /etc/x", workDir: "/tmp/y", taskId: null });
    await broken.flush();
    assert.ok(lines.some((l) => /could not record a security event/.test(l) && l.includes("deny openat /etc/x")), lines.join("\n"));
  } finally {
    await bareSql.end();
    await bare.drop();
  }
});
