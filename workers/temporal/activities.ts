import { ApplicationFailure, CancelledFailure, Context } from "@temporalio/activity";
import {
  PERMANENT_ERROR,
  TRANSIENT_ERROR,
  jitteredDelayMs,
  type ModelStep,
  type PanelAnswer,
  type PanelInput,
  type Review,
  type ReviewInput,
  type RunStatus,
  type RunUpdate,
  type StepFailure,
  type StepRef,
  type SupervisorDecision,
  type SupervisorInput,
  type SwarmActivities,
  type WorkerInput,
} from "./plan.ts";

/**
 * The activities of the swarmRun workflow: all of its I/O, none of its decisions. What a turn
 * says to the model, how a step becomes a task and how an event is published belong to the swarm
 * runtime (workers/swarm/runtime) and are passed in, so both engines call the gateway, write the
 * task DAG and publish events the same way. What is Temporal's own lives here: attempts,
 * heartbeats, cancellation, and which gateway failures are worth another attempt.
 */

export type SwarmEventType = "created" | "started" | "completed" | "failed" | "retrying" | "cancelled";

export interface SwarmEvent {
  scope: "run" | "step";
  type: SwarmEventType;
  runId: string;
  swarm: string;
  agent?: string;
  step?: string;
  /** The step's task in the task DAG. */
  taskId?: string;
  /** `retrying`: the attempt that failed. */
  attempt?: number;
  error?: string;
  /** The start of the step's answer, or of the run's output. */
  output?: string;
}

/** What a turn runner gets besides its input. */
export interface TurnContext {
  signal: AbortSignal;
  /** The step's task, sent to the gateway as x-godotz-task. */
  taskId: string;
}

/** One turn of a model agent, through the gateway with the x-godotz-swarm/agent/task headers. */
export interface TurnRunner {
  supervise(input: SupervisorInput, ctx: TurnContext): Promise<SupervisorDecision>;
  work(input: WorkerInput, ctx: TurnContext): Promise<string>;
  deliberate(input: PanelInput, ctx: TurnContext): Promise<Omit<PanelAnswer, "agent">>;
  review(input: ReviewInput, ctx: TurnContext): Promise<string>;
}

/**
 * A run's steps as tasks in the task DAG, keyed `<run>:<step>`. Every call is idempotent: an
 * activity attempt can repeat after a crash, and retries open the same step again.
 */
export interface StepRecorder {
  /** Creates the step's task if it is new, and makes sure it is in progress. */
  open(ref: StepRef): Promise<{ taskId: string; created: boolean }>;
  completed(ref: StepRef, taskId: string, output: string): Promise<void>;
  failed(ref: StepRef, error: string, cancelled: boolean): Promise<void>;
}

/** The swarm_runs row (run-store.ts has the Postgres one). */
export interface RunStatusStore {
  /** `changed` is false when the run had already moved past this status; `status` is the row's now. */
  update(update: RunUpdate): Promise<{ changed: boolean; status: RunStatus }>;
}

export interface SwarmActivityDeps {
  turns: TurnRunner;
  steps: StepRecorder;
  runs: RunStatusStore;
  emit(event: SwarmEvent): Promise<void>;
  /** How often a step in flight heartbeats (default 5 s); below the policy's heartbeatTimeout. */
  heartbeatMs?: number;
  /** [0, 1): the jitter source, Math.random unless a test pins it. */
  random?: () => number;
}

const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 413, 422]);

export interface GatewayFailure {
  permanent: boolean;
  message: string;
  status?: number;
  /** The gateway's Retry-After, when it sent one (429 rate_limited). */
  retryAfterMs?: number;
}

