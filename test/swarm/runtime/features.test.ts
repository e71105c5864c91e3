import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { vote } from "../../../workers/swarm/runtime/panel.ts";
import type { PanelTranscript } from "../../../workers/swarm/runtime/panel.ts";
import { startRuntimeStack, tempDir, type RuntimeStack } from "./helpers.ts";

const MCP_SERVER = fileURLToPath(new URL("./fixtures/mcp-server.ts", import.meta.url));
const TSX = import.meta.resolve("tsx");

let rt: RuntimeStack;
before(async () => {
  rt = await startRuntimeStack();
});
after(async () => {
  await rt?.close();
});

const PANEL = `
name: court
version: 1
agents:
  chair: { type: supervisor, model: glm-5.1 }
  a: { type: worker, model: glm-4.7 }
  b: { type: worker, family: gemini }
  c: { type: worker, family: claude }
panels:
  jury: { agents: [a, b, c], rounds: 3 }
topology: { supervisor: chair, workers: [jury] }
`;

test("a panel: three families answer with confidences, revise after seeing each other, and a weighted vote decides; the transcript is kept", async () => {
  rt.stack.simulator.reset();
  const outcome = await rt.run(await rt.load(PANEL), "Is it yes or no?");
  assert.equal(outcome.status, "completed", outcome.error ?? "");
  const steps = await rt.steps(outcome.runId);
  const panel = steps.find((s) => s.assignee === "jury")!;
  assert.equal(panel.status, "closed");
  const transcript = (panel.result as { data: PanelTranscript }).data;
  // Round 1: each answers on its own; round 2: all adopt the most confident answer; agreement ends it.
  assert.equal(transcript.rounds.length, 2);
  assert.deepEqual(transcript.rounds[0]!.map((a) => a.agent), ["a", "b", "c"]);
  assert.equal(new Set(transcript.rounds[0]!.map((a) => a.answer)).size, 3);
  const best = [...transcript.rounds[0]!].sort((x, y) => y.confidence - x.confidence)[0]!;
  assert.ok(transcript.rounds[1]!.every((a) => a.answer === best.answer));
  assert.equal(transcript.decision, best.answer);
  assert.equal(outcome.output, best.answer, "the supervisor finishes with the panel's decision");
  // Each panel answer is a step of its own (a durable task), under the panel's step.
  const answers = steps.filter((s) => s.idempotency_key!.startsWith(`${outcome.runId}:1.r`));
  assert.deepEqual(answers.map((s) => s.idempotency_key!.slice(outcome.runId.length + 1)), ["1.r1-a", "1.r1-b", "1.r1-c", "1.r2-a", "1.r2-b", "1.r2-c"]);
  const models = rt.stack.simulator.calls().map((c) => c.model);
  assert.deepEqual(models.slice(1, 4), ["glm-4.7", "gemini-3.1-pro-low", "claude-sonnet-4.5"]);
  // Within a round each panelist's step opens in the transaction that closed the one before
  // (an event's created_at is its transaction's now()); a round's first opens on its own.
  const at = new Map((await rt.sql<{ key: string; at: Date }[]>`
    SELECT payload->>'step' || ':' || (payload->>'type') AS key, created_at AS at FROM run_events WHERE run_id = ${outcome.runId}`).map((r) => [r.key, r.at.getTime()]));
  for (const round of ["r1", "r2"]) {
    assert.equal(at.get(`1.${round}-b:created`), at.get(`1.${round}-a:completed`), `${round}: b opened with a's close`);
    assert.equal(at.get(`1.${round}-c:created`), at.get(`1.${round}-b:completed`), `${round}: c opened with b's close`);
  }
  assert.notEqual(at.get("1.r2-a:created"), at.get("1.r1-c:completed"), "the next round is not known until the votes are in");
});

test("the vote pools confidence over equal answers; ties go to the earlier answer", () => {
  assert.deepEqual(vote([
    { agent: "a", answer: "Yes", confidence: 0.6 },
    { agent: "b", answer: "no", confidence: 0.9 },
    { agent: "c", answer: " yes ", confidence: 0.5 },
  ]), [{ answer: "Yes", weight: 1.1 }, { answer: "no", weight: 0.9 }]);
  assert.equal(vote([{ agent: "a", answer: "x", confidence: 0.5 }, { agent: "b", answer: "y", confidence: 0.5 }])[0]!.answer, "x");
});

