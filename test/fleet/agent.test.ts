import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TaskStore } from "../../workers/tasks/index.ts";
import {
  DEAD_STREAM, FleetAgent, FleetInputError, WORK_STREAM, ensureFleetStreams, getNode, loadAgentConfig, readFleet, roleSubject, nodeSubject, submitTask,
  type AgentConfigInput, type DeadLetter, type SubmitInput,
} from "../../fleet-agent/index.ts";
import { startNats, waitFor, type NatsServer } from "./helpers.ts";
import { recordingExecutor, type RecordingExecutor } from "./fake-executor.ts";

// The agent in this process with a recording executor (the sandbox has its own tests), against a
// NATS server and a database of this file's own.
let nats: NatsServer;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let store: TaskStore;
const agents: FleetAgent[] = [];
const logs: string[] = [];

before(async () => {
  nats = await startNats();
  db = await freshDatabase();
  sql = openDatabase(db.url);
  await migrate(sql);
  store = new TaskStore(sql);
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureFleetStreams(jsm);
});

after(async () => {
  await Promise.all(agents.map((a) => a.drain()));
  await nc?.close();
  await sql?.end();
  await db?.drop();
  await nats?.close();
});

async function startAgent(config: AgentConfigInput, executor: RecordingExecutor = recordingExecutor()): Promise<{ agent: FleetAgent; executor: RecordingExecutor }> {
  const agent = await FleetAgent.start({
    config: loadAgentConfig({ ackWaitMs: 2_000, maxDeliver: 3, heartbeatMs: 300, leaseGraceMs: 1_000, ...config }, {}),
    executor, sql, natsUrl: nats.url, log: (line) => logs.push(line),
  });
  agents.push(agent);
  return { agent, executor };
}

const submit = (title: string, dispatch: SubmitInput["dispatch"]) => submitTask({ store, js }, { task: { title }, dispatch });
const statusOf = async (id: string) => (await store.get(id)).status;
const settled = (ids: string[]) =>
  waitFor(`tasks ${ids.join(", ")} to finish`, async () => {
    const tasks = await Promise.all(ids.map((id) => store.get(id)));
    return tasks.every((t) => ["closed", "failed"].includes(t.status)) && tasks;
  }, 15_000);
