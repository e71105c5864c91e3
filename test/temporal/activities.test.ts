import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { MockActivityEnvironment } from "@temporalio/testing";
import { ApplicationFailure, CancelledFailure } from "@temporalio/common";
import { startStack, type Stack } from "../helpers/stack.ts";
import { createActivities, type TurnContext } from "../../workers/temporal/activities.ts";
import { runtimeActivityDeps } from "../../workers/temporal/runtime-deps.ts";
import { PERMANENT_ERROR, RUN_NOT_FOUND_ERROR, TRANSIENT_ERROR, modelAgent, routingChoices, type PanelAnswer, type Review, type SupervisorDecision, type SwarmActivities, type WorkerInput } from "../../workers/temporal/plan.ts";
import { reviewDesk } from "./scenarios.ts";

/**
 * The activities against the real stack (gateway + simulated providers + Postgres), each run the
 * way a Temporal worker runs it (MockActivityEnvironment gives it the attempt number, heartbeats
 * and cancellation). Failures come from real gateway responses, scripted in the simulator over
 * its HTTP control API.
 */

let stack: Stack;
let sql: postgres.Sql;
let activities: SwarmActivities;
let unauthorised: SwarmActivities;
/** The signal the last worker turn was given, to see a cancellation reach the call. */
let lastSignal: AbortSignal | undefined;

const writer = modelAgent(reviewDesk.spec, "writer");
const lead = modelAgent(reviewDesk.spec, "lead");

async function script(model: string, behaviour: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${stack.simulator.url}/__sim/script`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, behaviour }),
  });
  assert.equal(response.status, 200, await response.text());
}

async function newRun(engine = "temporal"): Promise<string> {
  const id = `run_${Math.random().toString(36).slice(2, 12)}`;
  const loaded = { spec: reviewDesk.spec, file: "review-desk.yaml", subswarms: {}, skills: {} };
  await sql`INSERT INTO swarm_runs (id, swarm, swarm_version, spec, input, trigger, engine)
            VALUES (${id}, 'review-desk', '1', ${sql.json(loaded)}, 'Write a release note.', 'cli', ${engine})`;
  return id;
}

/** A writer step of `runId`; the task text is unique so the gateway's cache never answers it. */
function writerStep(runId: string, step = "1"): WorkerInput {
  return {
    runId,
    swarm: "review-desk",
    agentSwarm: "review-desk",
    agent: "writer",
    step,
    spec: writer,
    task: `Write a release note (${runId}).`,
    instruction: "Draft it.",
    transcript: [],
  };
}

async function events(runId: string): Promise<{ type: string; step: string | null; task_id: string | null; attempt?: number; error?: string }[]> {
  const rows = await sql<{ payload: never }[]>`SELECT payload FROM run_events WHERE run_id = ${runId} ORDER BY seq`;
  return rows.map((r) => r.payload);
}

async function task(runId: string, step: string) {
  const [row] = await sql<{ id: string; status: string; error: string | null; result: { output?: string } | null }[]>`
    SELECT id, status, error, result FROM tasks WHERE idempotency_key = ${`${runId}:${step}`}`;
  return row;
}

function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => assert.fail(`expected a failure, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
}

before(async () => {
  stack = await startStack();
  sql = postgres(stack.databaseUrl, { max: 3, onnotice: () => {} });
  const gateway = { url: stack.gateway.url, key: stack.key };
  const deps = runtimeActivityDeps({ sql, gateway, worker: "temporal-test" });
  const turns = { ...deps.turns, work: (input: WorkerInput, turn: TurnContext) => ((lastSignal = turn.signal), deps.turns.work(input, turn)) };
  activities = createActivities({ ...deps, turns, heartbeatMs: 20, random: () => 0.5 });
  unauthorised = createActivities({ ...runtimeActivityDeps({ sql, gateway: { ...gateway, key: "gdz_not_a_key" }, worker: "temporal-test" }), random: () => 0.5 });
});

after(async () => {
  await sql?.end();
  await stack?.close();
});

