import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { requestRun } from "../../../workers/swarm/dispatch/request.ts";
import { executeRun, type ExecutorDeps, type RunOutcome } from "../../../workers/swarm/runtime/executor.ts";
import type { LoadedSwarm } from "../../../workers/swarm/spec/load.ts";
import { loadSwarmFile } from "../../../workers/swarm/spec/load.ts";
import { startStack, type Stack } from "../../helpers/stack.ts";
import { simulated, tempDir } from "../spec/helpers.ts";
import type { RunEvent } from "../../../workers/events/runs.ts";
import type { Task } from "../../../workers/tasks/schema.ts";

export { tempDir, simulated };

export interface RuntimeStack {
  stack: Stack;
  sql: Sql;
  checkpointer: PostgresSaver;
  deps(extra?: Partial<ExecutorDeps>): ExecutorDeps;
  /** Loads a swarm from YAML text (and extra files beside it), as `godotz swarm run` does. */
  load(yaml: string, files?: Record<string, string>): Promise<LoadedSwarm>;
  start(loaded: LoadedSwarm, input: string): Promise<string>;
  run(loaded: LoadedSwarm, input: string, extra?: Partial<ExecutorDeps>): Promise<RunOutcome>;
  steps(runId: string): Promise<Task[]>;
  events(runId: string): Promise<RunEvent[]>;
  close(): Promise<void>;
}

/** The gateway + simulator stack, a pool on its database and LangGraph's Postgres checkpointer. */
export async function startRuntimeStack(): Promise<RuntimeStack> {
  const stack = await startStack();
  const sql = openDatabase(stack.databaseUrl, { max: 5 });
  const checkpointer = PostgresSaver.fromConnString(stack.databaseUrl);
  await checkpointer.setup();
  const dirs: { remove(): Promise<void> }[] = [];
  const deps = (extra: Partial<ExecutorDeps> = {}): ExecutorDeps => ({
    sql,
    gateway: { url: stack.gateway.url, key: stack.key },
    checkpointer,
    worker: "test-worker",
    minBackoffMs: 10,
    ...extra,
  });
  const self: RuntimeStack = {
    stack,
    sql,
    checkpointer,
    deps,
    async load(yaml, files = {}) {
      const dir = await tempDir();
      dirs.push(dir);
      for (const [rel, text] of Object.entries(files)) await dir.write(rel, text);
      return loadSwarmFile(await dir.write("swarm.yaml", yaml), { catalogue: simulated });
    },
    async start(loaded, input) {
      return (await requestRun(sql, { loaded, input, trigger: "cli" })).runId;
    },
    async run(loaded, input, extra) {
      return executeRun(deps(extra), await self.start(loaded, input));
    },
    steps: async (runId) => [...(await sql<Task[]>`SELECT * FROM tasks WHERE run_id = ${runId} ORDER BY created_at, seq`)],
    events: async (runId) => (await sql<{ payload: RunEvent }[]>`SELECT payload FROM run_events WHERE run_id = ${runId} ORDER BY seq`).map((r) => r.payload),
    async close() {
      await checkpointer.end();
      await sql.end();
      await stack.close();
      for (const d of dirs) await d.remove();
    },
  };
  return self;
}

/** A supervisor on glm (OpenAI wire format) and two workers on claude (Anthropic) and gemini (Gemini). */
export const TWO_WORKERS = `
name: duo
version: 1
agents:
  lead: { type: supervisor, model: glm-5.1, instructions: "Route the work." }
  alpha: { type: worker, model: claude-sonnet-4.5, role: drafts, instructions: "Draft an answer." }
  beta: { type: worker, family: gemini, role: checks, instructions: "Check the draft." }
topology: { supervisor: lead, workers: [alpha, beta], max_turns: 6 }
`;