const completions = async (id: string) => Number((await sql<{ n: string }[]>`SELECT count(*) AS n FROM task_events WHERE task_id = ${id} AND type = 'completed'`)[0]!.n);
async function deadLetters(): Promise<DeadLetter[]> {
  const info = await jsm.streams.info(DEAD_STREAM);
  const out: DeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(DEAD_STREAM, { seq }).catch(() => null);
    if (m) out.push(m.json<DeadLetter>());
  }
  return out;
}
const workLeft = async (subject: string) => (await jsm.streams.info(WORK_STREAM, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;

test("registers the node in the KV bucket and fleet_nodes, and heartbeats", async () => {
  const { agent } = await startAgent({ nodeId: "reg-a", roles: ["coder"], labels: ["rack-1"], capabilities: ["vision"], capacity: 7 });
  const kv = (await getNode(jsm, "reg-a")) ?? assert.fail("the node is in the bucket");
  assert.equal(kv.hostname, hostname());
  assert.equal(kv.os, process.platform);
  assert.equal(kv.arch, process.arch);
  assert.ok(kv.cpus >= 1 && kv.memory_bytes > 0);
  assert.deepEqual(kv.labels, ["rack-1"]);
  assert.ok(kv.capabilities.includes("vision"), "configured capabilities are registered");
  assert.equal(kv.capacity, 7);
  assert.match(kv.version, /^\d+\.\d+\.\d+/);
  assert.equal(kv.status, "up");
  const first = (await readFleet(sql)).find((n) => n.id === "reg-a") ?? assert.fail("the node is in fleet_nodes");
  assert.equal(first.health, "up");
  assert.deepEqual(first.roles, ["coder"]);
  await waitFor("a later heartbeat", async () => {
    const now = (await readFleet(sql)).find((n) => n.id === "reg-a")!;
    return now.last_heartbeat > first.last_heartbeat && (await getNode(jsm, "reg-a"))!.last_heartbeat > kv.last_heartbeat;
  });
  assert.ok(agent.worker.startsWith("reg-a/"));
});

test("runs submitted tasks once each, within the node's capacity, and stores their results", async () => {
  const { executor } = await startAgent({ nodeId: "cap-a", roles: ["capped"], capacity: 3 });
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push((await submit(`nap ${i}`, { command: "sleep 150", role: "capped" })).task.id);
  const tasks = await settled(ids);
  for (const t of tasks) {
    assert.equal(t.status, "closed");
    assert.equal(t.attempts, 1);
    assert.deepEqual({ ...(t.result as object), duration_ms: 0 }, { node: "cap-a", exit_code: 0, stdout: "slept", stderr: "", duration_ms: 0 });
    assert.equal(await completions(t.id), 1);
  }
  assert.equal(executor.runs.length, 8);
  assert.ok(executor.maxConcurrent <= 3, `never more than the capacity at once (saw ${executor.maxConcurrent})`);
  assert.ok(executor.maxConcurrent >= 2, `tasks ran side by side (saw ${executor.maxConcurrent})`);
  assert.equal(await workLeft(roleSubject("capped")), 0, "every message was acked");
});

test("a task longer than the ack wait is kept by in-progress acks: delivered once, run once", async () => {
  const { executor } = await startAgent({ nodeId: "long-a", roles: ["long"], ackWaitMs: 1_000 });
  const id = (await submit("takes 2.5 ack waits", { command: "sleep 2500", role: "long" })).task.id;
  const [t] = await settled([id]);
  assert.equal(t!.status, "closed");
  const info = await jsm.consumers.info(WORK_STREAM, "role_long");
  assert.equal(info.config.ack_wait, 1_000_000_000, "the configured ack wait, in nanoseconds");
  assert.equal(info.delivered.consumer_seq, 1, "never redelivered");
  assert.equal(executor.runs.length, 1);
});

test("a failing command, a sandbox violation: the task fails with the reason kept", async () => {
  await startAgent({ nodeId: "fail-a", roles: ["failing"] });
  const failed = (await submit("exits 3", { command: "fail 3", role: "failing" })).task.id;
  const violating = (await submit("writes /etc", { command: "violate", role: "failing" })).task.id;
  const [f, v] = await settled([failed, violating]);
  assert.equal(f!.status, "failed");
  assert.match(f!.error!, /^exit code 3: it failed/);
  assert.equal(v!.status, "failed");
  assert.match(v!.error!, /sandbox violation: .*"kind":"write".*\/etc\/passwd/);
});

test("requirements: only a matching node takes a task; a node-routed task its node cannot run is dead-lettered at once", async () => {
  // Each refusal by the plain node costs a delivery; 40 leave a 2^-40 chance of running out.
  const plain = await startAgent({ nodeId: "req-plain", roles: ["seer"], maxDeliver: 40 });
  const vision = await startAgent({ nodeId: "req-vision", roles: ["seer"], capabilities: ["vision"], maxDeliver: 40 });
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await submit(`look ${i}`, { command: "ok seen", role: "seer", requirements: { capabilities: ["vision"], os: process.platform, arch: process.arch } })).task.id);
  for (const t of await settled(ids)) {
    assert.equal(t.status, "closed");
    assert.match(t.claimed_by!, /^req-vision\//);
  }
  assert.equal(plain.executor.runs.filter((c) => c === "ok seen").length, 0, "the node without vision ran none");
  assert.equal(vision.executor.runs.filter((c) => c === "ok seen").length, 4);

  const pinned = (await submit("needs vision on the plain node", { command: "ok never", node: "req-plain", requirements: { capabilities: ["vision"] } })).task.id;
  const [t] = await settled([pinned]);
  assert.equal(t!.status, "failed");
  assert.match(t!.error!, /dead-lettered: node req-plain cannot run it: lacks capabilities vision/);
  const letter = (await deadLetters()).find((d) => d.task_id === pinned) ?? assert.fail("a dead letter");
  assert.equal(letter.original_subject, nodeSubject("req-plain"));
  assert.equal(JSON.parse(letter.message).command, "ok never", "the message is kept whole");
  assert.ok(!plain.executor.runs.includes("ok never"));
});

test("a task no node can take exhausts its deliveries: dead-lettered through the advisory, failed in the DAG, gone from the queue", async () => {
  await startAgent({ nodeId: "dl-a", roles: ["dl"] });
  const nowhere = (await submit("needs plan9", { command: "ok never", role: "dl", requirements: { os: "plan9" } })).task.id;
  const unavailable = (await submit("no sandbox anywhere", { command: "unavailable", role: "dl" })).task.id;
  const [a, b] = await settled([nowhere, unavailable]);
  for (const t of [a!, b!]) {
    assert.equal(t.status, "failed");
    assert.match(t.error!, /^dead-lettered: no delivery succeeded after 3 deliveries \(consumer role_dl\)/);
  }
  assert.equal(b!.attempts, 4, "claimed three times and handed back each time, then failed by the dead-letter handler");
  const letters = await waitFor("both dead letters", async () => {
    const all = (await deadLetters()).filter((d) => d.task_id === nowhere || d.task_id === unavailable);
    return all.length === 2 && all;
  });
  assert.ok(letters.every((d) => d.original_subject === roleSubject("dl") && d.deliveries === 3));
  await waitFor("the queue to be empty", async () => (await workLeft(roleSubject("dl"))) === 0);
});

test("a redelivered or duplicated message of a finished task is acked without running again", async () => {
  const { executor } = await startAgent({ nodeId: "dup-a", roles: ["dup"] });
  const id = (await submit("once", { command: "ok once", role: "dup" })).task.id;
  await settled([id]);
  const message = { task_id: id, command: "ok once", role: "dup", submitted_at: Date.now() };
  for (let i = 0; i < 3; i++) await js.publish(roleSubject("dup"), JSON.stringify(message), { msgID: `replay-${id}-${i}` });
  await waitFor("the copies to be acked", async () => (await workLeft(roleSubject("dup"))) === 0);
  assert.equal(executor.runs.filter((c) => c === "ok once").length, 1);
  assert.equal(await completions(id), 1);
});

test("bad messages on the work subjects are dead-lettered, nothing crashes, and later work still runs", async () => {
  const { executor } = await startAgent({ nodeId: "bad-a", roles: ["bad"] });
  const orphan = (await store.create({ title: "valid id, bad message" })).task.id;
  await js.publish(roleSubject("bad"), "{not json");
  await js.publish(roleSubject("bad"), JSON.stringify({ task_id: "nope", command: "ok" }));
  await js.publish(roleSubject("bad"), JSON.stringify({ task_id: orphan, role: "bad", submitted_at: 0 })); // no command
  await js.publish(roleSubject("bad"), JSON.stringify({ task_id: "gz-zzzzzz", command: "ok ghost", role: "bad", submitted_at: 0 })); // no such task
  const good = (await submit("after the junk", { command: "ok fine", role: "bad" })).task.id;
  assert.equal((await settled([good]))[0]!.status, "closed");
  const letters = await waitFor("four dead letters", async () => {
    const mine = (await deadLetters()).filter((d) => d.original_subject === roleSubject("bad"));
    return mine.length === 4 && mine;
  });
  const reasons = letters.map((d) => d.reason).join("\n");
  assert.match(reasons, /unreadable dispatch message: .*JSON/);
  assert.match(reasons, /task_id: must look like gz-a1b2/);
  assert.match(reasons, /command: /);
  assert.match(reasons, /no task gz-zzzzzz in the task DAG/);
  assert.equal(await statusOf(orphan), "failed", "the task a bad message named is failed, not left hanging");
  assert.ok(!executor.runs.includes("ok ghost"));
  assert.equal(await workLeft(roleSubject("bad")), 0);
});

test("submitTask refuses bad input before anything is written", async () => {
  const before = (await store.list({ limit: 10_000 })).length;
  const bad: SubmitInput["dispatch"][] = [
    { command: "ok" },
    { command: "ok", role: "a", node: "b" },
    { command: "ok", role: "a.b" },
    { command: "ok", role: "*" },
    { command: "", role: "a" },
    { command: "ok", role: "a", timeout_ms: -1 },
    { command: "ok", role: "a", requirements: { capabilities: ["has space"] } },
  ];
  for (const dispatch of bad) await assert.rejects(submit("bad", dispatch), FleetInputError, JSON.stringify(dispatch));
  assert.equal((await store.list({ limit: 10_000 })).length, before);
  assert.throws(() => loadAgentConfig({ capacity: "0" }, {}), FleetInputError);
  assert.throws(() => loadAgentConfig({ roles: "a.b" }, {}), /roles\.0: must be letters/);
  assert.throws(() => loadAgentConfig({}, { GODOTZ_FLEET_ACK_WAIT_MS: "soon" }), /ackWaitMs/);
  assert.equal(loadAgentConfig({}, {}).capacity, 18, "NFR-SC-002 default");
  assert.equal(loadAgentConfig({}, { GODOTZ_FLEET_CAPACITY: "4" }).capacity, 4);
});

test("drain: no new work; running work finishes in time, or is handed back and another node runs it", async () => {
  const a = await startAgent({ nodeId: "drain-a", roles: ["drain"], drainTimeoutMs: 10_000 });
  const quick = (await submit("finishes during the drain", { command: "sleep 400", role: "drain" })).task.id;
  await waitFor("it to start", async () => a.agent.runningTasks.includes(quick));
  await a.agent.drain();
  assert.equal(await statusOf(quick), "closed");
  assert.equal((await getNode(jsm, "drain-a"))!.status, "stopped");
  assert.equal((await readFleet(sql)).find((n) => n.id === "drain-a")!.health, "stopped");

  const b = await startAgent({ nodeId: "drain-b", roles: ["drain2"], drainTimeoutMs: 300 });
  const long = (await submit("outlives the drain", { command: "hold", role: "drain2" })).task.id;
  await waitFor("it to start", async () => b.agent.runningTasks.includes(long));
  await b.agent.drain();
  const handedBack = await store.get(long);
  assert.equal(handedBack.status, "open", "the claim is released");
  assert.equal(await workLeft(roleSubject("drain2")), 1, "the message is back in the queue");
  const c = await startAgent({ nodeId: "drain-c", roles: ["drain2"] });
  c.executor.release();
  const waiter = setInterval(() => c.executor.release(), 100);
  try {
    const [t] = await settled([long]);
    assert.equal(t!.status, "closed");
    assert.match(t!.claimed_by!, /^drain-c\//);
    assert.equal(await completions(long), 1);
  } finally {
    clearInterval(waiter);
  }
});

test("a claim that lapses under a running task: its result is dropped, the message goes round, the task counts once", async () => {
  const { agent, executor } = await startAgent({ nodeId: "lapse-a", roles: ["lapse"] });
  const id = (await submit("outlives its lease", { command: "hold", role: "lapse" })).task.id;
  await waitFor("it to start", async () => agent.runningTasks.includes(id));
  // The lease runs out (as if the node had stalled) and someone else claims and finishes the task.
  await sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = ${id}`;
  assert.ok(await store.claimTask(id, { worker: "intruder", leaseSeconds: 2 }), "the intruder takes the lapsed claim");
  executor.release();
  await waitFor("the agent to let go", async () => !agent.runningTasks.includes(id));
  assert.equal((await store.get(id)).status, "in_progress", "the agent's result did not close the intruder's task");
  await store.complete(id, "intruder", { by: "intruder" });
  await waitFor("the message to be acked once the task is closed", async () => (await workLeft(roleSubject("lapse"))) === 0, 15_000);
  assert.deepEqual((await store.get(id)).result, { by: "intruder" });
  assert.equal(await completions(id), 1);
  assert.equal(executor.runs.filter((c) => c === "hold").length, 1, "not run again");
  assert.ok(logs.some((l) => l.includes(`${id}: the lease ran out`)));
});

test("a node whose heartbeat lapses reads as down, and live agents mark it down", async () => {
  await sql`INSERT INTO fleet_nodes (id, hostname, os, arch, cpus, memory_bytes, version, capacity, running_tasks, status, heartbeat_interval_ms, started_at, last_heartbeat)
    VALUES ('ghost', 'gone', 'linux', 'arm64', 4, 1024, '0.1.0', 18, '{gz-aaaa}', 'up', 1000, now() - interval '1 hour', now() - interval '10 seconds')`;
  const ghost = (await readFleet(sql)).find((n) => n.id === "ghost")!;
  assert.equal(ghost.health, "down");
  assert.equal(ghost.running, 0);
  assert.deepEqual(ghost.running_tasks, []);
  await startAgent({ nodeId: "sweeper" });
  await waitFor("the sweep", async () => (await sql`SELECT status FROM fleet_nodes WHERE id = 'ghost'`)[0]!.status === "down");
});
