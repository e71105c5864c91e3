import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { executeRun } from "../../../workers/swarm/runtime/executor.ts";
import { requestCancel, getRun, RunNotFoundError } from "../../../workers/swarm/runs/store.ts";
import { startRuntimeStack, TWO_WORKERS, type RuntimeStack } from "./helpers.ts";

let rt: RuntimeStack;
before(async () => {
  rt = await startRuntimeStack();
});
after(async () => {
  await rt?.close();
});

test("a run goes supervisor → alpha → supervisor → beta → supervisor → FINISH, each step a task, every call attributed", async () => {
  rt.stack.simulator.reset();
  const loaded = await rt.load(TWO_WORKERS);
  const outcome = await rt.run(loaded, "What is 6 times 7?");
  assert.equal(outcome.status, "completed", outcome.error ?? "");
  assert.match(outcome.output!, /Simulated gemini-3.1-pro-low reply/);

  const steps = await rt.steps(outcome.runId);
  assert.deepEqual(steps.map((s) => [s.assignee, s.status, s.idempotency_key]), [
    ["lead", "closed", `${outcome.runId}:0`],
    ["alpha", "closed", `${outcome.runId}:1`],
    ["lead", "closed", `${outcome.runId}:2`],
    ["beta", "closed", `${outcome.runId}:3`],
    ["lead", "closed", `${outcome.runId}:4`],
  ]);
  assert.ok(steps.every((s) => s.swarm === "duo" && s.run_id === outcome.runId));

  const calls = rt.stack.simulator.calls().filter((c) => c.kind === "chat");
  assert.deepEqual(calls.map((c) => c.provider), ["openai", "anthropic", "openai", "gemini", "openai"]);
  const audit = (await rt.stack.auditRows()).filter((r) => r.swarm === "duo");
  assert.deepEqual(audit.map((r) => [r.agent, r.task]), steps.map((s) => [s.assignee, s.id]));

  const run = await getRun(rt.sql, outcome.runId);
  assert.equal(run.status, "completed");
  assert.equal(run.worker, "test-worker");
  assert.ok(run.finished_at && run.started_at);

  const events = await rt.events(outcome.runId);
  const runEvents = events.filter((e) => e.step === null).map((e) => e.type);
  assert.deepEqual(runEvents, ["created", "started", "completed"]);
  for (const step of ["0", "1", "2", "3", "4"]) {
    assert.deepEqual(events.filter((e) => e.step === step).map((e) => e.type), ["created", "started", "completed"], `step ${step}`);
  }
  const done = events.find((e) => e.step === "1" && e.type === "completed")!;
  assert.equal(done.agent, "alpha");
  assert.equal(done.model, "claude-sonnet-4.5");
  assert.ok(done.tokens! > 0 && done.cost_usd! > 0);
});

test("the first step opens with the run's start events, each later step in the transaction that closed the step before it, and nothing opened ahead is left", async () => {
  const loaded = await rt.load(TWO_WORKERS);
  const outcome = await rt.run(loaded, "ahead");
  assert.equal(outcome.status, "completed", outcome.error ?? "");
  // An event's created_at is its transaction's now(): equal times mean one transaction.
  const rows = await rt.sql<{ step: string | null; type: string; at: Date }[]>`
    SELECT payload->>'step' AS step, payload->>'type' AS type, created_at AS at FROM run_events WHERE run_id = ${outcome.runId} ORDER BY seq`;
  const at = (step: string, type: string) => rows.find((r) => r.step === step && r.type === type)!.at.getTime();
  // supervisor 0 → alpha 1 → supervisor 2 → beta 3 → supervisor 4 (FINISH: nothing after it).
  for (const [step, following] of [["0", "1"], ["1", "2"], ["2", "3"], ["3", "4"]]) {
    assert.equal(at(following!, "created"), at(step!, "completed"), `step ${following} opened with step ${step}'s close`);
    assert.equal(at(following!, "started"), at(step!, "completed"));
  }
  // xmin names the transaction that wrote a row: the run's start and step 0's opening share one.
  const writers = await rt.sql<{ step: string | null; type: string; xid: string }[]>`
    SELECT payload->>'step' AS step, payload->>'type' AS type, xmin::text AS xid FROM run_events WHERE run_id = ${outcome.runId} ORDER BY seq`;
  const xid = (step: string | null, type: string) => writers.find((r) => r.step === step && r.type === type)!.xid;
  assert.deepEqual(writers.slice(0, 4).map((r) => [r.step, r.type]), [[null, "created"], [null, "started"], ["0", "created"], ["0", "started"]], "the run's start comes before its first step's");
  assert.equal(xid("0", "created"), xid(null, "started"), "step 0 opened with the run's start events");
  assert.equal(xid("0", "started"), xid(null, "created"));
  assert.notEqual(xid("0", "completed"), xid(null, "started"));
  const steps = await rt.steps(outcome.runId);
  assert.deepEqual(steps.map((s) => s.status), ["closed", "closed", "closed", "closed", "closed"]);
});

