import { test } from "node:test";
import assert from "node:assert/strict";
import { vote } from "../../../workers/swarm/runtime/panel.ts";
import { transcript } from "../../../workers/swarm/runtime/agents.ts";
import { panelAgrees, poolVotes } from "../../../workers/swarm/runtime/round-table.ts";
import { tallyVotes, taskWithWork } from "../../../workers/temporal/plan.ts";

// The same panel must reach the same decision, and a worker see the same transcript, on either engine.
const ballots = [
  [
    { agent: "a", answer: "Cache it", confidence: 0.6 },
    { agent: "b", answer: "  cache   IT ", confidence: 0.3 },
    { agent: "c", answer: "Do not", confidence: 0.8 },
  ],
  [
    { agent: "a", answer: "x", confidence: 0.5 },
    { agent: "b", answer: "y", confidence: 0.5 },
  ],
  [
    { agent: "a", answer: "x", confidence: 7 },
    { agent: "b", answer: "y", confidence: 0.6 },
    { agent: "c", answer: "y", confidence: 0.5 },
  ],
  [
    { agent: "a", answer: "x", confidence: Number.NaN },
    { agent: "b", answer: "y", confidence: 0.1 },
  ],
];

test("both engines take the same panel decision", () => {
  for (const answers of ballots) assert.equal(vote(answers)[0]!.answer, tallyVotes(answers).answer);
  assert.deepEqual(
    ballots.map((b) => tallyVotes(b).answer),
    ["Cache it", "x", "y", "y"],
  );
});

test("pools keep their voters, heaviest first, and clamp each confidence to [0, 1]", () => {
  assert.deepEqual(poolVotes(ballots[0]!), [
    { answer: "Cache it", weight: 0.8999999999999999, voters: ["a", "b"] },
    { answer: "Do not", weight: 0.8, voters: ["c"] },
  ]);
  assert.deepEqual(vote(ballots[0]!), [
    { answer: "Cache it", weight: 0.9 },
    { answer: "Do not", weight: 0.8 },
  ]);
  assert.equal(poolVotes(ballots[2]!)[1]!.weight, 1);
  assert.deepEqual(poolVotes([]), []);
});

test("a panel agrees when every answer says the same, ignoring case and spacing", () => {
  assert.equal(panelAgrees([{ agent: "a", answer: "Later", confidence: 1 }, { agent: "b", answer: " later ", confidence: 0 }]), true);
  assert.equal(panelAgrees(ballots[0]!), false);
});

test("both engines show a worker the same transcript", () => {
  const turns = [
    { step: "1", agent: "scout", ok: true, text: "found it" },
    { step: "2", agent: "coder", ok: false, text: "timeout" },
  ];
  const records = turns.map((t) => ({ step: t.step, node: t.agent, instruction: "", status: t.ok ? ("completed" as const) : ("failed" as const), output: t.text }));
  assert.equal(transcript("Do it", turns), taskWithWork("Do it", records));
  assert.equal(transcript("Do it", turns), "Task:\nDo it\n\nWork so far:\n[scout] found it\n[coder] FAILED: timeout\n");
  assert.equal(transcript("Do it", []), "Task:\nDo it\n");
});
