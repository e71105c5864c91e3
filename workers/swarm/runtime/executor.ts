import type { BaseCheckpointSaver } from "@langchain/langgraph";
import type { Sql } from "../../../shared/db/connect.ts";
import { TaskStore } from "../../tasks/store.ts";
import type { LoadedSwarm } from "../spec/load.ts";
import { swarmSchema } from "../spec/schema.ts";
import { claimRun, finishRun, getRun, renewLease, type RunStatus } from "../runs/store.ts";
import { recordRunEvent } from "./events.ts";
import { modelsByFamily, type GatewayTarget } from "./gateway.ts";
import { compileSwarmGraph, recursionLimit, type SwarmStateValue } from "./graph.ts";
import { RunStopped, type Progress, type RunContext } from "./steps.ts";

export interface ExecutorDeps {
  sql: Sql;
  gateway: GatewayTarget;
  /** LangGraph's checkpointer (PostgresSaver in production; its tables must be set up). */
  checkpointer: BaseCheckpointSaver;
  /** This process's name, recorded on the runs it holds. */
  worker: string;
  /** How long a run stays this worker's without a heartbeat (default 30 s); renewed every third of it. */
  leaseMs?: number;
  onProgress?: (progress: Progress) => void;
  /** Aborting stops the run at its next step boundary and releases it for another worker (drain). */
  signal?: AbortSignal;
  /** First retry backoff of model calls (default 500 ms). */
  minBackoffMs?: number;
  /** A run taken this many times without finishing is failed instead of tried again (default 5). */
  maxAttempts?: number;
}

export interface RunOutcome {
  runId: string;
  status: RunStatus;
  output: string | null;
  error: string | null;
  /** False when the run was not this worker's to execute (held elsewhere, or already finished). */
  executed: boolean;
}

/** The run stopped before finishing and is left for another worker: a drain, or a lost lease. */
class Released extends Error {}

/**
 * Executes a run to its end, or resumes it from its last checkpoint when it was started before
 * (thread id = run id). Safe to call for any run id at any time: a run held by a live worker or
 * already finished is left alone.
 */