test("executing a finished run again does nothing and calls no model", async () => {
  const loaded = await rt.load(TWO_WORKERS);
  const first = await rt.run(loaded, "once");
  const before = rt.stack.simulator.calls().length;
  const again = await executeRun(rt.deps(), first.runId);
  assert.equal(again.executed, false);
  assert.equal(again.status, "completed");
  assert.equal(rt.stack.simulator.calls().length, before);
});

test("a transient upstream failure is retried with a retrying event; the step completes", async () => {
  rt.stack.simulator.reset();
  // The gateway itself tries a model three times before it answers 503; the fourth call succeeds.
  rt.stack.simulator.script("claude-sonnet-4.5", { failStatus: 503, failTimes: 3 });
  try {
    const outcome = await rt.run(await rt.load(TWO_WORKERS), "flaky");
    assert.equal(outcome.status, "completed", outcome.error ?? "");
    const events = await rt.events(outcome.runId);
    assert.deepEqual(events.filter((e) => e.step === "1").map((e) => e.type), ["created", "started", "retrying", "completed"]);
    assert.match(events.find((e) => e.type === "retrying")!.error!, /503/);
  } finally {
    rt.stack.simulator.reset();
  }
});

test("a permanent failure fails the step with its error kept; the supervisor sees it and the run goes on", async () => {
  rt.stack.simulator.reset();
  rt.stack.simulator.script("gemini-3.1-pro-low", { failStatus: 400 });
  try {
    const outcome = await rt.run(await rt.load(TWO_WORKERS), "doomed beta");
    assert.equal(outcome.status, "completed", outcome.error ?? "");
    const steps = await rt.steps(outcome.runId);
    const beta = steps.find((s) => s.assignee === "beta")!;
    assert.equal(beta.status, "failed");
    assert.match(beta.error!, /400/);
    // Not retried: one call to gemini.
    assert.equal(rt.stack.simulator.calls().filter((c) => c.model === "gemini-3.1-pro-low").length, 1);
    assert.equal(steps.at(-1)!.assignee, "lead");
    assert.equal((steps.at(-1)!.result as { output: string }).output, "FINISH");
    assert.match(outcome.output!, /claude-sonnet-4.5/, "the output is the last successful turn");
    const events = await rt.events(outcome.runId);
    assert.equal(events.find((e) => e.step === "3" && e.type === "failed")?.agent, "beta");
  } finally {
    rt.stack.simulator.reset();
  }
});

test("bad input: an unknown run id, a snapshot that is not a swarm, a worker the supervisor invents", async () => {
  await assert.rejects(executeRun(rt.deps(), "run_doesnotexist00000"), RunNotFoundError);

  const broken = await rt.start({ spec: { name: "broken", version: "1" } } as never, "x");
  const outcome = await executeRun(rt.deps(), broken);
  assert.equal(outcome.status, "failed");
  assert.match(outcome.error!, /not a valid swarm/);

  rt.stack.simulator.reset();
  rt.stack.simulator.script("glm-4.7", { reply: "I will not use the tool" });
  try {
    const bad = await rt.run(await rt.load(TWO_WORKERS.replace("model: glm-5.1", "model: glm-4.7")), "ignore the tool");
    assert.equal(bad.status, "failed");
    assert.match(bad.error!, /did not route to one of alpha, beta, FINISH/);
  } finally {
    rt.stack.simulator.reset();
  }
});

test("a supervisor that fails for good fails the run with the error kept", async () => {
  rt.stack.simulator.reset();
  // glm-4.7: the gateway has no fallback for it (glm-5.1 falls back to glm-4.7).
  rt.stack.simulator.script("glm-4.7", { failStatus: 401 });
  try {
    const outcome = await rt.run(await rt.load(TWO_WORKERS.replace("model: glm-5.1", "model: glm-4.7")), "no boss");
    assert.equal(outcome.status, "failed");
    assert.match(outcome.error!, /the supervisor lead failed: .*/);
    const run = await getRun(rt.sql, outcome.runId);
    assert.equal(run.error, outcome.error);
    assert.deepEqual((await rt.events(outcome.runId)).filter((e) => e.step === null).map((e) => e.type), ["created", "started", "failed"]);
  } finally {
    rt.stack.simulator.reset();
  }
});

test("max_turns stops a run that never finishes", async () => {
  const loaded = await rt.load(TWO_WORKERS.replace("max_turns: 6", "max_turns: 2"));
  const outcome = await rt.run(loaded, "too long");
  assert.equal(outcome.status, "failed");
  assert.match(outcome.error!, /max_turns \(2\)/);
  assert.equal((await rt.steps(outcome.runId)).length, 4);
});

