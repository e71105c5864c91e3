import type { BaseCheckpointSaver } from "@langchain/langgraph";
import type { Sql } from "../../../shared/db/connect.ts";
import { TaskStore } from "../../tasks/store.ts";
import type { LoadedSwarm } from "../spec/load.ts";
import { swarmSchema } from "../spec/schema.ts";
import { claimRun, finishRun, getRun, renewLease, type RunStatus } from "../runs/store.ts";
import { recordRunEvent, recordRunEvents } from "./events.ts";
import type { GatewayTarget } from "./gateway.ts";
import { ExecutionSaver } from "./checkpointer.ts";
import { compileSwarmGraph, firstStep, recursionLimit, type SwarmStateValue } from "./graph.ts";
import { RunStopped, type Progress, type RunContext, type StepBoundary } from "./steps.ts";
import { announceWithFirstStep, discardPrepared, settlePrepared, type PreparedSteps } from "./step-tasks.ts";

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
  const started = { ...runBase, type: "started" as const, attempt: row.attempts };
  const startEvents = row.attempts === 1 ? [{ ...runBase, type: "created" as const }, started] : [started];
  // Steps opened ahead, in the transaction that closed the step before (step-tasks.ts).
  const prepared: PreparedSteps = new Map();
  const parsed = swarmSchema.safeParse((row.spec as Partial<LoadedSwarm> | null)?.spec);
  const loaded = parsed.success ? { ...(row.spec as LoadedSwarm), spec: parsed.data } : undefined;
  // Why the run ends before its graph runs, if it does.
  const endsAtOnce: [status: "cancelled" | "failed", error: string] | undefined = row.cancel_requested_at
    ? ["cancelled", "cancelled before it started"]
    : row.attempts > (deps.maxAttempts ?? 5)
      ? ["failed", `gave up after ${row.attempts - 1} attempts to execute the run`]
      : !loaded
        ? ["failed", `the run's swarm snapshot is not a valid swarm: ${parsed.error?.issues[0]?.message}`]
        : undefined;

  // A lost lease aborts at once (another worker owns the run now); a drain waits for the step in
  // flight to finish, so its model call is not made again by the worker that resumes the run.
  const lease = new AbortController();
  const stop = lease.signal;
  const draining = () => deps.signal?.aborted === true;
  let ending = false;
  // The run's start events are written while the graph is built; the first step waits for them
  // before it opens (so they come before its own events), and so does the run's end. A first
  // execution opens its first step in the same transaction.
  let announced: Promise<void> = Promise.resolve();
  const ctx: RunContext & { prepared: PreparedSteps } = {
    sql: deps.sql,
    tasks: new TaskStore(deps.sql),
    gateway: deps.gateway,
    runId,
    swarm: row.swarm,
    claimer: `run:${runId}`,
    signal: stop,
    onProgress: deps.onProgress,
    minBackoffMs: deps.minBackoffMs,
    beforeStep: async () => {
      await announced;
      if (draining()) throw new RunStopped("drain", "the worker is stopping");
    },
    boundary: runBoundary(runId, row.swarm, loaded?.spec.budget),
    prepared,
    onEnding: () => {
      ending = true;
    },
  };
  const first = !endsAtOnce && loaded && row.attempts === 1 && !draining() ? firstStep(loaded) : undefined;
  announced = first ? announceWithFirstStep(ctx, startEvents, first) : recordRunEvents(deps.sql, startEvents);
  announced.catch(() => {}); // awaited below: by the first step or the run's end
  // LangGraph's checkpointer for this execution (set once the graph is built; checkpointer.ts).
  let saver: ExecutionSaver | undefined;
  const finish = async (status: "completed" | "failed" | "cancelled", output: string | null, error: string | null): Promise<RunOutcome> => {
    await announced;
    await settlePrepared(prepared);
    if (status === "cancelled") await cancelOpenSteps(deps.sql, runId);
    else await discardPrepared({ prepared, tasks: new TaskStore(deps.sql) });
    if (await finishRun(deps.sql, runId, deps.worker, { status, output, error })) {
      await recordRunEvent(deps.sql, { ...runBase, type: status, ...(error ? { error } : {}), ...(output ? { output_summary: output.slice(0, 500) } : {}) });
      // A finished run is never executed again, so its LangGraph checkpoints are never read: they
      // would only grow the checkpoint tables by one run's state per run. Its record stays in the
      // run, its step tasks and its events. A failure here leaves rows behind and nothing else.
      // A first execution that ended as its supervisor decided wrote none (ExecutionSaver).
      if (row.attempts > 1 || saver?.wrote) await deps.checkpointer.deleteThread(runId).catch(() => {});
    }
    return { runId, status, output, error, executed: true };
  };
  // A run without a valid swarm always has its reason in endsAtOnce; `!loaded` is for TypeScript.
  if (endsAtOnce || !loaded) return finish(endsAtOnce![0], null, endsAtOnce![1]);

  const heartbeat = setInterval(() => {
    renewLease(deps.sql, runId, deps.worker, leaseMs).then(
      (state) => state.held || lease.abort(new Released("lost the run's lease")),
      () => {}, // the database is away: the next beat tries again, and the lease says how long we may
    );
  }, Math.max(100, Math.floor(leaseMs / 3)));
  try {
    // A first execution reads no checkpoint, and an ending graph writes none (checkpointer.ts).
    saver = new ExecutionSaver(deps.checkpointer, runId, { fresh: row.attempts === 1, ending: () => ending });
    const graph = compileSwarmGraph(ctx, loaded, saver);
    const config = { configurable: { thread_id: runId }, recursionLimit: recursionLimit(loaded) };
    const budget = loaded.spec.budget;
    if (budget) {
      const over = await budgetExceeded(deps.sql, runId, row.swarm, budget);
      if (over) return finish("failed", null, over);
    }
    // A run taken for the first time has no checkpoint yet (only its executions write them): its
    // state is not read at all (ExecutionSaver would answer without a query, but LangGraph would
    // still build an empty snapshot before the first step).
    const before = row.attempts === 1 ? undefined : await graph.getState(config);
    const begun = before?.values !== undefined && (before.values as Partial<SwarmStateValue>).input !== undefined;
    if (!begun || before!.next.length > 0) {
      // "exit" durability: the checkpoint is written when the graph stops (finished, failed, or
      // stopped at a boundary), not after every step; per step it cost more than the rest of the
      // runtime (two transactions, about fifty socket writes; docs/benchmarks.md). The step tasks
      // are the exactly-once record, not the checkpoint: after a crash the run replays from its
      // last checkpoint (its start, or where a drain stopped it), each finished step handing back
      // its stored result in one round trip, so no finished step calls its model again. The
      // graph is a function of the input and those results, so the replay takes the same path.
      const stream = await graph.stream(begun ? null : { input: row.input }, { ...config, streamMode: "updates", durability: "exit", signal: stop });
      // Draining is checked before each step (ctx.beforeStep), cancellation and the budget as it opens (ctx.boundary).
      for await (const _update of stream) if (stop.aborted) throw new Released("lost the lease");
    }
    const values = (await graph.getState(config)).values as SwarmStateValue;
    if (values.error) return finish("failed", values.output, values.error);
    return finish("completed", values.output ?? "", null);
  } catch (error) {
    // A close sent with the next step's opening is not awaited by its step: it must be answered
    // before the run is let go, or a worker resuming it at once could work that step again.
    await settlePrepared(prepared);
    await announced.catch(() => {}); // a failure to write it is the run's to report (finish awaits it again)
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
  const [row] = await sql<{ spent: number }[]>`${spentQuery(sql, runId, swarm, budget)}`;
  const spent = row?.spent ?? 0;
  return spent > budget.usd ? overBudgetMessage(budget, spent) : undefined;
}

