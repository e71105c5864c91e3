import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MemorySaver } from "@langchain/langgraph";
import { renderRunGraph, runDetails, type RunDetails, type StepView } from "../../../workers/swarm/runs/details.ts";
import { FINISH, RouteError, parseRoute, routeTool } from "../../../workers/swarm/runtime/route.ts";
import { parseSwarm, SwarmFileError } from "../../../workers/swarm/spec/index.ts";
import { compileSwarmGraph, recursionLimit, type SwarmStateValue } from "../../../workers/swarm/runtime/graph.ts";
import type { RunContext } from "../../../workers/swarm/runtime/steps.ts";
import { TaskStore } from "../../../workers/tasks/store.ts";
import { startRuntimeStack, type RuntimeStack } from "./helpers.ts";

/** A supervisor that sends work to three workers on three providers at once, then to a writer. */
const FAN_OUT = `
name: fan
version: 1
agents:
  lead: { type: supervisor, model: glm-5.1, instructions: "Send the scouts out together." }
  web: { type: worker, family: gemini, role: searches the web }
  papers: { type: worker, model: claude-sonnet-4.5, role: reads papers }
  practice: { type: worker, model: glm-4.7, role: asks practitioners }
  writer: { type: worker, model: glm-4.7, role: merges the findings }
topology: { supervisor: lead, workers: [web, papers, practice, writer], max_parallel: 3, max_turns: 6 }
`;

describe("fan-out swarm files", () => {
  test("max_parallel is optional: a swarm without it routes one worker at a time, as before", () => {
    const spec = parseSwarm(FAN_OUT.replace(", max_parallel: 3", ""));
    assert.equal(spec.topology.max_parallel, undefined);
    assert.equal(parseSwarm(FAN_OUT).topology.max_parallel, 3);
  });

  test("a width outside 1-32, or wider than the workers, is refused at its line", () => {
    for (const [width, pattern] of [
      ["0", /topology\.max_parallel: .*>=1/],
      ["33", /topology\.max_parallel: .*<=32/],
      ["2.5", /topology\.max_parallel: .*expected int/],
      ["5", /topology\.max_parallel: max_parallel is 5 but the supervisor has only 4 workers to send work to/],
    ] as const) {
      const text = FAN_OUT.replace("max_parallel: 3", `max_parallel: ${width}`);
      assert.throws(() => parseSwarm(text, "fan.yaml"), (error: unknown) => {
        assert.ok(error instanceof SwarmFileError);
        const issue = error.issues[0]!;
        assert.equal(issue.line, text.split("\n").findIndex((l) => l.startsWith("topology:")) + 1, `${width}: ${error.message}`);
        assert.match(error.message, pattern);
        return true;
      });
    }
  });
});

describe("the route tool", () => {
  const workers = ["a", "b", "c"];

  test("one at a time: a name; fan-out: a list of at most max_parallel names", () => {
    const single = routeTool(workers, 1).function.parameters as { properties: { next: unknown } };
    assert.deepEqual(single.properties.next, { type: "string", enum: ["a", "b", "c", FINISH] });
    const wide = routeTool(workers, 2).function.parameters as { properties: { next: { type: string; maxItems: number; items: { enum: string[] } } } };
    assert.equal(wide.properties.next.type, "array");
    assert.equal(wide.properties.next.maxItems, 2);
    assert.deepEqual(wide.properties.next.items.enum, ["a", "b", "c", FINISH]);
  });

  test("answers are read strictly: known names, FINISH alone, no wider than allowed", () => {
    assert.deepEqual(parseRoute('{"next":"b","reason":"r"}', workers, 1), { finish: false, workers: ["b"], reason: "r" });
    assert.deepEqual(parseRoute('{"next":["c","a","c"]}', workers, 3), { finish: false, workers: ["c", "a"] });
    assert.deepEqual(parseRoute('{"next":"a"}', workers, 3), { finish: false, workers: ["a"] }, "a single name is a fan-out of one");
    assert.deepEqual(parseRoute('{"next":["FINISH"]}', workers, 3), { finish: true });
    assert.throws(() => parseRoute('{"next":["a","b"]}', workers, 1), RouteError, "a list needs max_parallel > 1");
    assert.throws(() => parseRoute('{"next":["a","FINISH"]}', workers, 3), /FINISH alone/);
    assert.throws(() => parseRoute('{"next":["a","b","c"]}', workers, 2), /at most 2 workers at once/);
    assert.throws(() => parseRoute('{"next":["a","x"]}', workers, 3), /up to 3 of a, b, c, or FINISH/);
    assert.throws(() => parseRoute("not json", workers, 3), RouteError);
  });
});

