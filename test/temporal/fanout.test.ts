import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { MockActivityEnvironment } from "@temporalio/testing";
import { startStack, type Stack } from "../helpers/stack.ts";
import { createActivities } from "../../workers/temporal/activities.ts";
import { runtimeActivityDeps } from "../../workers/temporal/runtime-deps.ts";
import { fanOutWidth, modelAgent, routingChoices, type Progress, type SupervisorDecision, type SupervisorInput, type SwarmActivities } from "../../workers/temporal/plan.ts";
import { renderProgressGraph } from "../../workers/temporal/progress-view.ts";
import { cancelRun, temporalRunsFrom, watchTemporalRun, watchesOnTemporal, type TemporalRuns } from "../../cli/runs-temporal.ts";
import { CliError } from "../../cli/errors.ts";
import type { SwarmClient } from "../../workers/temporal/client.ts";
import { reviewDesk, scoutDesk } from "./scenarios.ts";

/**
 * The Temporal side of fan-out without a server: the width a run uses by version, the supervisor
 * activity's fan-out answer through the real gateway and simulator, and `godotz runs cancel|show
 * --watch` for Temporal runs with the client replaced by a stand-in (the one thing not reachable here).
 */

let stack: Stack;
let sql: postgres.Sql;
let activities: SwarmActivities;

before(async () => {
  stack = await startStack();
  sql = postgres(stack.databaseUrl, { max: 3, onnotice: () => {} });
  activities = createActivities({ ...runtimeActivityDeps({ sql, gateway: { url: stack.gateway.url, key: stack.key }, worker: "fanout-test" }), random: () => 0.5 });
});

after(async () => {
  await sql?.end();
  await stack?.close();
});

async function newRun(status = "queued", engine = "temporal"): Promise<string> {
  const id = `run_${Math.random().toString(36).slice(2, 12)}`;
  const loaded = { spec: scoutDesk.spec, file: "scout-desk.yaml", subswarms: {}, skills: {} };
  await sql`INSERT INTO swarm_runs (id, swarm, swarm_version, spec, input, trigger, engine, status)
            VALUES (${id}, 'scout-desk', '1', ${sql.json(loaded)}, 'Scout it.', 'cli', ${engine}, ${status})`;
  return id;
}

describe("fan-out on Temporal", () => {
  test("the width: max_parallel from v3 on; runs that started on v1 or v2 route one worker at a time", () => {
    assert.equal(fanOutWidth(scoutDesk.spec, 3), 2);
    assert.equal(fanOutWidth(scoutDesk.spec, 2), 1);
    assert.equal(fanOutWidth(reviewDesk.spec, 3), 1, "a swarm without max_parallel");
  });

  test("the supervisor activity names several workers at once when maxParallel is given", async () => {
    const runId = await newRun("running");
    const lead = modelAgent(scoutDesk.spec, "lead");
    const input = (step: string, maxParallel?: number): SupervisorInput => ({
      runId,
      swarm: "scout-desk",
      agentSwarm: "scout-desk",
      agent: "lead",
      step,
      spec: lead,
      task: `Scout (${runId}).`,
      workers: routingChoices(scoutDesk.spec),
      transcript: [],
      turn: 1,
      ...(maxParallel ? { maxParallel } : {}),
    });
    const wide = (await new MockActivityEnvironment({ attempt: 1 }).run(activities.supervise, input("0", 2))) as SupervisorDecision;
    // The simulator names the first two workers that have not answered, in the order listed.
    assert.deepEqual("parallel" in wide ? wide.parallel : wide, ["web", "papers"]);
    const narrow = (await new MockActivityEnvironment({ attempt: 1 }).run(activities.supervise, input("2"))) as SupervisorDecision;
    assert.ok("next" in narrow && narrow.next === "web", JSON.stringify(narrow));
    const [task] = await sql<{ result: { output: string } }[]>`SELECT result FROM tasks WHERE idempotency_key = ${`${runId}:0`}`;
    assert.equal(task?.result.output, "next: web, papers");
  });
});

function progressOf(status: Progress["status"], nodes: [string, Progress["nodes"][number]["status"]][]): Progress {
  return {
    runId: "run_fanout0001",
    swarm: "scout-desk",
    status,
    turn: 1,
    maxTurns: 5,
    version: 3,
    nodes: nodes.map(([name, s], i) => ({ name, kind: i === 0 ? "supervisor" : "worker", status: s, steps: s === "pending" ? 0 : 1 })),
  };
}

/** A stand-in for the Temporal client: records signals, answers the progress query from a script. */
function fakeTemporal(frames: Progress[] = [], failCancel = false): TemporalRuns & { cancelled: [string, string][]; closed: number } {
  const self = {
    cancelled: [] as [string, string][],
    closed: 0,
    async cancel(runId: string, reason: string) {
      if (failCancel) throw new Error("workflow not found");
      self.cancelled.push([runId, reason]);
    },
    async progress() {
      return frames.length > 1 ? frames.shift()! : frames[0]!;
    },
    async close() {
      self.closed += 1;
    },
  };
  return self;
}

