import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { getRun } from "../../../workers/swarm/runs/store.ts";
import { killGroup, startCrashHarness, until, type CrashHarness } from "./crash-harness.ts";

// The crash test of durable.test.ts, with the kill landing in the middle of a fan-out: some
// branches have finished, one is still calling its model.

/** Three branches, each on its own simulated model, so each branch's calls can be counted. */
const SCOUTS = `
name: scouts
version: 1
agents:
  lead: { type: supervisor, model: glm-5.1, instructions: "Send every scout at once." }
  slow: { type: worker, family: gemini, role: takes its time }
  quick: { type: worker, model: claude-sonnet-4.5, role: answers at once }
  steady: { type: worker, model: glm-4.7, role: answers at once too }
topology: { supervisor: lead, workers: [slow, quick, steady], max_parallel: 3, max_turns: 4 }
`;

let h: CrashHarness;
before(async () => {
  h = await startCrashHarness("fan");
});
after(async () => {
  await h?.close();
});

test("a worker killed mid-fan-out: the resumed run repeats only the branch that was in flight", async () => {
  const { rt, startWorker } = h;
  const sim = rt.stack.simulator;
  sim.reset();
  // The first branch named hangs: the other two can only finish meanwhile if the branches run in parallel.
  sim.script("gemini-3.1-pro-low", { latencyMs: 600_000 });
  const loaded = await rt.load(SCOUTS);
  const runId = await rt.start(loaded, "scout the ground");
  const stepsByPath = async () => new Map((await rt.steps(runId)).map((s) => [s.idempotency_key!.slice(runId.length + 1), s.status]));

  const first = startWorker("worker-a");
  await until(
    "quick and steady to finish while slow is still working",
    async () => {
      const steps = await stepsByPath();
      return steps.get("1.quick") === "closed" && steps.get("1.steady") === "closed" && steps.get("1.slow") === "in_progress" ? true : undefined;
    },
    first.output,
  );
  assert.ok(sim.calls().some((c) => c.model === "gemini-3.1-pro-low"), "slow's call is in flight");
  killGroup(first.child);
  await first.exited;

  sim.script("gemini-3.1-pro-low", {});
  const second = startWorker("worker-b");
  const done = await until("the run to finish", async () => {
    const run = await getRun(rt.sql, runId);
    return run.status === "running" ? undefined : run;
  }, second.output);
  assert.equal(done.status, "completed", `${done.error}\n${second.output()}`);
  assert.equal(done.worker, "worker-b");

  const steps = await stepsByPath();
  assert.deepEqual(Object.fromEntries(steps), { "0": "closed", "1.slow": "closed", "1.quick": "closed", "1.steady": "closed", "2": "closed" });
  // Per model: the supervisor decided twice; quick and steady were asked once, before the kill;
  // only slow, in flight at the kill, was asked again.
  const calls = sim.calls().filter((c) => c.kind === "chat");
  const count = (model: string) => calls.filter((c) => c.model === model).length;
  assert.deepEqual(
    { lead: count("glm-5.1"), slow: count("gemini-3.1-pro-low"), quick: count("claude-sonnet-4.5"), steady: count("glm-4.7") },
    { lead: 2, slow: 2, quick: 1, steady: 1 },
  );
  const slowDigests = new Set(calls.filter((c) => c.model === "gemini-3.1-pro-low").map((c) => c.digest));
  assert.equal(slowDigests.size, 1, "slow's repeated request is the same request");

  second.child.kill("SIGTERM");
  assert.equal(await second.exited, 0, second.output());
});
