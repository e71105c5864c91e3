import type postgres from "postgres";
import { z } from "zod";
import type { Sql } from "../../../shared/db/connect.ts";
import { newRunId } from "./ids.ts";
import { RUN_TRIGGERS, runRequest, type RunTrigger } from "./schema.ts";

/**
 * What a run needs of its swarm: the loaded swarm (workers/swarm/spec LoadedSwarm, self-contained
 * JSON), stored whole as the run's snapshot so the run finishes on the version it started with.
 */
export interface SwarmSnapshot {
  spec: { name: string; version: string };
}

export interface RunRequestInput {
  loaded: SwarmSnapshot;
  input: string;
  trigger: RunTrigger;
}

const requestInput = z.object({
  loaded: z.looseObject({ spec: z.looseObject({ name: z.string().min(1), version: z.string().min(1) }) }),
  // Postgres text cannot hold NUL; refusing it here gives a clear error instead of a driver one.
  input: z.string().refine((s) => !s.includes("\u0000"), "must not contain NUL characters"),
  trigger: z.enum(RUN_TRIGGERS),
});

export class InvalidRunRequestError extends Error {
  constructor(error: z.ZodError) {
    const issue = error.issues[0];
    super(`invalid run request: ${issue ? `${issue.path.join(".") || "(request)"}: ${issue.message}` : "invalid"}`);
    this.name = "InvalidRunRequestError";
  }
}

/**
 * Records a queued run and its hand-off to the workers in one transaction: the swarm_runs row
 * and a swarm_run_requests outbox row, which RunRequestRelay publishes to JetStream. Nothing here
 * talks to NATS, so the edge (even a Cloudflare Worker) can start runs, and a run is queued exactly
 * when its row exists, whether or not NATS is up.
 */
export function requestRun(sql: Sql, request: RunRequestInput): Promise<{ runId: string }> {
  return sql.begin((tx) => insertRunRequest(tx, request));
}

/** requestRun inside a transaction the caller already holds (the webhook records its delivery in it too). */
export async function insertRunRequest(tx: postgres.TransactionSql, request: RunRequestInput): Promise<{ runId: string }> {
  const parsed = requestInput.safeParse(request);
  if (!parsed.success) throw new InvalidRunRequestError(parsed.error);
  const { loaded, input, trigger } = parsed.data;
  // 128 random bits do not repeat in practice; if one ever does, the key says so and we draw again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const id = newRunId();
    const [row] = await tx<{ created_at: Date }[]>`
      INSERT INTO swarm_runs (id, swarm, swarm_version, spec, input, trigger)
      VALUES (${id}, ${loaded.spec.name}, ${loaded.spec.version}, ${tx.json(loaded as unknown as postgres.JSONValue)}, ${input}, ${trigger})
      ON CONFLICT (id) DO NOTHING RETURNING created_at`;
    if (!row) continue;
    const payload = runRequest.parse({ run_id: id, swarm: loaded.spec.name, trigger, requested_at: row.created_at.toISOString() });
    await tx`INSERT INTO swarm_run_requests (run_id, payload) VALUES (${id}, ${tx.json(payload)})`;
    return { runId: id };
  }
  throw new Error("could not mint an unused run id in 3 tries; the random source is broken");
}