describe("a fan-out run", () => {
  let rt: RuntimeStack;
  before(async () => {
    rt = await startRuntimeStack();
  });
  after(async () => {
    await rt?.close();
  });

  test("the chosen workers run in one step, each under its own path, and the supervisor sees all of them", async () => {
    rt.stack.simulator.reset();
    const loaded = await rt.load(FAN_OUT);
    const outcome = await rt.run(loaded, "How do teams cache LLM answers?");
    assert.equal(outcome.status, "completed", outcome.error ?? "");

    const steps = await rt.steps(outcome.runId);
    const paths = steps.map((s) => [s.idempotency_key!.slice(outcome.runId.length + 1), s.assignee, s.status]);
    // Step 1 is the fan-out: three branches; step 3 a fan-out of one (only the writer is left).
    assert.deepEqual(
      paths.sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        ["0", "lead", "closed"],
        ["1.papers", "papers", "closed"],
        ["1.practice", "practice", "closed"],
        ["1.web", "web", "closed"],
        ["2", "lead", "closed"],
        ["3.writer", "writer", "closed"],
        ["4", "lead", "closed"],
      ],
    );
    // The supervisor's second decision saw the three answers; every model was asked once per step.
    const calls = rt.stack.simulator.calls().filter((c) => c.kind === "chat");
    assert.deepEqual(calls.filter((c) => c.model === "glm-5.1").length, 3);
    assert.equal(new Set(calls.map((c) => c.digest)).size, calls.length, "no request was made twice");

    // Events name each branch by its path (the NATS subject token is 1-web).
    const events = await rt.events(outcome.runId);
    assert.ok(events.some((e) => e.step === "1.web" && e.type === "completed"), JSON.stringify(events.map((e) => [e.step, e.type])));
    // The supervisor's close opened every branch it named (one transaction: one now()); the
    // branches leave the supervisor to open on its own, after all of them.
    const at = new Map((await rt.sql<{ key: string; at: Date }[]>`
      SELECT payload->>'step' || ':' || (payload->>'type') AS key, created_at AS at FROM run_events WHERE run_id = ${outcome.runId}`).map((r) => [r.key, r.at.getTime()]));
    for (const branch of ["1.web", "1.papers", "1.practice"]) assert.equal(at.get(`${branch}:created`), at.get("0:completed"), branch);
    assert.equal(at.get("3.writer:created"), at.get("2:completed"));
    assert.ok(![at.get("1.web:completed"), at.get("1.papers:completed"), at.get("1.practice:completed")].includes(at.get("2:created")));

    // `runs show` counts a branch as its worker's own turn.
    const text = renderRunGraph(await runDetails(rt.sql, outcome.runId));
    assert.match(text, /\[web\] +worker +✔ done +\(1 turn\)/);
    assert.match(text, /\[lead\] +supervisor +✔ done +\(3 turns\)/);
  });

  test("the graph's state keeps a fan-out's turns in the order the supervisor named them", async () => {
    // The graph itself, checkpointed in memory: a finished run's checkpoints are not kept.
    const loaded = await rt.load(FAN_OUT);
    const runId = await rt.start(loaded, "How do teams cache LLM answers?");
    const ctx: RunContext = { sql: rt.sql, tasks: new TaskStore(rt.sql), gateway: { url: rt.stack.gateway.url, key: rt.stack.key }, runId, swarm: "fan", claimer: `run:${runId}`, signal: new AbortController().signal };
    const graph = compileSwarmGraph(ctx, loaded, new MemorySaver());
    const values = (await graph.invoke({ input: "How do teams cache LLM answers?" }, { configurable: { thread_id: runId }, recursionLimit: recursionLimit(loaded) })) as SwarmStateValue;
    assert.deepEqual(values.turns.map((t) => t.step), ["1.web", "1.papers", "1.practice", "3.writer"]);
  });
  test("a panel and a nested swarm can be branches: their inner steps sit under the branch's path", async () => {
    rt.stack.simulator.reset();
    const loaded = await rt.load(
      `
name: mixed
version: 1
agents:
  lead: { type: supervisor, model: glm-5.1 }
  ada: { type: worker, family: claude }
  bo: { type: worker, family: gemini }
  desk: { type: swarm, swarm: desk.yaml, role: checks facts }
panels:
  jury: { agents: [ada, bo], rounds: 1 }
topology: { supervisor: lead, workers: [jury, desk], max_parallel: 2, max_turns: 4 }
`,
      {
        "desk.yaml": `
name: desk
version: 1
agents:
  chief: { type: supervisor, family: gemini }
  checker: { type: worker, model: glm-4.7 }
topology: { supervisor: chief, workers: [checker] }
`,
      },
    );
    const outcome = await rt.run(loaded, "Check and vote");
    assert.equal(outcome.status, "completed", outcome.error ?? "");
    const paths = (await rt.steps(outcome.runId)).map((s) => s.idempotency_key!.slice(outcome.runId.length + 1)).sort();
    assert.deepEqual(paths, ["0", "1.desk", "1.desk.0", "1.desk.1", "1.desk.2", "1.jury", "1.jury.r1-ada", "1.jury.r1-bo", "2"]);
  });

  test("a branch that fails for good is one failed turn; the others' answers stand and the supervisor goes on", async () => {
    const sim = rt.stack.simulator;
    sim.reset();
    sim.script("claude-sonnet-4.5", { failStatus: 400 });
    try {
      const loaded = await rt.load(FAN_OUT);
      const outcome = await rt.run(loaded, "Go");
      assert.equal(outcome.status, "completed", outcome.error ?? "");
      const steps = await rt.steps(outcome.runId);
      const byPath = new Map(steps.map((s) => [s.idempotency_key!.slice(outcome.runId.length + 1), s.status]));
      assert.equal(byPath.get("1.papers"), "failed");
      assert.equal(byPath.get("1.web"), "closed");
      assert.equal(byPath.get("1.practice"), "closed");
      // papers answered (with its failure), so the simulated supervisor moves on to the writer.
      assert.equal(byPath.get("3.writer"), "closed");
    } finally {
      sim.reset();
    }
  });
});

