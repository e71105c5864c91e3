import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  PERMANENT_ERROR,
  PlanError,
  criticsOf,
  initialNodes,
  jitteredDelayMs,
  maxTurnsError,
  modelStepPolicy,
  panelAgrees,
  resolveTarget,
  routingChoices,
  stepPath,
  tallyVotes,
  taskWithWork,
} from "../../workers/temporal/plan.ts";
import { classifyFailure } from "../../workers/temporal/activities.ts";
import { reviewDesk, roundTable } from "./scenarios.ts";

describe("workflow decisions (plan.ts)", () => {
  test("a supervisor's choice resolves to a worker, a panel or a nested swarm", () => {
    assert.equal(resolveTarget(roundTable, "coder").kind, "worker");
    assert.equal(resolveTarget(roundTable, "council").kind, "panel");
    const nested = resolveTarget(roundTable, "researcher");
    assert.equal(nested.kind, "swarm");
    assert.equal(nested.kind === "swarm" && nested.swarm.spec.name, "research");
  });

  test("names outside topology.workers, or a nested swarm not loaded, are refused with a PlanError", () => {
    assert.throws(() => resolveTarget(roundTable, "lead"), PlanError);
    assert.throws(() => resolveTarget(roundTable, "FINISH"), /not one of council, coder, researcher/);
    assert.throws(() => resolveTarget({ spec: roundTable.spec }, "researcher"), /was not loaded/);
  });

  test("the confidence-weighted vote pools equal answers and breaks ties by order", () => {
    const vote = tallyVotes([
      { agent: "a", answer: "Yes", confidence: 0.6 },
      { agent: "b", answer: "No", confidence: 0.9 },
      { agent: "c", answer: " yes ", confidence: 0.5 },
    ]);
    assert.deepEqual(vote, { answer: "Yes", weight: 1.1, voters: ["a", "c"] });
    assert.equal(tallyVotes([{ agent: "a", answer: "x", confidence: 0.5 }, { agent: "b", answer: "y", confidence: 0.5 }]).answer, "x");
    // Out-of-range confidences count as their nearest bound, never as more than 1 vote.
    assert.equal(tallyVotes([{ agent: "a", answer: "x", confidence: 7 }, { agent: "b", answer: "y", confidence: 0.5 }, { agent: "c", answer: "y", confidence: 0.6 }]).answer, "y");
    assert.equal(tallyVotes([{ agent: "a", answer: "x", confidence: Number.NaN }, { agent: "b", answer: "y", confidence: 0.1 }]).answer, "y");
    assert.throws(() => tallyVotes([]), PlanError);
    assert.equal(panelAgrees([{ agent: "a", answer: "Later", confidence: 1 }, { agent: "b", answer: "later ", confidence: 0 }]), true);
    assert.equal(panelAgrees([{ agent: "a", answer: "Later", confidence: 1 }, { agent: "b", answer: "now", confidence: 0 }]), false);
  });

  test("step paths, transcripts and errors read as the LangGraph runtime's", () => {
    assert.equal(stepPath("", 0), "0");
    assert.equal(stepPath("5.", 2, "r1-ada"), "5.2.r1-ada");
    assert.equal(maxTurnsError(3), "stopped unfinished: the supervisor made max_turns (3) decisions");
    assert.equal(taskWithWork("Do it", []), "Task:\nDo it\n");
    assert.equal(
      taskWithWork("Do it", [
        { step: "1", node: "a", instruction: "", status: "completed", output: "done" },
        { step: "3", node: "b", instruction: "", status: "failed", output: "boom" },
      ]),
      "Task:\nDo it\n\nWork so far:\n[a] done\n[b] FAILED: boom\n",
    );
  });

  test("nodes, routing choices and critics come from the swarm file", () => {
    assert.deepEqual(routingChoices(roundTable.spec), [
      { name: "council", role: "decides together" },
      { name: "coder" },
      { name: "researcher", role: "looks things up" },
    ]);
    assert.deepEqual(criticsOf(reviewDesk.spec), ["critic"]);
    assert.deepEqual(
      initialNodes(reviewDesk).map((n) => [n.name, n.kind, n.status]),
      [
        ["lead", "supervisor", "pending"],
        ["writer", "worker", "pending"],
        ["critic", "critic", "pending"],
      ],
    );
  });

  test("activity options follow the agent's limits", () => {
    const policy = modelStepPolicy({ max_calls: 20, max_tokens: 2048, timeout_seconds: 45, max_attempts: 3 });
    assert.equal(policy.startToCloseTimeout, "45s");
    assert.equal(policy.heartbeatTimeout, "30s");
    assert.equal(policy.retry.maximumAttempts, 3);
    assert.equal(policy.retry.backoffCoefficient, 2);
    assert.deepEqual(policy.retry.nonRetryableErrorTypes, [PERMANENT_ERROR]);
  });

  test("retry delays grow exponentially, capped, with jitter in the upper half", () => {
    assert.equal(jitteredDelayMs(1, 0), 500);
    assert.equal(jitteredDelayMs(1, 0.999999), 1000);
    assert.equal(jitteredDelayMs(3, 0.5), 3000);
    assert.equal(jitteredDelayMs(20, 0), 15_000);
    assert.equal(jitteredDelayMs(20, 1), 30_000);
    assert.equal(jitteredDelayMs(2, -4), 1000);
  });
});

describe("which failures are retried (classifyFailure)", () => {
  const withStatus = (status: number, extra: object = {}) => Object.assign(new Error(`gateway answered ${status}`), { status, ...extra });

  test("the gateway's refusals are permanent", () => {
    for (const status of [400, 401, 403, 404, 422]) assert.equal(classifyFailure(withStatus(status)).permanent, true, String(status));
    assert.equal(classifyFailure(withStatus(429, { code: "budget_exceeded" })).permanent, true);
    assert.equal(classifyFailure(Object.assign(new Error("bad route"), { retryable: false })).permanent, true);
  });

  test("rate limits, upstream failures and lost connections are transient", () => {
    for (const status of [408, 429, 500, 502, 503, 504]) assert.equal(classifyFailure(withStatus(status)).permanent, false, String(status));
    assert.equal(classifyFailure(new Error("fetch failed")).permanent, false);
    assert.equal(classifyFailure("a string thrown").permanent, false);
    assert.equal(classifyFailure(undefined).message, "undefined");
    const limited = classifyFailure(withStatus(429, { code: "rate_limited", headers: new Headers({ "retry-after": "7" }) }));
    assert.deepEqual([limited.permanent, limited.retryAfterMs], [false, 7000]);
    assert.equal(classifyFailure(withStatus(429, { headers: new Headers({ "retry-after": "soon" }) })).retryAfterMs, undefined);
  });
});