function retryAfterOf(headers: unknown): number | undefined {
  const value = headers instanceof Headers ? headers.get("retry-after") : undefined;
  if (!value) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * Which failures another attempt can fix. The gateway answers in OpenAI's error shape (DESIGN.md):
 * 400 bad request, 401/403 key or model refused, 429 `budget_exceeded` will not pass on retry;
 * 429 `rate_limited`, 5xx and lost connections may. An error without a status (a timeout, a
 * malformed model reply) is retried, as Temporal does by default, unless it says `retryable: false`.
 */
export function classifyFailure(err: unknown): GatewayFailure {
  const e = (err ?? {}) as { status?: unknown; code?: unknown; headers?: unknown; message?: unknown; retryable?: unknown };
  const message = typeof e.message === "string" && e.message ? e.message : String(err);
  const status = typeof e.status === "number" ? e.status : undefined;
  if (e.retryable === false) return { permanent: true, message, ...(status ? { status } : {}) };
  if (status === undefined) return { permanent: false, message };
  if (PERMANENT_STATUSES.has(status) || (status === 429 && e.code === "budget_exceeded")) return { permanent: true, message, status };
  const retryAfterMs = retryAfterOf(e.headers);
  return { permanent: false, message, status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

function toApplicationFailure(err: unknown, attempt: number, random: () => number): ApplicationFailure {
  const failure = classifyFailure(err);
  const details = [{ status: failure.status ?? null, attempt }];
  if (failure.permanent) {
    return ApplicationFailure.create({ type: PERMANENT_ERROR, message: failure.message, nonRetryable: true, details });
  }
  // The retry policy's own schedule has no jitter; this delay (or the gateway's Retry-After) replaces it.
  const delay = Math.max(failure.retryAfterMs ?? 0, jitteredDelayMs(attempt, random()));
  return ApplicationFailure.create({ type: TRANSIENT_ERROR, message: failure.message, nextRetryDelay: delay, details });
}

export function createActivities(deps: SwarmActivityDeps): SwarmActivities {
  const heartbeatMs = deps.heartbeatMs ?? 5000;
  const random = deps.random ?? Math.random;

  /** One attempt of a model step: events, heartbeats, cancellation, failure classification. */
  async function modelStep<T>(ref: ModelStep, call: (turn: TurnContext) => Promise<T>, summary: (value: T) => string): Promise<T> {
    const ctx = Context.current();
    const { attempt } = ctx.info;
    const { taskId, created } = await deps.steps.open(ref);
    const base = { runId: ref.runId, swarm: ref.swarm, agent: ref.agent, step: ref.step, taskId };
    if (created) await deps.emit({ scope: "step", type: "created", ...base });
    // Temporal's retry is the step's retry: the attempt before this one failed transiently.
    if (attempt === 1) await deps.emit({ scope: "step", type: "started", ...base });
    else await deps.emit({ scope: "step", type: "retrying", ...base, attempt: attempt - 1 });
    ctx.heartbeat({ attempt });
    const beat = setInterval(() => ctx.heartbeat({ attempt }), heartbeatMs);
    try {
      const pending = call({ signal: ctx.cancellationSignal, taskId });
      // The runner should stop on the signal; racing `cancelled` makes sure the attempt ends anyway.
      pending.catch(() => {});
      const value = await Promise.race([pending, ctx.cancelled]);
      const output = summary(value);
      await deps.steps.completed(ref, taskId, output);
      await deps.emit({ scope: "step", type: "completed", ...base, output: output.slice(0, 500) });
      return value;
    } catch (err) {
      if (err instanceof CancelledFailure) throw err;
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure("cancelled while the step was in flight", [], err as Error);
      throw toApplicationFailure(err, attempt, random);
    } finally {
      clearInterval(beat);
    }
  }

  return {
    async runUpdate(update: RunUpdate): Promise<{ status: RunStatus }> {
      const { changed, status } = await deps.runs.update(update);
      // A repeated attempt, or a run finished from outside, announces nothing twice.
      if (!changed) return { status };
      // As the LangGraph executor does when it first takes a run: created, then started.
      if (update.status === "running") await deps.emit({ scope: "run", type: "created", runId: update.runId, swarm: update.swarm });
      const type = update.status === "running" ? "started" : update.status;
      await deps.emit({
        scope: "run",
        type,
        runId: update.runId,
        swarm: update.swarm,
        ...(update.error ? { error: update.error } : {}),
        ...(update.output ? { output: update.output.slice(0, 500) } : {}),
      });
      return { status };
    },

    async stepFailed(failure: StepFailure): Promise<void> {
      const { error, cancelled, ...ref } = failure;
      await deps.steps.failed(ref, error, cancelled === true);
      await deps.emit({ scope: "step", type: cancelled ? "cancelled" : "failed", runId: ref.runId, swarm: ref.swarm, agent: ref.agent, step: ref.step, error });
    },

    supervise: (input) => modelStep(input, (turn) => deps.turns.supervise(input, turn), (d) => ("finish" in d ? `finish: ${d.finish}` : "parallel" in d ? `next: ${d.parallel.join(", ")}` : `next: ${d.next}`)),

    work: (input) => modelStep(input, (turn) => deps.turns.work(input, turn), (output) => output),

    deliberate: (input) =>
      modelStep(
        input,
        async (turn): Promise<PanelAnswer> => ({ agent: input.agent, ...(await deps.turns.deliberate(input, turn)) }),
        (a) => a.answer,
      ),

    review: (input) => modelStep(input, async (turn): Promise<Review> => ({ agent: input.agent, review: await deps.turns.review(input, turn) }), (r) => r.review),
  };
}