describe("runs show", () => {
  const at = new Date("2026-01-01T00:00:00Z");
  const step = (s: Pick<StepView, "step" | "agent" | "status">): StepView => ({ task_id: `gz-${s.step}`, title: "t", model: null, tokens: 0, cost_usd: 0, error: null, started_at: at, closed_at: null, ...s });

  test("the graph shows every branch of a fan-out that is still running", () => {
    const details: RunDetails = {
      run: { id: "run_0123456789", swarm: "fan", swarm_version: "1", input: "x", status: "running", trigger: "cli", engine: "langgraph", output: null, error: null, worker: "w1", cancel_requested_at: null, lease_expires_at: null, heartbeat_at: null, attempts: 1, created_at: at, started_at: at, finished_at: null },
      topology: { supervisor: "lead", workers: [{ name: "web", kind: "agent" }, { name: "papers", kind: "agent" }, { name: "jury", kind: "panel" }] },
      steps: [
        step({ step: "0", agent: "lead", status: "closed" }),
        step({ step: "1.web", agent: "web", status: "in_progress" }),
        step({ step: "1.papers", agent: "papers", status: "closed" }),
        step({ step: "1.jury", agent: "jury", status: "in_progress" }),
        step({ step: "1.jury.r1-web", agent: "web", status: "closed" }),
      ],
      usage: { tokens: 0, cost_usd: 0 },
      audit: { calls: 0, tokens: 0, cost_usd: 0 },
    };
    const text = renderRunGraph(details, new Date(at.getTime() + 5000));
    assert.match(text, /^in parallel: web, jury$/m);
    assert.match(text, /\[web\] +worker +● working for 5s +\(1 turn\)$/m, "a panel answer inside a branch is not the worker's own turn");
    assert.match(text, /\[papers\] +worker +✔ done/);
    assert.match(text, /\[jury\] +panel +● working for 5s/);
  });
});
