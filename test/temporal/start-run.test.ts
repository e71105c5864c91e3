import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { WorkflowExecutionAlreadyStartedError } from "@temporalio/client";
import { freshDatabase } from "../helpers/db.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TemporalRunError, startRecordedRun } from "../../workers/temporal/start-run.ts";
import type { SwarmClient } from "../../workers/temporal/client.ts";
import type { SwarmRunInput } from "../../workers/temporal/plan.ts";
import { roundTable } from "./scenarios.ts";

/**
 * Handing a recorded run to Temporal. The Temporal frontend is the one thing not reachable here,
 * so the client is a stand-in that records `workflow.start` calls and answers as the server does
 * (WorkflowExecutionAlreadyStartedError for a workflow id it has seen).
 */

let db: { url: string; drop(): Promise<void> };
let sql: postgres.Sql;

interface Started {
  type: string;
  options: { taskQueue: string; workflowId: string; workflowIdReusePolicy: string; args: [SwarmRunInput] };
}

function recordingClient(): SwarmClient & { started: Started[] } {
  const started: Started[] = [];
  const client = {
    workflow: {
      async start(type: string, options: Started["options"]) {
        if (started.some((s) => s.options.workflowId === options.workflowId)) throw new WorkflowExecutionAlreadyStartedError("already started", options.workflowId, type);
        started.push({ type, options });
      },
    },
  };
  return { client: client as never, config: { address: "127.0.0.1:7233", namespace: "default", taskQueue: "godotz-swarms" }, close: async () => {}, started };
}

async function insertRun(overrides: { engine?: string; status?: string; spec?: unknown } = {}): Promise<string> {
  const id = `run_${Math.random().toString(36).slice(2, 12)}`;
  const research = roundTable.subswarms!.researcher!;
  const loaded = {
    spec: roundTable.spec,
    file: "round-table.yaml",
    skills: { "skills/vote": { name: "vote", description: "how to vote", body: "Vote well." } },
    subswarms: { researcher: { spec: research.spec, file: "research.yaml", skills: {}, subswarms: {} } },
  };
  await sql`INSERT INTO swarm_runs (id, swarm, swarm_version, spec, input, trigger, engine, status)
            VALUES (${id}, 'round-table', '3', ${sql.json((overrides.spec ?? loaded) as never)}, 'Move to NATS 3?', 'cli',
                    ${overrides.engine ?? "temporal"}, ${overrides.status ?? "queued"})`;
  return id;
}

before(async () => {
  db = await freshDatabase();
  sql = postgres(db.url, { max: 2, onnotice: () => {} });
  await migrate(sql);
});

after(async () => {
  await sql?.end();
  await db?.drop();
});

describe("starting a recorded run as a workflow", () => {
  test("the workflow id is the run id, on the swarm task queue, with the swarm but not its skills", async () => {
    const sc = recordingClient();
    const runId = await insertRun();
    assert.deepEqual(await startRecordedRun(sc, sql, runId), { workflowId: runId, started: true });
    const [start] = sc.started;
    assert.equal(start?.type, "swarmRun");
    assert.equal(start?.options.workflowId, runId);
    assert.equal(start?.options.taskQueue, "godotz-swarms");
    assert.equal(start?.options.workflowIdReusePolicy, "REJECT_DUPLICATE");
    const [input] = start!.options.args;
    assert.equal(input.runId, runId);
    assert.equal(input.input, "Move to NATS 3?");
    assert.equal(input.swarm.spec.name, "round-table");
    assert.equal(input.swarm.subswarms?.researcher?.spec.name, "research");
    assert.ok(!("skills" in input.swarm) && !("file" in input.swarm), "skills and files stay in the database");
  });

  test("starting it again finds the first workflow", async () => {
    const sc = recordingClient();
    const runId = await insertRun();
    await startRecordedRun(sc, sql, runId);
    assert.deepEqual(await startRecordedRun(sc, sql, runId), { workflowId: runId, started: false });
    assert.equal(sc.started.length, 1);
  });

  test("a queued run of the default engine is adopted; one a LangGraph worker has taken is not", async () => {
    const sc = recordingClient();
    const queued = await insertRun({ engine: "langgraph" });
    assert.deepEqual(await startRecordedRun(sc, sql, queued, { adoptQueued: true }), { workflowId: queued, started: true });
    const [row] = await sql<{ engine: string }[]>`SELECT engine FROM swarm_runs WHERE id = ${queued}`;
    assert.equal(row?.engine, "temporal");

    const taken = await insertRun({ engine: "langgraph" });
    await sql`UPDATE swarm_runs SET status = 'running', attempts = 1 WHERE id = ${taken}`;
    await assert.rejects(startRecordedRun(sc, sql, taken, { adoptQueued: true }), /langgraph engine/);
    assert.equal(sc.started.length, 1);
  });

  test("finished runs are not started; unknown, LangGraph and broken runs are refused", async () => {
    const sc = recordingClient();
    const cancelled = await insertRun({ status: "cancelled" });
    assert.deepEqual(await startRecordedRun(sc, sql, cancelled), { workflowId: cancelled, started: false });
    await assert.rejects(startRecordedRun(sc, sql, "run_nosuchrun"), (e: unknown) => e instanceof TemporalRunError && /does not exist/.test(e.message));
    await assert.rejects(startRecordedRun(sc, sql, await insertRun({ engine: "langgraph" })), /langgraph engine/);
    await assert.rejects(startRecordedRun(sc, sql, await insertRun({ spec: { spec: { name: "x" } } })), /not a valid swarm/);
    assert.equal(sc.started.length, 0);
  });
});