export async function executeRun(deps: ExecutorDeps, runId: string): Promise<RunOutcome> {
  const leaseMs = deps.leaseMs ?? 30_000;
  const row = await claimRun(deps.sql, runId, deps.worker, leaseMs);
  if (!row) {
    const now = await getRun(deps.sql, runId);
    return { runId, status: now.status, output: now.output, error: now.error, executed: false };
  }
  const runBase = { swarm: row.swarm, run_id: runId, step: null, agent: null, task_id: null };
  if (row.attempts === 1) await recordRunEvent(deps.sql, { ...runBase, type: "created" });
  await recordRunEvent(deps.sql, { ...runBase, type: "started", attempt: row.attempts });
  const finish = async (status: "completed" | "failed" | "cancelled", output: string | null, error: string | null): Promise<RunOutcome> => {
    if (status === "cancelled") await cancelOpenSteps(deps.sql, runId);
    if (await finishRun(deps.sql, runId, deps.worker, { status, output, error })) {
      await recordRunEvent(deps.sql, { ...runBase, type: status, ...(error ? { error } : {}), ...(output ? { output_summary: output.slice(0, 500) } : {}) });
    }
    return { runId, status, output, error, executed: true };
  };
  if (row.cancel_requested_at) return finish("cancelled", null, "cancelled before it started");
  if (row.attempts > (deps.maxAttempts ?? 5)) return finish("failed", null, `gave up after ${row.attempts - 1} attempts to execute the run`);

  const parsed = swarmSchema.safeParse((row.spec as Partial<LoadedSwarm> | null)?.spec);
  if (!parsed.success) return finish("failed", null, `the run's swarm snapshot is not a valid swarm: ${parsed.error.issues[0]?.message}`);
  const loaded = { ...(row.spec as LoadedSwarm), spec: parsed.data };

  // A lost lease aborts at once (another worker owns the run now); a drain waits for the step in
  // flight to finish, so its model call is not made again by the worker that resumes the run.
  const lease = new AbortController();
  const stop = lease.signal;
  const draining = () => deps.signal?.aborted === true;
  const heartbeat = setInterval(() => {
    renewLease(deps.sql, runId, deps.worker, leaseMs).then(
      (state) => state.held || lease.abort(new Released("lost the run's lease")),
      () => {}, // the database is away: the next beat tries again, and the lease says how long we may
    );
  }, Math.max(100, Math.floor(leaseMs / 3)));
  try {
    const ctx: RunContext = {
      sql: deps.sql,
      tasks: new TaskStore(deps.sql),
      gateway: deps.gateway,
      families: await modelsByFamily(deps.gateway),
      runId,
      swarm: row.swarm,
      claimer: `run:${runId}`,
      signal: stop,
      onProgress: deps.onProgress,
      minBackoffMs: deps.minBackoffMs,
      beforeStep: async () => {
        if (draining()) throw new RunStopped("drain", "the worker is stopping");
        const check = await boundaryCheck(deps.sql, runId, row.swarm, loaded.spec.budget);
        if (check.cancelled) throw new RunStopped("cancelled", "cancelled by request");
        if (check.overBudget) throw new RunStopped("budget", check.overBudget);
      },
    };
    const graph = compileSwarmGraph(ctx, loaded, deps.checkpointer);
    const config = { configurable: { thread_id: runId }, recursionLimit: recursionLimit(loaded) };
    const budget = loaded.spec.budget;
    if (budget) {
      const over = await budgetExceeded(deps.sql, runId, row.swarm, budget);
      if (over) return finish("failed", null, over);
    }
    const before = await graph.getState(config);
    const begun = before.values && (before.values as Partial<SwarmStateValue>).input !== undefined;
    if (!begun || before.next.length > 0) {
      // "async" durability: a checkpoint is written while the next step runs. A step whose
      // checkpoint was lost in a crash is re-run by LangGraph, and its durable step tasks hand back
      // their stored results, so no model call is repeated for it.
      const stream = await graph.stream(begun ? null : { input: row.input }, { ...config, streamMode: "updates", durability: "async", signal: stop });
      // Cancellation, draining and the budget are checked before each step (ctx.beforeStep).
      for await (const _update of stream) if (stop.aborted) throw new Released("lost the lease");
    }
    const values = (await graph.getState(config)).values as SwarmStateValue;
    if (values.error) return finish("failed", values.output, values.error);
    return finish("completed", values.output ?? "", null);
  } catch (error) {
    const stopped = error instanceof RunStopped ? error : (error as { cause?: unknown })?.cause instanceof RunStopped ? ((error as { cause: RunStopped }).cause) : undefined;
    if (stopped?.reason === "cancelled") return finish("cancelled", null, stopped.message);
    if (stopped?.reason === "budget") return finish("failed", null, stopped.message);
    if (stop.aborted || stopped?.reason === "drain" || error instanceof Released) {
      // Leave it 'running' with its lease ended, so a live worker resumes it at once.
      await deps.sql`UPDATE swarm_runs SET lease_expires_at = now() WHERE id = ${runId} AND worker = ${deps.worker} AND status = 'running'`.catch(() => {});
      return { runId, status: "running", output: null, error: null, executed: true };
    }
    const message = (error as Error).message ?? String(error);
    if ((error as Error).name === "GraphRecursionError") return finish("failed", null, `the run took more graph steps than its max_turns allow: ${message}`);
    if ((error as Error).name === "ModelCallError") return finish("failed", null, message);
    // Anything else (the database or gateway went away mid-step) leaves the run to be resumed.
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * The swarm's `budget`, checked at each step boundary against what its steps cost (as the gateway
 * reported on each answer): `run` counts this run, `daily`/`monthly` every run of the swarm in the
 * calendar day/month (UTC). A step in flight when the limit is crossed finishes, so a run can
 * overshoot by one step; the gateway's key budgets are the hard limit.
 */
async function budgetExceeded(sql: Sql, runId: string, swarm: string, budget: Budget): Promise<string | undefined> {
  const scope =
    budget.period === "run"
      ? sql`run_id = ${runId}`
      : sql`swarm = ${swarm} AND created_at >= date_trunc(${budget.period === "daily" ? "day" : "month"}, now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
  const [row] = await sql<{ spent: number }[]>`
    SELECT coalesce(sum((result->>'cost_usd')::float8), 0)::float8 AS spent FROM tasks WHERE ${scope} AND status = 'closed'`;
  const spent = row?.spent ?? 0;
  return spent > budget.usd ? overBudgetMessage(budget, spent) : undefined;
}

/** One query per step boundary: was the run cancelled, and (with a `run` budget) is the budget spent? */
async function boundaryCheck(sql: Sql, runId: string, swarm: string, budget: Budget | undefined): Promise<{ cancelled: boolean; overBudget?: string }> {
  if (budget && budget.period !== "run") {
    const [row] = await sql<{ cancel_requested_at: Date | null }[]>`SELECT cancel_requested_at FROM swarm_runs WHERE id = ${runId}`;
    return { cancelled: row?.cancel_requested_at != null, overBudget: await budgetExceeded(sql, runId, swarm, budget) };
  }
  const [row] = await sql<{ cancel_requested_at: Date | null; spent: number }[]>`
    SELECT r.cancel_requested_at,
      ${budget ? sql`(SELECT coalesce(sum((result->>'cost_usd')::float8), 0)::float8 FROM tasks WHERE run_id = ${runId} AND status = 'closed')` : sql`0::float8`} AS spent
    FROM swarm_runs r WHERE r.id = ${runId}`;
  const spent = row?.spent ?? 0;
  return {
    cancelled: row?.cancel_requested_at != null,
    ...(budget && spent > budget.usd ? { overBudget: overBudgetMessage(budget, spent) } : {}),
  };
}

type Budget = { usd: number; period: "run" | "daily" | "monthly" };

function overBudgetMessage(budget: Budget, spent: number): string {
  return `budget exceeded: the swarm's ${budget.period} budget is $${budget.usd} and $${spent.toFixed(6)} is spent`;
}

/** The run's unfinished step tasks are cancelled with it (each through the task store, so each emits its event). */
async function cancelOpenSteps(sql: Sql, runId: string): Promise<void> {
  const tasks = new TaskStore(sql);
  const open = await sql<{ id: string }[]>`SELECT id FROM tasks WHERE run_id = ${runId} AND status IN ('open', 'in_progress', 'blocked')`;
  for (const { id } of open) await tasks.cancel(id, "the run was cancelled").catch(() => {});
}