describe("godotz runs cancel|show --watch on Temporal runs", () => {
  test("the progress graph names the workers running at once", () => {
    const text = renderProgressGraph(progressOf("running", [["lead", "pending"], ["web", "running"], ["papers", "running"], ["writer", "pending"]]));
    assert.match(text, /^run_fanout0001 +scout-desk +RUNNING on Temporal \(workflow v3\) +turn 1\/5$/m);
    assert.match(text, /^in parallel: web, papers$/m);
    assert.match(text, /├─► \[web\] +worker +● running +\(1 step\)$/m);
    assert.match(text, /├─► \[papers\] +worker +● running/m);
    assert.match(text, /└─► \[writer\] +worker +· pending$/m);
  });

  test("--watch redraws from the progress query until the run ends", async () => {
    const frames = [
      progressOf("running", [["lead", "pending"], ["web", "running"], ["papers", "running"], ["writer", "pending"]]),
      progressOf("completed", [["lead", "completed"], ["web", "completed"], ["papers", "completed"], ["writer", "completed"]]),
    ];
    const printed: string[] = [];
    const waits: number[] = [];
    const last = await watchTemporalRun(fakeTemporal(frames), "run_fanout0001", { intervalMs: 10, json: false, print: (t) => printed.push(t), wait: async (ms) => waits.push(ms) });
    assert.equal(last.status, "completed");
    assert.equal(printed.length, 2);
    assert.match(printed[0]!, /in parallel: web, papers/);
    assert.deepEqual(waits, [100], "one wait between the two frames, at least 100 ms");
  });

  test("cancel: a running Temporal run gets the workflow's cancel signal, and the request is recorded", async () => {
    const runId = await newRun("running");
    const temporal = fakeTemporal();
    const result = await cancelRun(sql, runId, async () => temporal);
    assert.equal(result.via, "temporal");
    assert.equal(result.previous_status, "running");
    assert.deepEqual(temporal.cancelled, [[runId, "cancelled with godotz runs cancel"]]);
    assert.equal(temporal.closed, 1);
    assert.ok(result.cancel_requested_at, "the request is on the row too");
  });

  test("cancel: when the signal fails nothing is recorded; without TEMPORAL_ADDRESS the CLI says what is missing", async () => {
    const runId = await newRun("running");
    await assert.rejects(cancelRun(sql, runId, async () => fakeTemporal([], true)), /workflow not found/);
    const [row] = await sql<{ cancel_requested_at: Date | null }[]>`SELECT cancel_requested_at FROM swarm_runs WHERE id = ${runId}`;
    assert.equal(row?.cancel_requested_at, null);
    await assert.rejects(cancelRun(sql, runId, undefined), (error: unknown) => error instanceof CliError && /runs on Temporal; set TEMPORAL_ADDRESS/.test(error.message));
  });

  test("cancel: a queued Temporal run, and any LangGraph run, are cancelled in the database as before", async () => {
    const temporal = fakeTemporal();
    const queued = await cancelRun(sql, await newRun("queued"), async () => temporal);
    assert.deepEqual([queued.via, queued.status], ["database", "cancelled"]);
    const embedded = await cancelRun(sql, await newRun("running", "langgraph"), async () => temporal);
    assert.deepEqual([embedded.via, embedded.status], ["database", "running"]);
    assert.ok(embedded.cancel_requested_at);
    assert.deepEqual(temporal.cancelled, []);
  });

  test("--watch asks Temporal only for Temporal runs with the cluster configured, and says so otherwise", async () => {
    const warnings: string[] = [];
    const temporal = async () => fakeTemporal();
    assert.equal(await watchesOnTemporal(sql, await newRun("running"), temporal, (l) => warnings.push(l)), true);
    assert.equal(await watchesOnTemporal(sql, await newRun("running", "langgraph"), temporal, (l) => warnings.push(l)), false);
    assert.equal(warnings.length, 0);
    assert.equal(await watchesOnTemporal(sql, await newRun("running"), undefined, (l) => warnings.push(l)), false);
    assert.match(warnings[0]!, /runs on Temporal; drawing it from its step tasks/);
  });

  test("TEMPORAL_ADDRESS selects Temporal; bad settings are a usage error", async () => {
    assert.equal(temporalRunsFrom({}), undefined);
    const seen: string[] = [];
    const connect = async (config: { address: string }) => {
      seen.push(config.address);
      return { client: {} as never, config: config as never, close: async () => {} } satisfies SwarmClient;
    };
    const open = temporalRunsFrom({ TEMPORAL_ADDRESS: "127.0.0.1:7233" }, connect);
    assert.ok(open);
    await (await open()).close();
    assert.deepEqual(seen, ["127.0.0.1:7233"]);
    assert.throws(() => temporalRunsFrom({ TEMPORAL_ADDRESS: "not an address" }), (error: unknown) => error instanceof CliError && error.exitCode === 2);
  });
});
