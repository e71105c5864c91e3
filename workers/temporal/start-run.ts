import type { Sql } from "../../shared/db/connect.ts";
import type { LoadedSwarm } from "../swarm/spec/load.ts";
import { swarmSchema } from "../swarm/spec/schema.ts";
import type { SwarmDefinition } from "./plan.ts";
import { startSwarmRun, type SwarmClient } from "./client.ts";

/**
 * Hands a recorded run (a `swarm_runs` row with engine `temporal`) to Temporal: what the run
 * consumer of `godotz workers` calls instead of executing the run itself when TEMPORAL_ADDRESS is
 * set. Idempotent: a redelivered run request finds the workflow already started.
 */

export class TemporalRunError extends Error {
  override name = "TemporalRunError";
}

/** The workflow's input carries only what decisions need; skills and files stay in swarm_runs.spec. */
export function definitionOf(loaded: LoadedSwarm): SwarmDefinition {
  const subswarms = Object.fromEntries(Object.entries(loaded.subswarms ?? {}).map(([name, sub]) => [name, definitionOf(sub)]));
  return { spec: loaded.spec, ...(Object.keys(subswarms).length ? { subswarms } : {}) };
}

/**
 * `adoptQueued`: a run recorded for the default engine (the edge does not know whether the
 * workers run Temporal) that no worker has taken yet is switched to engine `temporal` first, in
 * one statement, so a LangGraph worker can no longer claim it.
 */
export async function startRecordedRun(
  sc: SwarmClient,
  sql: Sql,
  runId: string,
  options: { adoptQueued?: boolean } = {},
): Promise<{ workflowId: string; started: boolean }> {
  if (options.adoptQueued) {
    await sql`UPDATE swarm_runs SET engine = 'temporal' WHERE id = ${runId} AND engine = 'langgraph' AND status = 'queued' AND attempts = 0`;
  }
  const [row] = await sql<{ spec: LoadedSwarm | null; input: string; engine: string; status: string }[]>`
    SELECT spec, input, engine, status FROM swarm_runs WHERE id = ${runId}`;
  if (!row) throw new TemporalRunError(`swarm run ${runId} does not exist`);
  if (row.engine !== "temporal") throw new TemporalRunError(`swarm run ${runId} belongs to the ${row.engine} engine`);
  if (["completed", "failed", "cancelled"].includes(row.status)) return { workflowId: runId, started: false };
  const parsed = swarmSchema.safeParse(row.spec?.spec);
  if (!parsed.success) throw new TemporalRunError(`the run's swarm snapshot is not a valid swarm: ${parsed.error.issues[0]?.message}`);
  return startSwarmRun(sc, { runId, swarm: definitionOf({ ...row.spec!, spec: parsed.data }), input: row.input });
}
