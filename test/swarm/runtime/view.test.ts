import assert from "node:assert/strict";
import { test } from "node:test";
import { renderRunGraph, type RunDetails, type StepView } from "../../../workers/swarm/runs/details.ts";

const at = new Date("2026-01-01T00:00:00Z");
const step = (s: Partial<StepView> & Pick<StepView, "step" | "agent" | "status">): StepView => ({
  task_id: `gz-${s.step}`,
  title: "t",
  model: null,
  tokens: 0,
  cost_usd: 0,
  error: null,
  started_at: at,
  closed_at: null,
  ...s,
});

function details(status: RunDetails["run"]["status"], steps: StepView[]): RunDetails {
  return {
    run: { id: "run_0123456789", swarm: "duo", swarm_version: "1", input: "x", status, trigger: "cli", engine: "langgraph", output: null, error: null, worker: "w1", cancel_requested_at: null, lease_expires_at: null, heartbeat_at: null, attempts: 1, created_at: at, started_at: at, finished_at: null },
    topology: { supervisor: "lead", workers: [{ name: "alpha", kind: "agent" }, { name: "jury", kind: "panel" }, { name: "desk", kind: "swarm" }] },
    steps,
    usage: { tokens: 10, cost_usd: 0.5 },
    audit: { calls: 2, tokens: 10, cost_usd: 0.5 },
  };
}

test("the graph shows each node's state, so the node a run waits on stands out", () => {
  const text = renderRunGraph(
    details("running", [
      step({ step: "0", agent: "lead", status: "closed" }),
      step({ step: "1", agent: "alpha", status: "failed", error: "gateway answered 400: bad" }),
      step({ step: "2", agent: "lead", status: "closed" }),
      step({ step: "3", agent: "jury", status: "in_progress" }),
      step({ step: "3.r1-a", agent: "lead", status: "closed" }),
    ]),
    new Date(at.getTime() + 42_000),
  );
  const lines = text.split("\n");
  assert.match(lines[0]!, /^run_0123456789 +duo v1 +RUNNING on w1$/);
  assert.match(text, /^\[lead\] +supervisor +✔ done +\(2 turns\)$/m, "inner steps of a panel do not count as the node's turns");
  assert.match(text, /^ {2}├─► \[alpha\] +worker +✖ failed +\(1 turn\): gateway answered 400: bad$/m);
  assert.match(text, /^ {2}├─► \[jury\] +panel +● working for 42s +\(1 turn\)$/m);
  assert.match(text, /^ {2}└─► \[desk\] +swarm +· idle$/m);
});
