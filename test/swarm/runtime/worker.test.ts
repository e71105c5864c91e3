import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { EventBus } from "../../../workers/events/bus.ts";
import { getRun, type RunRow } from "../../../workers/swarm/runs/store.ts";
import { namespacedStreams, RunWorker } from "../../../workers/swarm/worker.ts";
import { startRuntimeStack, TWO_WORKERS, type RuntimeStack } from "./helpers.ts";

const namespace = `wrk${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const streams = namespacedStreams(namespace);

let rt: RuntimeStack;
let bus: EventBus;
const logs: string[] = [];

before(async () => {
  rt = await startRuntimeStack();
  bus = await EventBus.connect({ name: "worker-test" });
});
after(async () => {
  for (const s of Object.values(streams)) await bus?.jsm.streams.delete(s.name).catch(() => {});
  await bus?.close();
  await rt?.close();
});

function worker(name: string): RunWorker {
  return new RunWorker({ sql: rt.sql, databaseUrl: rt.stack.databaseUrl, bus, gateway: { url: rt.stack.gateway.url, key: rt.stack.key }, name, leaseMs: 1000, durable: `d-${namespace}`, streams, log: (l) => logs.push(l) });
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; worker log:\n${logs.join("\n")}`);
    await sleep(50);
  }
}

const status = async (runId: string): Promise<RunRow["status"]> => (await getRun(rt.sql, runId)).status;

test("a queued run reaches the worker through the relay and the work queue and is executed", async () => {
  const w = worker("w-one");
  await w.start();
  try {
    const runId = await rt.start(await rt.load(TWO_WORKERS), "via the queue");
    await until("the run to complete", async () => (await status(runId)) === "completed");
    assert.equal((await getRun(rt.sql, runId)).worker, "w-one");
  } finally {
    await w.stop();
  }
});

test("stop() drains: the run in progress stops at a step boundary and is released; another worker resumes it", async () => {
  rt.stack.simulator.reset();
  rt.stack.simulator.script("claude-sonnet-4.5", { latencyMs: 300 });
  const first = worker("w-drain");
  await first.start();
  try {
    const runId = await rt.start(await rt.load(TWO_WORKERS), "drain me");
    await until("alpha's step", async () => (await rt.steps(runId)).some((s) => s.assignee === "alpha"));
    await first.stop();
    const released = await getRun(rt.sql, runId);
    assert.equal(released.status, "running");
    assert.ok(released.lease_expires_at! <= new Date(Date.now() + 10), "the lease was given up");
    const done = (await rt.steps(runId)).map((s) => [s.assignee, s.status]);
    assert.deepEqual(done, [["lead", "closed"], ["alpha", "closed"]], "the step in flight finished before the drain");

    const second = worker("w-resume");
    await second.start();
    try {
      await until("the resumed run to complete", async () => (await status(runId)) === "completed");
    } finally {
      await second.stop();
    }
    assert.equal((await getRun(rt.sql, runId)).worker, "w-resume");
    const calls = rt.stack.simulator.calls().filter((c) => c.kind === "chat");
    assert.equal(new Set(calls.map((c) => c.digest)).size, calls.length, "no model call was made twice");
    assert.equal(calls.length, 5);
  } finally {
    rt.stack.simulator.reset();
  }
});