test("cancelling: a queued run is cancelled at once; a running one stops at the next step boundary", async () => {
  const loaded = await rt.load(TWO_WORKERS);
  const queued = await rt.start(loaded, "never");
  assert.equal((await requestCancel(rt.sql, queued)).status, "cancelled");
  assert.equal((await executeRun(rt.deps(), queued)).executed, false);

  rt.stack.simulator.reset();
  rt.stack.simulator.script("claude-sonnet-4.5", { latencyMs: 400 });
  try {
    const runId = await rt.start(loaded, "stop me");
    const running = executeRun(rt.deps(), runId);
    // Wait until alpha's step is under way, then ask for the stop.
    for (let i = 0; i < 200 && !(await rt.steps(runId)).some((s) => s.assignee === "alpha"); i++) await new Promise((r) => setTimeout(r, 25));
    await requestCancel(rt.sql, runId);
    const outcome = await running;
    assert.equal(outcome.status, "cancelled");
    const steps = await rt.steps(runId);
    assert.deepEqual(steps.map((s) => [s.assignee, s.status]), [["lead", "closed"], ["alpha", "closed"]], "alpha finished its step; nothing after it ran");
    assert.equal((await getRun(rt.sql, runId)).status, "cancelled");
    assert.deepEqual((await rt.events(runId)).filter((e) => e.step === null).map((e) => e.type), ["created", "started", "cancelled"]);
  } finally {
    rt.stack.simulator.reset();
  }
});


test("a swarm's run budget stops the run at the step boundary where it is exceeded", async () => {
  rt.stack.simulator.reset();
  const loaded = await rt.load(`${TWO_WORKERS}\nbudget: { usd: 0.0000001, period: run }\n`);
  const outcome = await rt.run(loaded, "expensive");
  assert.equal(outcome.status, "failed");
  assert.match(outcome.error!, /budget exceeded: the swarm's run budget is \$1e-7 and \$0\.\d+ is spent/);
  assert.equal((await rt.steps(outcome.runId)).length, 1, "stopped after the first step");
});

test("a swarm whose daily budget is spent fails its next run before any step: its first step, opened with the run's start, writes nothing", async () => {
  rt.stack.simulator.reset();
  const loaded = await rt.load(`${TWO_WORKERS.replace("name: duo", "name: duo-daily")}\nbudget: { usd: 0.0000001, period: daily }\n`);
  const spender = await rt.run(loaded, "spend it");
  assert.equal(spender.status, "failed");
  assert.equal((await rt.steps(spender.runId)).length, 1);
  const calls = rt.stack.simulator.calls().length;
  const next = await rt.run(loaded, "too late");
  assert.equal(next.status, "failed");
  assert.match(next.error!, /budget exceeded: the swarm's daily budget/);
  assert.deepEqual(await rt.steps(next.runId), [], "no step task");
  assert.deepEqual((await rt.events(next.runId)).map((e) => [e.step, e.type]), [[null, "created"], [null, "started"], [null, "failed"]]);
  assert.equal(rt.stack.simulator.calls().length, calls, "no model called");
});

test("a run that ends before its graph runs (taken too often, or cancelled while no worker held it) opens no step and calls no model", async () => {
  const loaded = await rt.load(TWO_WORKERS);
  const calls = rt.stack.simulator.calls().length;

  const tired = await rt.start(loaded, "taken too often");
  await rt.sql`UPDATE swarm_runs SET attempts = 5 WHERE id = ${tired}`;
  const gaveUp = await executeRun(rt.deps({ maxAttempts: 5 }), tired);
  assert.equal(gaveUp.status, "failed");
  assert.match(gaveUp.error!, /gave up after 5 attempts/);

  const orphan = await rt.start(loaded, "cancelled while orphaned");
  await rt.sql`UPDATE swarm_runs SET status = 'running', worker = 'gone', lease_expires_at = now() - interval '1 second', cancel_requested_at = now() WHERE id = ${orphan}`;
  const cancelled = await executeRun(rt.deps(), orphan);
  assert.equal(cancelled.status, "cancelled");
  assert.equal(cancelled.error, "cancelled before it started");

  for (const runId of [tired, orphan]) {
    assert.deepEqual(await rt.steps(runId), [], "no step task");
    assert.deepEqual((await rt.events(runId)).map((e) => [e.step, e.type]).slice(-2), [[null, "started"], [null, runId === tired ? "failed" : "cancelled"]]);
    assert.ok((await rt.events(runId)).every((e) => e.step === null), "no step events");
  }
  assert.equal(rt.stack.simulator.calls().length, calls, "no model called");
});