describe("model steps through the gateway", () => {
  test("a worker's turn answers, heartbeats, and leaves a closed task, events and an attributed audit row", async () => {
    const runId = await newRun();
    const env = new MockActivityEnvironment({ attempt: 1 });
    let beats = 0;
    env.on("heartbeat", () => (beats += 1));
    const output = (await env.run(activities.work, writerStep(runId))) as string;
    assert.match(output, /Simulated glm-4\.7 reply/);
    assert.ok(beats >= 1, "the step heartbeats while it runs");

    const t = await task(runId, "1");
    assert.equal(t?.status, "closed");
    assert.equal(t?.result?.output, output);
    assert.deepEqual((await events(runId)).map((e) => [e.type, e.step, e.task_id]), [
      ["created", "1", t!.id],
      ["started", "1", t!.id],
      ["completed", "1", t!.id],
    ]);
    const audit = (await stack.auditRows()).find((r) => r.task === t!.id);
    assert.equal(audit?.swarm, "review-desk");
    assert.equal(audit?.agent, "writer");
  });

  test("the supervisor routes with the route tool", async () => {
    const runId = await newRun();
    const decision = (await new MockActivityEnvironment({ attempt: 1 }).run(activities.supervise, {
      runId,
      swarm: "review-desk",
      agentSwarm: "review-desk",
      agent: "lead",
      step: "0",
      spec: lead,
      task: `Decide (${runId}).`,
      workers: routingChoices(reviewDesk.spec),
      transcript: [],
      turn: 1,
    })) as SupervisorDecision;
    // The simulator routes to a worker that has not answered yet; its reason becomes the instruction.
    assert.ok("next" in decision, JSON.stringify(decision));
    assert.equal(decision.next, "writer");
    assert.equal(typeof decision.instruction, "string");
  });

  test("a panelist answers with the answer tool, and a critic reviews the final answer", async () => {
    const runId = await newRun();
    const base = { runId, swarm: "review-desk", agentSwarm: "review-desk", task: `Vote (${runId}).`, transcript: [] };
    const answer = (await new MockActivityEnvironment({ attempt: 1 }).run(activities.deliberate, {
      ...base,
      agent: "writer",
      step: "1.r2-writer",
      spec: writer,
      panel: "council",
      round: 2,
      previousRound: [{ agent: "writer", answer: "Later", confidence: 0.4 }],
    })) as PanelAnswer;
    assert.equal(answer.agent, "writer");
    assert.equal(typeof answer.answer, "string");
    assert.ok(answer.answer.length > 0);
    assert.ok(answer.confidence >= 0 && answer.confidence <= 1);

    const review = (await new MockActivityEnvironment({ attempt: 1 }).run(activities.review, {
      ...base,
      agent: "critic",
      step: "2.review-critic",
      spec: modelAgent(reviewDesk.spec, "critic"),
      answer: "Ship it.",
    })) as Review;
    assert.equal(review.agent, "critic");
    assert.match(review.review, /Simulated/);
    // The critic names a family: it asks the gateway for the family, and the gateway picks the model.
    const audit = (await stack.auditRows()).find((r) => r.agent === "critic" && r.swarm === "review-desk");
    assert.deepEqual([audit?.model_requested, audit?.model_used], ["claude", "claude-sonnet-4.5"]);
  });

  test("a transient gateway failure is retryable, with a jittered delay, and the retry is an event", async () => {
    const runId = await newRun();
    await script("glm-4.7", { failStatus: 503 });
    try {
      const first = await caught(new MockActivityEnvironment({ attempt: 1 }).run(activities.work, writerStep(runId)));
      assert.ok(first instanceof ApplicationFailure, String(first));
      assert.equal(first.type, TRANSIENT_ERROR);
      assert.equal(first.nonRetryable, false);
      assert.match(first.message, /50[234]/);
      // attempt 1, base 1 s, random 0.5: halfway between 0.5 s and 1 s.
      assert.equal(first.nextRetryDelay, 750);

      const second = await caught(new MockActivityEnvironment({ attempt: 2 }).run(activities.work, writerStep(runId)));
      assert.ok(second instanceof ApplicationFailure);
      assert.equal(second.nextRetryDelay, 1500);
    } finally {
      await script("glm-4.7", {});
    }
    const output = (await new MockActivityEnvironment({ attempt: 3 }).run(activities.work, writerStep(runId))) as string;
    assert.match(output, /Simulated glm-4\.7/);
    const seen = await events(runId);
    assert.deepEqual(seen.map((e) => [e.type, e.attempt ?? null]), [
      ["created", null],
      ["started", null],
      ["retrying", 1],
      ["retrying", 2],
      ["completed", null],
    ]);
    assert.equal((await task(runId, "1"))?.status, "closed");
  });

  test("a refused key is a permanent failure, and the failed step keeps its error", async () => {
    const runId = await newRun();
    const failure = await caught(new MockActivityEnvironment({ attempt: 1 }).run(unauthorised.work, writerStep(runId)));
    assert.ok(failure instanceof ApplicationFailure, String(failure));
    assert.equal(failure.type, PERMANENT_ERROR);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /401/);

    // What the workflow does with it: the step is failed with the error kept.
    await new MockActivityEnvironment().run(activities.stepFailed, { runId, swarm: "review-desk", agent: "writer", step: "1", error: failure.message });
    const t = await task(runId, "1");
    assert.equal(t?.status, "failed");
    assert.equal(t?.error, failure.message);
    const failed = (await events(runId)).find((e) => e.type === "failed");
    assert.equal(failed?.error, failure.message);
    assert.equal(failed?.task_id, t!.id);
  });

  test("a bad request from upstream (400) fails the step for good", async () => {
    const runId = await newRun();
    await script("glm-4.7", { failStatus: 400 });
    try {
      const failure = await caught(new MockActivityEnvironment({ attempt: 1 }).run(activities.work, writerStep(runId)));
      assert.ok(failure instanceof ApplicationFailure, String(failure));
      assert.equal(failure.nonRetryable, true, failure.message);
      assert.equal(failure.type, PERMANENT_ERROR);
    } finally {
      await script("glm-4.7", {});
    }
  });

  test("cancelling the activity ends the attempt as cancelled and aborts the call in flight", async () => {
    const runId = await newRun();
    await script("glm-4.7", { latencyMs: 30_000 });
    try {
      const env = new MockActivityEnvironment({ attempt: 1 });
      const running = env.run(activities.work, writerStep(runId));
      // Cancel once the step is under way (it has heartbeated), as Temporal delivers it.
      await new Promise<void>((resolve) => env.once("heartbeat", () => resolve()));
      env.cancel();
      const failure = await caught(running);
      assert.ok(failure instanceof CancelledFailure, String(failure));
      assert.equal(lastSignal?.aborted, true, "the gateway call was given the activity's cancellation signal");
    } finally {
      await script("glm-4.7", {});
    }
    const t = await task(runId, "1");
    assert.equal(t?.status, "in_progress", "the workflow, not the activity, records the cancelled step");
    await new MockActivityEnvironment().run(activities.stepFailed, { runId, swarm: "review-desk", agent: "writer", step: "1", error: "cancelled", cancelled: true });
    assert.equal((await task(runId, "1"))?.status, "cancelled");
    assert.ok((await events(runId)).some((e) => e.type === "cancelled" && e.step === "1"));
  });
});

