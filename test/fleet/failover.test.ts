import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TaskStore, type Task } from "../../workers/tasks/index.ts";
import { ensureFleetStreams, submitTask, type FleetNodeView } from "../../fleet-agent/index.ts";
import { runFleet, spawnFleet, startNats, stopProcess, waitFor, type CliProcess, type NatsServer } from "./helpers.ts";

// Issue #7, "surviving failure": NATS, the database and three `godotz fleet-agent` processes, each
// running every task in the real sandbox (`sh -c` under bubblewrap). One agent is SIGKILLed
// mid-task; later the NATS server itself is killed and restarted on the same port and store.
// Every task must complete exactly once, and the other agents' work must go on uninterrupted.

let nats: NatsServer;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let store: TaskStore;
let nc: NatsConnection;
const agents: CliProcess[] = [];

before(async () => {
  nats = await startNats();
  db = await freshDatabase();
  sql = openDatabase(db.url);
  await migrate(sql);
  store = new TaskStore(sql);
  nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  await ensureFleetStreams(await jetstreamManager(nc));
});

after(async () => {
  await Promise.all(agents.map((a) => stopProcess(a)));
  await nc?.close();
  await sql?.end();
  await db?.drop();
  await nats?.close();
});

const env = () => ({ DATABASE_URL: db.url, NATS_URL: nats.url });

async function startAgents(prefix: string, role: string): Promise<CliProcess[]> {
  const started = [1, 2, 3].map((i) => {
    const p = spawnFleet(["fleet-agent", "--node-id", `${prefix}-${i}`, "--roles", role, "--capacity", "3", "--heartbeat-ms", "500",
      "--ack-wait-ms", "2000", "--lease-grace-ms", "2000", "--drain-timeout-ms", "20000"], env());
    agents.push(p);
    return p;
  });
  await Promise.all(started.map((p, i) => waitFor(`agent ${prefix}-${i + 1} to be up`, () => /node \S+ up/.test(p.output()) || (p.child.exitCode !== null ? assert.fail(p.output()) : false), 60_000)));
  return started;
}

async function submitBatch(role: string, n: number): Promise<string[]> {
  const js = jetstream(nc);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { task } = await submitTask({ store, js }, { task: { title: `${role} ${i}`, swarm: role }, dispatch: { command: `sleep 1.2; echo task-${i}`, role, timeout_ms: 10_000 } });
    ids.push(task.id);
  }
  return ids;
}

const inProgress = async (swarm: string) => sql<Task[]>`SELECT * FROM tasks WHERE swarm = ${swarm} AND status = 'in_progress'`;

async function allClosedExactlyOnce(ids: string[]): Promise<Task[]> {
  const tasks = await waitFor("every task to finish", async () => {
    const all = await Promise.all(ids.map((id) => store.get(id)));
    return all.every((t) => t.status === "closed" || t.status === "failed") && all;
  }, 90_000, 250);
  for (const t of tasks) {
    assert.equal(t.status, "closed", `${t.id}: ${t.error}`);
    assert.match((t.result as { stdout: string }).stdout, /^task-\d+\n$/);
  }
  const counts = await sql<{ task_id: string; n: string }[]>`SELECT task_id, count(*) AS n FROM task_events WHERE task_id IN ${sql(ids)} AND type = 'completed' GROUP BY task_id`;
  assert.equal(counts.length, ids.length, "every task completed");
  for (const c of counts) assert.equal(Number(c.n), 1, `${c.task_id} completed exactly once`);
  return tasks;
}

test("an agent SIGKILLed mid-task: its tasks are run again elsewhere, every task completes exactly once, the others are not disturbed", { timeout: 180_000 }, async () => {
  const [victim] = await startAgents("kill", "survive");
  const ids = await submitBatch("survive", 24);
  const running = await waitFor("the victim and another agent to be mid-task", async () => {
    const rows = await inProgress("survive");
    return rows.some((t) => t.claimed_by!.startsWith("kill-1/")) && rows.some((t) => !t.claimed_by!.startsWith("kill-1/")) && rows;
  }, 60_000, 50);
  victim!.child.kill("SIGKILL");
  await victim!.exited;
  const killedAt = Date.now();
  const orphaned = running.filter((t) => t.claimed_by!.startsWith("kill-1/"));
  const others = running.filter((t) => !t.claimed_by!.startsWith("kill-1/"));

  const tasks = await allClosedExactlyOnce(ids);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const o of orphaned) {
    const t = byId.get(o.id)!;
    assert.doesNotMatch(t.claimed_by!, /^kill-1\//, `${o.id} was finished by a surviving agent`);
    assert.equal(t.attempts, 2, `${o.id} ran once more after the kill`);
  }
  for (const o of others) {
    const t = byId.get(o.id)!;
    assert.equal(t.claimed_by, o.claimed_by, `${o.id} finished on the agent that had it`);
    assert.equal(t.attempts, 1, `${o.id} was not interrupted`);
  }
  assert.ok(tasks.every((t) => !t.claimed_by!.startsWith("kill-1/") || t.closed_at!.getTime() <= killedAt), "the dead agent completed nothing after it died");

  // The dead node reads as down once its heartbeats lapse; the live ones are up (`fleet status --json`).
  const fleet = await waitFor("kill-1 to read as down", async () => {
    const status = await runFleet(["fleet", "status", "--json"], env());
    assert.equal(status.code, 0, status.output);
    const nodes = JSON.parse(status.output) as FleetNodeView[];
    return nodes.find((n) => n.id === "kill-1")?.health === "down" && nodes;
  }, 20_000, 300);
  assert.deepEqual(fleet.filter((n) => n.id.startsWith("kill-")).map((n) => [n.id, n.health]), [["kill-1", "down"], ["kill-2", "up"], ["kill-3", "up"]]);
  const table = await runFleet(["fleet", "status"], env());
  assert.equal(table.code, 0);
  assert.match(table.output, /^NODE\s+OS\/ARCH\s+HEALTH\s+LOAD\s+RUNNING\s+LAST HEARTBEAT/m);
  assert.match(table.output, new RegExp(`^kill-1\\s+${process.platform}/${process.arch}\\s+down\\s+0/3`, "m"));
});

test("the NATS server is killed and restarted mid-batch: every task completes exactly once, none fails", { timeout: 180_000 }, async () => {
  await startAgents("restart", "outage");
  const ids = await submitBatch("outage", 24);
  await waitFor("work to be under way", async () => (await inProgress("outage")).length >= 3, 60_000, 50);
  await nats.kill();
  const unfinished = (await sql<{ n: string }[]>`SELECT count(*) AS n FROM tasks WHERE swarm = 'outage' AND status <> 'closed'`)[0]!.n;
  assert.ok(Number(unfinished) > 0, "the outage starts mid-batch");
  await assert.rejects(connect({ servers: nats.url, timeout: 1_000, reconnect: false }), "the server is really down");
  await nats.start();
  await allClosedExactlyOnce(ids);
  for (const a of agents.slice(-3)) assert.equal(a.child.exitCode, null, `the agent is still running:\n${a.output()}`);

  // SIGTERM drains: each agent stops cleanly and says it stopped.
  await Promise.all(agents.slice(-3).map((a) => stopProcess(a)));
  for (const a of agents.slice(-3)) assert.match(a.output(), /stopped/);
  const nodes = (await sql<{ id: string; status: string }[]>`SELECT id, status FROM fleet_nodes WHERE id LIKE 'restart-%' ORDER BY id`).map((r) => [r.id, r.status]);
  assert.deepEqual(nodes, [["restart-1", "stopped"], ["restart-2", "stopped"], ["restart-3", "stopped"]]);
});