/** What the budget's scope has spent so far: one row, `spent`. */
function spentQuery(sql: Sql, runId: string, swarm: string, budget: Budget) {
  const scope =
    budget.period === "run"
      ? sql`run_id = ${runId}`
      : sql`swarm = ${swarm} AND created_at >= date_trunc(${budget.period === "daily" ? "day" : "month"}, now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
  return sql`SELECT coalesce(sum((result->>'cost_usd')::float8), 0)::float8 AS spent FROM tasks WHERE ${scope} AND status = 'closed'`;
}

/**
 * The check at each step boundary, made by the statement that opens the step (durableStep): was
 * the run cancelled, and is the swarm's budget spent? One row either way.
 */
function runBoundary(runId: string, swarm: string, budget: Budget | undefined): StepBoundary {
  return {
    query: (sql) => sql`
      SELECT CASE WHEN r.cancel_requested_at IS NOT NULL THEN 'cancelled'
                  WHEN ${budget ? sql`s.spent > ${budget.usd}::float8` : sql`false`} THEN 'budget' END AS stop,
        s.spent
      FROM swarm_runs r, LATERAL (${budget ? spentQuery(sql, runId, swarm, budget) : sql`SELECT 0::float8 AS spent`}) s
      WHERE r.id = ${runId}`,
    verdict: (row) =>
      budget && row.stop === "budget"
        ? new RunStopped("budget", overBudgetMessage(budget, row.spent as number))
        : new RunStopped("cancelled", "cancelled by request"),
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
