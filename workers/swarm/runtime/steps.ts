import type postgres from "postgres";
import type { Sql } from "../../../shared/db/connect.ts";
import type { TaskStore } from "../../tasks/store.ts";
import { ModelCallError, type GatewayTarget } from "./gateway.ts";
import { recordRunEvent } from "./events.ts";
import { closeStep, openStep, type PreparedSteps } from "./step-tasks.ts";

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
  /**
   * Where steps opened ahead (in the transaction that closed the step before) wait for their
   * node; without it every step opens on its own (step-tasks.ts).
   */
  prepared?: PreparedSteps;
  /**
   * Called by the run's supervisor when its decision ends the run (it finishes, fails, or is out
   * of turns): what LangGraph then writes as the graph exits need not be stored (checkpointer.ts).
   */
  onEnding?: () => void;
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

/**
 * Runs `work` as a step of the run, exactly once across crashes. `next` names the steps that
 * follow a successful outcome when the caller knows them; they are opened in the transaction
 * that closes this one.
 */
export async function durableStep(
  ctx: RunContext,
  info: StepInfo,
  work: (hooks: StepHooks) => Promise<StepOutcome>,
  next: (outcome: StepOutcome) => readonly StepInfo[] = () => [],
): Promise<StepResult> {
  await ctx.beforeStep?.();
  const opened = await openStep(ctx, info);
  if (!("task" in opened)) return opened;
  const { task } = opened;
  const base = { swarm: ctx.swarm, run_id: ctx.runId, step: info.path, agent: info.agent, task_id: task.id };
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
  const completed = {
    ...base,
    type: "completed" as const,
    ...(outcome.model ? { model: outcome.model } : {}),
    tokens: outcome.tokens,
    cost_usd: outcome.cost_usd,
    output_summary: outcome.output.slice(0, 500),
  };
  await closeStep(ctx, task.id, outcome, completed, next(outcome));
  ctx.onProgress?.({ kind: "step-finished", step: info.path, agent: info.agent, title: info.title, ok: true, model: outcome.model, tokens: outcome.tokens, cost_usd: outcome.cost_usd });
  return { ok: true, ...outcome };
}

/** A thrown permanent failure of a step that is not a model call (an unknown worker named, a bad answer). */
export function stepFailure(message: string): ModelCallError {
  return new ModelCallError(message, undefined, "step_failed");
}
