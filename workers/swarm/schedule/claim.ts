import type postgres from "postgres";
import type { Sql } from "../../../shared/db/connect.ts";
import { insertRunRequest, type SwarmSnapshot } from "../dispatch/index.ts";
import { scheduleCrons } from "./triggers.ts";

export interface TickClaim {
  swarm: string;
  cron: string;
  tickAt: Date;
  input: string;
}

export type ClaimOutcome =
  | { outcome: "claimed"; runId: string }
  /** Another worker's transaction recorded this tick first. */
  | { outcome: "taken" }
  /** The swarm is no longer deployed with this schedule (redeployed or removed since it was read). */
  | { outcome: "gone" };

/**
 * Records one tick of a swarm's schedule and requests its run, in one transaction: the primary key
 * of swarm_schedule_ticks decides which of the workers that saw the tick creates the run. A second
 * inserter waits on the first one's uncommitted row, then finds the conflict (or, if the first
 * rolled back, inserts and wins), so exactly one run exists per tick.
 */
export function claimTick(sql: Sql, claim: TickClaim): Promise<ClaimOutcome> {
  return sql.begin((tx) => claimInTransaction(tx, claim));
}

async function claimInTransaction(tx: postgres.TransactionSql, { swarm, cron, tickAt, input }: TickClaim): Promise<ClaimOutcome> {
  // Read in the transaction, not from the scheduler's last refresh, so a run always starts on the
  // swarm as deployed now, and a schedule removed by a deploy stops at once.
  const [row] = await tx<{ spec: SwarmSnapshot & Record<string, unknown> }[]>`SELECT spec FROM swarms WHERE name = ${swarm}`;
  if (!row || !scheduleCrons(row.spec).includes(cron)) return { outcome: "gone" };
  const [won] = await tx`
    INSERT INTO swarm_schedule_ticks (swarm, cron, tick_at) VALUES (${swarm}, ${cron}, ${tickAt})
    ON CONFLICT DO NOTHING RETURNING 1 AS won`;
  if (!won) return { outcome: "taken" };
  const { runId } = await insertRunRequest(tx, { loaded: row.spec, input, trigger: "schedule" });
  await tx`UPDATE swarm_schedule_ticks SET run_id = ${runId} WHERE swarm = ${swarm} AND cron = ${cron} AND tick_at = ${tickAt}`;
  return { outcome: "claimed", runId };
}
