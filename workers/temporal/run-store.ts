import { ApplicationFailure } from "@temporalio/activity";
import type { Sql } from "postgres";
import { RUN_NOT_FOUND_ERROR, type RunStatus, type RunUpdate } from "./plan.ts";
import type { RunStatusStore } from "./activities.ts";

/**
 * The swarm_runs row of a Temporal run. Updates only move a run forward (queued → running →
 * finished), so an activity attempt that repeats (Temporal delivers at least once) changes nothing
 * the second time and reports so, and a run already finished elsewhere is never reopened.
 */
export function postgresRunStore(sql: Sql, worker?: string): RunStatusStore {
  return {
    async update(update: RunUpdate): Promise<{ changed: boolean; status: RunStatus }> {
      const rows =
        update.status === "running"
          ? await sql`
              UPDATE swarm_runs SET status = 'running', started_at = COALESCE(started_at, now()), worker = COALESCE(${worker ?? null}, worker)
              WHERE id = ${update.runId} AND engine = 'temporal' AND status = 'queued'
              RETURNING id`
          : await sql`
              UPDATE swarm_runs SET status = ${update.status}, output = ${update.output ?? null}, error = ${update.error ?? null}, finished_at = now()
              WHERE id = ${update.runId} AND engine = 'temporal' AND status IN ('queued', 'running')
              RETURNING id`;
      if (rows.length > 0) return { changed: true, status: update.status };
      const [row] = await sql<{ engine: string; status: RunStatus }[]>`SELECT engine, status FROM swarm_runs WHERE id = ${update.runId}`;
      if (!row || row.engine !== "temporal") throw ApplicationFailure.create({ type: RUN_NOT_FOUND_ERROR, message: row ? `swarm run ${update.runId} belongs to the ${row.engine} engine` : `swarm run ${update.runId} does not exist`, nonRetryable: true });
      // Already finished (a repeated attempt, or cancelled from outside): nothing to change.
      return { changed: false, status: row.status };
    },
  };
}
