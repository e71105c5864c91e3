import type { Sql } from "../../../shared/db/connect.ts";

/** Swarm runs as stored (migrations/0007 and 0008), and the transitions of their lifecycle. */

export const RUN_STATUSES = ["queued", "running", "completed", "failed", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINISHED: readonly RunStatus[] = ["completed", "failed", "cancelled"];

export interface RunRow {
  id: string;
  swarm: string;
  swarm_version: string;
  spec: unknown;
  input: string;
  status: RunStatus;
  trigger: string;
  engine: string;
  output: string | null;
  error: string | null;
  worker: string | null;
  cancel_requested_at: Date | null;
  lease_expires_at: Date | null;
  heartbeat_at: Date | null;
  attempts: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export type RunSummary = Omit<RunRow, "spec">;

const SUMMARY = ["id", "swarm", "swarm_version", "input", "status", "trigger", "engine", "output", "error", "worker", "cancel_requested_at", "lease_expires_at", "heartbeat_at", "attempts", "created_at", "started_at", "finished_at"];

export class RunNotFoundError extends Error {
  constructor(readonly runId: string) {
    super(`no run ${runId}`);
    this.name = "RunNotFoundError";
  }
}

/**
 * Takes a run for this worker: a queued run, a running one whose lease ran out (its worker died),
 * or one this worker already holds. Undefined when another worker holds it or it has finished.
 * The row lock makes two workers racing for one run take turns, and the loser sees it held.
 */
export async function claimRun(sql: Sql, runId: string, worker: string, leaseMs: number): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`
    UPDATE swarm_runs SET status = 'running', worker = ${worker}, attempts = attempts + 1,
      lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}), heartbeat_at = now(),
      started_at = coalesce(started_at, now())
    WHERE id = ${runId} AND engine = 'langgraph'
      AND (status = 'queued' OR (status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now() OR worker = ${worker})))
    RETURNING *`;
  return row;
}

/** Extends the lease; false when the run is no longer this worker's (taken over, or finished). */
export async function renewLease(sql: Sql, runId: string, worker: string, leaseMs: number): Promise<{ held: boolean; cancelRequested: boolean }> {
  const [row] = await sql<{ cancel_requested_at: Date | null }[]>`
    UPDATE swarm_runs SET lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}), heartbeat_at = now()
    WHERE id = ${runId} AND status = 'running' AND worker = ${worker}
    RETURNING cancel_requested_at`;
  return { held: row !== undefined, cancelRequested: row?.cancel_requested_at != null };
}

/** Records how the run ended, if this worker still holds it. */
export async function finishRun(
  sql: Sql,
  runId: string,
  worker: string,
  outcome: { status: "completed" | "failed" | "cancelled"; output?: string | null; error?: string | null },
): Promise<boolean> {
  const rows = await sql`
    UPDATE swarm_runs SET status = ${outcome.status}, output = ${outcome.output ?? null}, error = ${outcome.error ?? null},
      finished_at = now(), lease_expires_at = NULL
    WHERE id = ${runId} AND status = 'running' AND worker = ${worker}`;
  return rows.count === 1;
}

/** Runs left 'running' by a worker that stopped renewing its lease, oldest first. */
export async function abandonedRuns(sql: Sql, limit = 10): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    SELECT id FROM swarm_runs WHERE status = 'running' AND engine = 'langgraph' AND lease_expires_at < now()
    ORDER BY lease_expires_at LIMIT ${limit}`;
  return rows.map((r) => r.id);
}

export async function getRun(sql: Sql, runId: string): Promise<RunRow> {
  const [row] = await sql<RunRow[]>`SELECT * FROM swarm_runs WHERE id = ${runId}`;
  if (!row) throw new RunNotFoundError(runId);
  return row;
}

export async function listRuns(sql: Sql, filter: { swarm?: string; status?: RunStatus; limit?: number } = {}): Promise<RunSummary[]> {
  return [...(await sql<RunSummary[]>`
    SELECT ${sql(SUMMARY)} FROM swarm_runs
    WHERE true ${filter.swarm ? sql`AND swarm = ${filter.swarm}` : sql``} ${filter.status ? sql`AND status = ${filter.status}` : sql``}
    ORDER BY created_at DESC LIMIT ${filter.limit ?? 20}`)];
}

/**
 * Asks a run to stop. A queued run is cancelled at once (no worker has it); a running one stops at
 * its next step boundary, when its worker sees the request; a finished one is left as it is.
 * Returns the run as it is now and the status it had before.
 */
export async function requestCancel(sql: Sql, runId: string): Promise<RunSummary & { previous_status: RunStatus }> {
  return sql.begin(async (tx) => {
    const [before] = await tx<{ status: RunStatus }[]>`SELECT status FROM swarm_runs WHERE id = ${runId} FOR UPDATE`;
    if (!before) throw new RunNotFoundError(runId);
    const [row] = await tx<RunSummary[]>`
      UPDATE swarm_runs SET
        cancel_requested_at = CASE WHEN status IN ('queued', 'running') THEN coalesce(cancel_requested_at, now()) ELSE cancel_requested_at END,
        status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
        finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
      WHERE id = ${runId}
      RETURNING ${tx(SUMMARY)}`;
    return { ...row!, previous_status: before.status };
  });
}
