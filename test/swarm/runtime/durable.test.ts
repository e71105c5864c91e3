import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runEvent } from "../../../workers/events/runs.ts";
import { getRun } from "../../../workers/swarm/runs/store.ts";
import { TWO_WORKERS } from "./helpers.ts";
import { killGroup, startCrashHarness, until, type CrashHarness } from "./crash-harness.ts";

let h: CrashHarness;
before(async () => {
  h = await startCrashHarness("dur");
});
after(async () => {
  await h?.close();
});

test("a worker killed with SIGKILL mid-run: another worker resumes the run and no completed step calls its model twice", async () => {
  const { rt, bus, streams, startWorker } = h;
  const sim = rt.stack.simulator;
  sim.reset();
  // beta's model hangs, so the kill lands while beta's call is in flight (steps 0-2 are done by then).
  sim.script("gemini-3.1-pro-low", { latencyMs: 600_000 });
  const loaded = await rt.load(TWO_WORKERS);
  const runId = await rt.start(loaded, "survive a crash");

  const first = startWorker("worker-a");
  await until("beta's model call", () => sim.calls().some((c) => c.model === "gemini-3.1-pro-low"), first.output);
  killGroup(first.child);
  await first.exited;
  assert.equal((await getRun(rt.sql, runId)).status, "running", "the dead worker left the run running");

  sim.script("gemini-3.1-pro-low", {});
  const second = startWorker("worker-b");
  const done = await until("the run to finish", async () => {
    const run = await getRun(rt.sql, runId);
    return run.status === "running" ? undefined : run;
  }, second.output);
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
