import type postgres from "postgres";
import type { Sql } from "../../../shared/db/connect.ts";
import type { RunEvent } from "../../events/runs.ts";
import type { TaskStore } from "../../tasks/store.ts";
import type { Task } from "../../tasks/schema.ts";
import { claimedTaskStatements } from "../../tasks/claimed.ts";
import { TASK_COLUMNS, closeClaimed } from "../../tasks/sql.ts";
import { ModelCallError, type GatewayTarget } from "./gateway.ts";
import { insertRunEventsWhen, recordRunEvent, recordRunEvents } from "./events.ts";

/**
 * A step of a run (an agent's turn, a panel answer, a supervisor decision) is a task in the task
 * DAG, keyed `<run>:<step path>`. The task's stored result is what makes a step exactly-once
 * across a crash: LangGraph re-runs a node that was interrupted, and the node's steps that had
 * already finished return their stored result instead of calling the model again. Only a call
 * that was in flight when the worker died is made again.
 */

export interface StepOutcome {
  output: string;
  /** Whatever else the step's caller needs back (the routing decision, a panel answer). */
  data?: unknown;
  model?: string;
  tokens: number;
  cost_usd: number;
}

export type StepResult = ({ ok: true } & StepOutcome) | { ok: false; error: string };

export interface Progress {
  kind: "step-started" | "step-finished" | "step-retrying";
  step: string;
  agent: string;
  title: string;
  ok?: boolean;
  model?: string;
  tokens?: number;
  cost_usd?: number;
  error?: string;
}

/** What every node of a run's graph needs; built once per execution by the executor. */
export interface RunContext {
  sql: Sql;
  tasks: TaskStore;
  gateway: GatewayTarget;
  runId: string;
  /** The run's top-level swarm: events and tasks are filed under it. */
  swarm: string;
  /** Who claims the run's step tasks: the run itself, so a worker resuming it can finish them. */
  claimer: string;
  signal: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** First retry backoff; tests shorten it. */
  minBackoffMs?: number;
  /**
   * Called before a step starts: throws RunStopped when the run must stop here, so no step begins
   * after a stop was asked for. For what this process knows (the worker draining); a check that
   * needs the database belongs in `boundary`, which costs no round trip of its own.
   */
  beforeStep?: () => Promise<void>;
  /** The run's stop conditions in the database, checked in the transaction that opens each step. */
  boundary?: StepBoundary;
}

/**
 * What stops a run at a step boundary (cancelled, over budget), checked by the statement that
 * inserts the step's task (see openStep), so a stop writes nothing of the step.
 */
export interface StepBoundary {
  /** One row: `stop`, null to go on or why to stop, and whatever `verdict` needs. */
  query(sql: Sql): postgres.PendingQuery<postgres.Row[]>;
  /** The stop to throw for a row whose `stop` is set. */
  verdict(row: postgres.Row): RunStopped;
}

/** The run stops at a step boundary; the executor records why. */
export class RunStopped extends Error {
  constructor(readonly reason: "cancelled" | "budget" | "drain", message: string) {
    super(message);
    this.name = "RunStopped";
  }
}

export interface StepInfo {
  path: string;
  agent: string;
  title: string;
  description?: string;
}

export interface StepHooks {
  /** The task id, sent as x-godotz-task. */
  taskId: string;
  onRetry(attempt: number, error: Error): Promise<void>;
}

const STEP_LEASE_SECONDS = 6 * 3600;

export async function durableStep(ctx: RunContext, info: StepInfo, work: (hooks: StepHooks) => Promise<StepOutcome>): Promise<StepResult> {
  await ctx.beforeStep?.();
  const opened = await openStep(ctx, info);
  if (!("task" in opened)) return opened;
  const { task } = opened;
  const base = { ...eventBase(ctx, info), task_id: task.id };
  ctx.onProgress?.({ kind: "step-started", step: info.path, agent: info.agent, title: info.title });
  const hooks: StepHooks = {
    taskId: task.id,
    onRetry: async (attempt, error) => {
      await recordRunEvent(ctx.sql, { ...base, type: "retrying", attempt, error: error.message });
      ctx.onProgress?.({ kind: "step-retrying", step: info.path, agent: info.agent, title: info.title, error: error.message });
    },
  };
  let outcome: StepOutcome;
  try {
    outcome = await work(hooks);
  } catch (error) {
    // A permanent failure fails the step and is handed to the caller (the supervisor sees it);
    // anything else (the run stopped, the database went away) leaves the task to the resumed run.
    if (!(error instanceof ModelCallError) || error.code === "aborted") throw error;
    await ctx.tasks.fail(task.id, ctx.claimer, error.message);
    await recordRunEvent(ctx.sql, { ...base, type: "failed", error: error.message });
    ctx.onProgress?.({ kind: "step-finished", step: info.path, agent: info.agent, title: info.title, ok: false, error: error.message });
    return { ok: false, error: error.message };
  }
  await closeStep(ctx, task.id, outcome, {
    ...base,
    type: "completed",
    ...(outcome.model ? { model: outcome.model } : {}),
    tokens: outcome.tokens,
    cost_usd: outcome.cost_usd,
    output_summary: outcome.output.slice(0, 500),
  });
  ctx.onProgress?.({ kind: "step-finished", step: info.path, agent: info.agent, title: info.title, ok: true, model: outcome.model, tokens: outcome.tokens, cost_usd: outcome.cost_usd });
  return { ok: true, ...outcome };
}

function eventBase(ctx: RunContext, info: StepInfo) {
  return { swarm: ctx.swarm, run_id: ctx.runId, step: info.path, agent: info.agent };
}

