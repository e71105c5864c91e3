import { test } from "node:test";
import assert from "node:assert/strict";
import { panelQuestion, readPanelAnswer, vote } from "../../../workers/swarm/runtime/panel.ts";
import { transcript } from "../../../workers/swarm/runtime/agents.ts";
import { panelAgrees, poolVotes, workerChoices } from "../../../workers/swarm/runtime/round-table.ts";
import { supervisorPrompt } from "../../../workers/swarm/runtime/route.ts";
import { swarmSchema } from "../../../workers/swarm/spec/schema.ts";
import { routingChoices, tallyVotes, taskWithWork } from "../../../workers/temporal/plan.ts";

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

test("the supervisor sees the same team on both engines: roles, a panel's role, or what a panel does", () => {
  const spec = swarmSchema.parse({
    name: "desk",
    version: 1,
    agents: {
      lead: { type: "supervisor", model: "glm-5.1" },
      writer: { type: "worker", model: "glm-4.7", role: "writes" },
      coder: { type: "worker", model: "glm-4.7" },
      a: { type: "worker", model: "glm-4.7" },
      b: { type: "worker", model: "claude-sonnet-4.5" },
    },
    panels: { jury: { agents: ["a", "b"] } },
    topology: { supervisor: "lead", workers: ["writer", "coder", "jury"] },
  });
  assert.deepEqual(workerChoices(spec), [{ name: "writer", role: "writes" }, { name: "coder" }, { name: "jury", role: "a panel that votes on an answer" }]);
  assert.deepEqual(routingChoices(spec), workerChoices(spec));
  assert.equal(
    supervisorPrompt("  Lead the desk. ", workerChoices(spec), 1),
    "Lead the desk.\n\nYour team:\n- writer: writes\n- coder: worker\n- jury: a panel that votes on an answer\n\nCall the route tool with who works next, or FINISH when the task is done.",
  );
});

test("a panelist is asked the same on both engines, and its answer read the same", () => {
  assert.equal(panelQuestion("Task:\nX\n", "jury", undefined, 1, []), 'Task:\nX\n\nYou sit on the panel "jury". Answer the task with the answer tool.');
  assert.equal(
    panelQuestion("Task:\nX\n", "jury", "decides", 2, [{ agent: "a", answer: "yes\nsure", confidence: 0.7 }]),
    'Task:\nX\n\nYou sit on the panel "jury" (decides). Answer the task with the answer tool.\n\nThe panel\'s answers in round 1:\n[a] (confidence 0.7) yes sure\nRevise your answer if they convince you.',
  );
  assert.deepEqual(readPanelAnswer('{"answer":"yes","confidence":"0.8"}', null), { answer: "yes", confidence: 0.8 });
  assert.deepEqual(readPanelAnswer('{"answer":"yes","confidence":3}', " maybe "), { answer: "maybe", confidence: 0.5 });
  assert.deepEqual(readPanelAnswer("{not json", "text"), { answer: "text", confidence: 0.5 });
  assert.deepEqual(readPanelAnswer('{"answer":"","confidence":0.5}', undefined), undefined);
  assert.equal(readPanelAnswer(undefined, "   "), undefined);
});