describe("run bookkeeping", () => {
  test("runUpdate moves the run row forward and emits run events, once", async () => {
    const runId = await newRun();
    const env = new MockActivityEnvironment();
    await env.run(activities.runUpdate, { runId, swarm: "review-desk", status: "running" as const });
    await env.run(activities.runUpdate, { runId, swarm: "review-desk", status: "running" as const });
    await env.run(activities.runUpdate, { runId, swarm: "review-desk", status: "completed" as const, output: "done" });
    // A repeated attempt (Temporal delivers at least once) changes nothing.
    await env.run(activities.runUpdate, { runId, swarm: "review-desk", status: "failed" as const, error: "late" });
    const [row] = await sql<{ status: string; output: string; error: string | null; worker: string; started_at: Date | null; finished_at: Date | null }[]>`
      SELECT status, output, error, worker, started_at, finished_at FROM swarm_runs WHERE id = ${runId}`;
    assert.equal(row?.status, "completed");
    assert.equal(row?.output, "done");
    assert.equal(row?.error, null);
    assert.equal(row?.worker, "temporal-test");
    assert.ok(row?.started_at && row.finished_at);
    const types = (await events(runId)).map((e) => [e.type, e.step]);
    assert.deepEqual(types, [
      ["created", null],
      ["started", null],
      ["completed", null],
    ]);
  });

  test("a run cancelled while queued answers cancelled and announces nothing", async () => {
    const runId = await newRun();
    await sql`UPDATE swarm_runs SET status = 'cancelled', finished_at = now(), cancel_requested_at = now() WHERE id = ${runId}`;
    const answer = await new MockActivityEnvironment().run(activities.runUpdate, { runId, swarm: "review-desk", status: "running" as const });
    assert.deepEqual(answer, { status: "cancelled" });
    assert.deepEqual(await events(runId), []);
    const [row] = await sql<{ status: string; started_at: Date | null }[]>`SELECT status, started_at FROM swarm_runs WHERE id = ${runId}`;
    assert.deepEqual([row?.status, row?.started_at], ["cancelled", null]);
  });

  test("an unknown run, or one of the other engine, is refused for good", async () => {
    const env = new MockActivityEnvironment();
    const missing = await caught(env.run(activities.runUpdate, { runId: "run_nosuchrun", swarm: "review-desk", status: "running" as const }));
    assert.ok(missing instanceof ApplicationFailure);
    assert.equal(missing.type, RUN_NOT_FOUND_ERROR);
    assert.equal(missing.nonRetryable, true);

    const langgraph = await newRun("langgraph");
    const other = await caught(env.run(activities.runUpdate, { runId: langgraph, swarm: "review-desk", status: "running" as const }));
    assert.ok(other instanceof ApplicationFailure);
    assert.match(other.message, /langgraph engine/);
    const [row] = await sql<{ status: string }[]>`SELECT status FROM swarm_runs WHERE id = ${langgraph}`;
    assert.equal(row?.status, "queued");
  });
});
