import type { Sql } from "../../../shared/db/connect.ts";
import type { TaskStore } from "../../tasks/store.ts";
import type { Task } from "../../tasks/schema.ts";
import { ModelCallError, type GatewayTarget } from "./gateway.ts";
import { recordRunEvent, recordRunEvents } from "./events.ts";

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
  /** family → model, from the gateway. */
  families: Map<string, string>;
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
   * Called before a step starts: throws RunStopped when the run must stop here (cancelled,
   * over budget, the worker draining), so no step begins after a stop was asked for.
   */
  beforeStep?: () => Promise<void>;
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
  const { task, created } = await ctx.tasks.create({
    title: info.title.slice(0, 500),
    description: info.description?.slice(0, 100_000) ?? "",
    issue_type: "task",
    assignee: info.agent,
    labels: ["swarm-step"],
    swarm: ctx.swarm,
    run_id: ctx.runId,
    idempotency_key: `${ctx.runId}:${info.path}`,
  }, { worker: ctx.claimer, leaseSeconds: STEP_LEASE_SECONDS });
  const base = { swarm: ctx.swarm, run_id: ctx.runId, step: info.path, agent: info.agent, task_id: task.id };
  const done = finishedResult(task);
  if (done) return done;

  let claimed: Task | undefined = task.status === "in_progress" && task.claimed_by === ctx.claimer ? task : undefined;
  if (!claimed && task.status === "open") claimed = await ctx.tasks.claimTask(task.id, { worker: ctx.claimer, leaseSeconds: STEP_LEASE_SECONDS });
  if (!claimed) {
    const now = await ctx.tasks.get(task.id);
    const finished = finishedResult(now);
    if (finished) return finished;
    return { ok: false, error: `step task ${task.id} is ${now.status}${now.claimed_by ? ` (held by ${now.claimed_by})` : ""}; the run cannot use it` };
  }

  await recordRunEvents(ctx.sql, created ? [{ ...base, type: "created" }, { ...base, type: "started" }] : [{ ...base, type: "started" }]);
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
  await ctx.tasks.complete(task.id, ctx.claimer, outcome);
  await recordRunEvent(ctx.sql, {
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
