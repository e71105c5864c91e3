import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { EventBus } from "../../../workers/events/bus.ts";
import { runEvent } from "../../../workers/events/runs.ts";
import { getRun } from "../../../workers/swarm/runs/store.ts";
import { namespacedStreams } from "../../../workers/swarm/worker.ts";
import { startRuntimeStack, TWO_WORKERS, type RuntimeStack } from "./helpers.ts";

const ENTRY = fileURLToPath(new URL("./fixtures/worker-entry.ts", import.meta.url));
const namespace = `dur${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const streams = namespacedStreams(namespace);

let rt: RuntimeStack;
let bus: EventBus;
let home: string;
const children: ChildProcess[] = [];

before(async () => {
  rt = await startRuntimeStack();
  bus = await EventBus.connect({ name: "durable-test" });
  home = await mkdtemp(path.join(tmpdir(), "godotz-home-"));
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) killGroup(c);
  for (const s of Object.values(streams)) await bus?.jsm.streams.delete(s.name).catch(() => {});
  // The call that was in flight at the kill still sleeps in the simulator; closing the simulator
  // first ends it, so the gateway's close does not wait for it.
  await rt?.stack.simulator.close();
  await bus?.close();
  await rt?.close();
  await rm(home, { recursive: true, force: true });
});

function startWorker(name: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", ENTRY, "--name", name, "--lease-seconds", "2", "--ack-wait-seconds", "60", "--durable", `d-${namespace}`, "--streams-namespace", namespace],
    {
      env: { ...process.env, DATABASE_URL: rt.stack.databaseUrl, GODOTZ_URL: rt.stack.gateway.url, GODOTZ_API_KEY: rt.stack.key, GODOTZ_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so a kill takes its helpers (tsx's esbuild) too, as a machine dying would.
      detached: true,
    },
  );
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** SIGKILL to the worker's process group (the worker and the helpers it started). */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // already gone
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  // Bounded: polls every 50 ms until the deadline.
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test("a worker killed with SIGKILL mid-run: another worker resumes the run and no completed step calls its model twice", async () => {
  const sim = rt.stack.simulator;
  sim.reset();
  // beta's model hangs, so the kill lands while beta's call is in flight (steps 0-2 are done by then).
  sim.script("gemini-3.1-pro-low", { latencyMs: 600_000 });
  const loaded = await rt.load(TWO_WORKERS);
  const runId = await rt.start(loaded, "survive a crash");

  const first = startWorker("worker-a");
  await until("beta's model call", () => sim.calls().some((c) => c.model === "gemini-3.1-pro-low")).catch((error: Error) => {
    throw new Error(`${error.message}; the worker said:\n${first.output()}`);
  });
  killGroup(first.child);
  await first.exited;
  assert.equal((await getRun(rt.sql, runId)).status, "running", "the dead worker left the run running");

  sim.script("gemini-3.1-pro-low", {});
  const second = startWorker("worker-b");
  const done = await until("the run to finish", async () => {
    const run = await getRun(rt.sql, runId);
    return run.status === "running" ? undefined : run;
  }).catch((error: Error) => {
    throw new Error(`${error.message}; the worker said:\n${second.output()}`);
  });
  assert.equal(done.status, "completed", `${done.error}\n${second.output()}`);
  assert.equal(done.worker, "worker-b");
  assert.equal(done.attempts, 2);

  // Five steps, each closed; at the simulated providers every request was made once, except beta's,
  // which was in flight at the kill and was made again by the second worker.
  const steps = await rt.steps(runId);
  assert.deepEqual(steps.map((s) => [s.assignee, s.status]), [["lead", "closed"], ["alpha", "closed"], ["lead", "closed"], ["beta", "closed"], ["lead", "closed"]]);
  const calls = sim.calls().filter((c) => c.kind === "chat");
  const byDigest = new Map<string, typeof calls>();
  for (const c of calls) byDigest.set(c.digest, [...(byDigest.get(c.digest) ?? []), c]);
  const repeated = [...byDigest.values()].filter((group) => group.length > 1);
  assert.equal(byDigest.size, 5, "one distinct request per step");
  assert.equal(repeated.length, 1, "only one request was made twice");
  assert.deepEqual(repeated[0]!.map((c) => c.model), ["gemini-3.1-pro-low", "gemini-3.1-pro-low"]);
  assert.deepEqual(calls.map((c) => c.model), ["glm-5.1", "claude-sonnet-4.5", "glm-5.1", "gemini-3.1-pro-low", "gemini-3.1-pro-low", "glm-5.1"]);

  // The run's events reached JetStream through the second worker's relay: started twice, completed once.
  const events = await until("the run's completed event on NATS", async () => {
    const received = await bus.read({ stream: streams.events.name, filter: `${streams.events.subjectPrefix}.duo.${runId}.>`, schema: runEvent }).catch(() => []);
    return received.some((r) => r.event.type === "completed" && r.event.step === null) ? received : undefined;
  });
  assert.deepEqual(events.filter((r) => r.event.step === null).map((r) => r.event.type), ["created", "started", "started", "completed"]);
  assert.ok(events.every((r) => r.subject.startsWith(`${streams.events.subjectPrefix}.duo.${runId}.`)));

  // SIGTERM drains and exits cleanly.
  second.child.kill("SIGTERM");
  assert.equal(await second.exited, 0, second.output());
});