test("a nested swarm runs as a worker: its steps are tasks of the same run, under the parent's step", async () => {
  rt.stack.simulator.reset();
  const loaded = await rt.load(
    `
name: outer
version: 1
agents:
  boss: { type: supervisor, model: glm-5.1 }
  writer: { type: worker, model: glm-4.7 }
  desk: { type: swarm, swarm: inner.yaml, role: checks }
topology: { supervisor: boss, workers: [writer, desk] }
`,
    {
      "inner.yaml": `
name: inner
version: 1
agents:
  chief: { type: supervisor, family: gemini }
  checker: { type: worker, model: claude-sonnet-4.5 }
topology: { supervisor: chief, workers: [checker] }
`,
    },
  );
  const outcome = await rt.run(loaded, "write and check");
  assert.equal(outcome.status, "completed", outcome.error ?? "");
  const steps = await rt.steps(outcome.runId);
  const keys = steps.map((s) => `${s.idempotency_key!.slice(outcome.runId.length + 1)} ${s.assignee}`);
  assert.deepEqual(keys, ["0 boss", "1 writer", "2 boss", "3 desk", "3.0 chief", "3.1 checker", "3.2 chief", "4 boss"]);
  assert.ok(steps.every((s) => s.status === "closed"));
  assert.match(outcome.output!, /Simulated claude-sonnet-4.5 reply/, "the nested swarm's answer is the desk's turn");
  const audit = (await rt.stack.auditRows()).filter((r) => r.agent === "checker");
  assert.deepEqual(audit.map((r) => r.swarm), ["inner"]);
});

test("skills: each SKILL.md body is put before the agent's instructions", async () => {
  rt.stack.simulator.reset();
  const loaded = await rt.load(
    `
name: skilled
version: 1
agents:
  boss: { type: supervisor, model: glm-5.1 }
  writer: { type: worker, model: glm-4.7, instructions: "Write it.", skills: [skills/cite] }
topology: { supervisor: boss, workers: [writer] }
`,
    { "skills/cite/SKILL.md": "---\nname: cite\ndescription: Cite every source.\n---\nAlways give a URL for each fact.\n" },
  );
  const outcome = await rt.run(loaded, "skills");
  assert.equal(outcome.status, "completed", outcome.error ?? "");
  const [row] = (await rt.stack.auditRows()).filter((r) => r.agent === "writer" && r.swarm === "skilled") as unknown as { request_body: { messages: { role: string; content: string }[] } }[];
  const system = row!.request_body.messages[0]!;
  assert.equal(system.role, "system");
  assert.match(system.content, /^## Skill: cite\nCite every source\.\n\nAlways give a URL for each fact\.\n\nWrite it\.$/);
});

test("MCP tools: the agent's server is started, its tools offered, the model's call executed, and the result fed back", async () => {
  rt.stack.simulator.reset();
  const dir = await tempDir();
  const log = path.join(dir.dir, "calls.log");
  process.env.TEST_MCP_LOG = log;
  try {
    const loaded = await rt.load(`
name: tooled
version: 1
mcp_servers:
  facts: { command: ${JSON.stringify(process.execPath)}, args: ["--import", ${JSON.stringify(TSX)}, ${JSON.stringify(MCP_SERVER)}], env: { MCP_LOG: "env:TEST_MCP_LOG" } }
agents:
  boss: { type: supervisor, model: glm-5.1 }
  researcher: { type: worker, model: glm-4.7, tools: [facts] }
topology: { supervisor: boss, workers: [researcher] }
`);
    const outcome = await rt.run(loaded, "find a fact");
    assert.equal(outcome.status, "completed", outcome.error ?? "");
    assert.equal(await readFile(log, "utf8"), "example\n", "the tool ran once, with the model's arguments");
    assert.match(outcome.output!, /reply using the tool result: fact about example: 42/);
    const calls = rt.stack.simulator.calls().filter((c) => c.model === "glm-4.7");
    assert.equal(calls.length, 2, "one call that asked for the tool, one that answered with its result");
  } finally {
    delete process.env.TEST_MCP_LOG;
    await dir.remove();
  }
});

test("MCP tools: a server that cannot start fails the step with the reason; the run goes on", async () => {
  rt.stack.simulator.reset();
  const loaded = await rt.load(`
name: broken-tools
version: 1
mcp_servers:
  gone: { command: /nonexistent/mcp-server }
agents:
  boss: { type: supervisor, model: glm-5.1 }
  researcher: { type: worker, model: glm-4.7, tools: [gone] }
topology: { supervisor: boss, workers: [researcher] }
`);
  const outcome = await rt.run(loaded, "no tools");
  const step = (await rt.steps(outcome.runId)).find((s) => s.assignee === "researcher")!;
  assert.equal(step.status, "failed");
  assert.match(step.error!, /cannot connect to MCP server gone/);
  assert.equal(outcome.status, "completed");
});