/**
 * Opens a step: its task claimed by the run and its `created` and `started` events, or the stored
 * result of a step that finished before. One transaction, sent in one round trip (BEGIN to
 * COMMIT pipelined on one connection), whose statements gate each other in SQL:
 *
 * 1. the run's boundary check and the task's insert, in one statement and so one snapshot: a
 *    cancel (or a spent budget) committed before the step opens always stops it, and then
 *    nothing of the step is written. A cancel committed while it opens is seen at the next
 *    boundary, as one made during the step would be;
 * 2. the claim of the task just inserted, and the events, written only if the claim was made;
 * 3. the task under the step's key, which on a resumed run is the step's stored outcome.
 */
async function openStep(ctx: RunContext, info: StepInfo): Promise<{ task: Task } | StepResult> {
  const input = {
    title: info.title.slice(0, 500),
    description: info.description?.slice(0, 100_000) ?? "",
    issue_type: "task",
    assignee: info.agent,
    labels: ["swarm-step"],
    swarm: ctx.swarm,
    run_id: ctx.runId,
    idempotency_key: `${ctx.runId}:${info.path}`,
  };
  const claim = { worker: ctx.claimer, leaseSeconds: STEP_LEASE_SECONDS };
  const db = await ctx.sql.reserve();
  let results: PromiseSettledResult<postgres.Row[]>[];
  try {
    const boundary = ctx.boundary?.query(db) ?? db`SELECT NULL::text AS stop`;
    const statements = claimedTaskStatements(db, input, claim, { when: db`NOT EXISTS (SELECT 1 FROM boundary WHERE stop IS NOT NULL)` });
    const base = { ...eventBase(ctx, info), task_id: statements.id };
    const events = insertRunEventsWhen(db, [{ ...base, type: "created" }, { ...base, type: "started" }], db`EXISTS (SELECT 1 FROM claimed)`);
    // Sent in this order with no wait between them; each waits for the ones before at the server.
    results = await Promise.allSettled([
      db`BEGIN`,
      db`WITH boundary AS (${boundary}), inserted AS (${statements.insert}) SELECT * FROM boundary`,
      db`WITH claimed AS (${statements.claim}), announced AS (${events}) SELECT * FROM claimed`,
      db`SELECT ${db(TASK_COLUMNS)} FROM tasks WHERE idempotency_key = ${input.idempotency_key}`,
      // After a failed statement the transaction is aborted and Postgres answers this COMMIT with a rollback.
      db`COMMIT`,
    ]);
  } finally {
    db.release();
  }
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  const [, checked, claimed, stored] = results.map((r) => (r as PromiseFulfilledResult<postgres.Row[]>).value);
  if (checked?.[0]?.stop != null) throw ctx.boundary!.verdict(checked[0]);
  const fresh = claimed?.[0] as Task | undefined;
  if (fresh) return { task: fresh };
  const done = stored?.[0] && finishedResult(stored[0] as Task);
  if (done) return done;

  // The step's task exists unfinished (the run resumed mid-step) or the random id was taken: the
  // general path, which also claims a task reopened by hand.
  const { task, created } = await ctx.tasks.create(input, claim);
  const finished = finishedResult(task);
  if (finished) return finished;
  let held: Task | undefined = task.status === "in_progress" && task.claimed_by === ctx.claimer ? task : undefined;
  if (!held && task.status === "open") held = await ctx.tasks.claimTask(task.id, claim);
  if (!held) {
    const now = await ctx.tasks.get(task.id);
    return finishedResult(now) ?? { ok: false, error: `step task ${task.id} is ${now.status}${now.claimed_by ? ` (held by ${now.claimed_by})` : ""}; the run cannot use it` };
  }
  const resumed = { ...eventBase(ctx, info), task_id: task.id };
  await recordRunEvents(ctx.sql, created ? [{ ...resumed, type: "created" }, { ...resumed, type: "started" }] : [{ ...resumed, type: "started" }]);
  return { task: held };
}

/** Closes the step's task with its outcome and writes its `completed` event: one statement, one commit. */
async function closeStep(ctx: RunContext, taskId: string, outcome: StepOutcome, event: Omit<RunEvent, "at">): Promise<void> {
  const sql = ctx.sql;
  const [row] = await sql`
    WITH closed AS (${closeClaimed(sql, taskId, ctx.claimer, outcome)}),
      announced AS (${insertRunEventsWhen(sql, [event], sql`EXISTS (SELECT 1 FROM closed)`)})
    SELECT id FROM closed`;
  if (row) return;
  // No longer the run's claim: completeTask tells a task closed already (a no-op) from a lost lease (thrown).
  await ctx.tasks.complete(taskId, ctx.claimer, outcome);
  await recordRunEvent(ctx.sql, event);
}

function finishedResult(task: Task): StepResult | undefined {
  if (task.status === "closed") {
    // Closed by hand (`bd close`) rather than by the run: no stored outcome, an empty answer.
    const r = (task.result ?? {}) as Partial<StepOutcome>;
    return { ok: true, output: typeof r.output === "string" ? r.output : (task.close_reason ?? ""), data: r.data, model: r.model, tokens: r.tokens ?? 0, cost_usd: r.cost_usd ?? 0 };
  }
  if (task.status === "failed") return { ok: false, error: task.error ?? "failed" };
  if (task.status === "cancelled") return { ok: false, error: "the step was cancelled" };
  return undefined;
}

/** A thrown permanent failure of a step that is not a model call (an unknown worker named, a bad answer). */
export function stepFailure(message: string): ModelCallError {
  return new ModelCallError(message, undefined, "step_failed");
}
