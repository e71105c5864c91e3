import type { Sql } from "../../shared/db/connect.ts";
import { TaskStore } from "../tasks/store.ts";
import type { LoadedSwarm } from "../swarm/spec/load.ts";
import type { ModelAgentSpec } from "../swarm/spec/schema.ts";
import { askModel, systemPrompt, transcript, workerTurn, type Turn } from "../swarm/runtime/agents.ts";
import { recordRunEvent } from "../swarm/runtime/events.ts";
import { ModelCallError, type GatewayTarget } from "../swarm/runtime/gateway.ts";
import { RouteError, parseRoute, routeTool, supervisorPrompt } from "../swarm/runtime/route.ts";
import { connectTools } from "../swarm/runtime/mcp.ts";
import { ANSWER_TOOL, panelQuestion, readPanelAnswer } from "../swarm/runtime/panel.ts";
import type { RunContext, StepHooks } from "../swarm/runtime/steps.ts";
import type { PanelInput, ReviewInput, StepRef, SupervisorInput, TurnRecord, WorkerInput } from "./plan.ts";
import type { StepRecorder, SwarmActivityDeps, SwarmEvent, TurnContext, TurnRunner } from "./activities.ts";
import { postgresRunStore } from "./run-store.ts";

/**
 * The activities' dependencies in production: the swarm runtime's own gateway calls, prompts,
 * task DAG steps and run events (workers/swarm/runtime), so a run reads the same whichever engine
 * executes it. Each model call makes one attempt: Temporal's retry policy is the retry.
 */

export interface RuntimeDepsOptions {
  sql: Sql;
  gateway: GatewayTarget;
  /** This worker process, recorded on the runs it starts. */
  worker: string;
}

/** A failure another attempt cannot fix (activities.ts reads `retryable`). */
class PermanentStepError extends Error {
  readonly retryable = false;
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "PermanentStepError";
  }
}

/** The runtime marks its own permanent failures (a bad route, a missing model) with code step_failed. */
function asStepError(error: unknown): unknown {
  if (error instanceof ModelCallError && error.code === "step_failed") return new PermanentStepError(error.message, error.status);
  return error;
}

function turnsOf(records: TurnRecord[]): Turn[] {
  return records.map((r) => ({ step: r.step, agent: r.node, ok: r.status === "completed", text: r.output }));
}

/** The agent's spec with one attempt per model call: retries belong to Temporal. */
function oneAttempt(agent: ModelAgentSpec): ModelAgentSpec {
  return { ...agent, limits: { ...agent.limits, max_attempts: 1 } };
}

function findSwarm(loaded: LoadedSwarm, name: string): LoadedSwarm | undefined {
  if (loaded.spec.name === name) return loaded;
  for (const sub of Object.values(loaded.subswarms ?? {})) {
    const found = findSwarm(sub, name);
    if (found) return found;
  }
  return undefined;
}

export function runtimeActivityDeps(options: RuntimeDepsOptions): SwarmActivityDeps {
  const { sql, gateway } = options;
  const tasks = new TaskStore(sql);
  const loadedRuns = new Map<string, Promise<LoadedSwarm>>();

  /** The run's swarm snapshot (swarm_runs.spec), for skills and MCP servers; histories carry only agent specs. */
  function swarmOf(runId: string, agentSwarm: string): Promise<LoadedSwarm> {
    let loading = loadedRuns.get(runId);
    if (!loading) {
      loading = sql<{ spec: LoadedSwarm }[]>`SELECT spec FROM swarm_runs WHERE id = ${runId}`.then(([row]) => {
        if (!row) throw new PermanentStepError(`swarm run ${runId} does not exist`);
        return row.spec;
      });
      loading.catch(() => loadedRuns.delete(runId));
      loadedRuns.set(runId, loading);
      // Runs are few per worker and short-lived next to the process; forget the oldest past 200.
      if (loadedRuns.size > 200) loadedRuns.delete(loadedRuns.keys().next().value!);
    }
    return loading.then((loaded) => {
      const found = findSwarm(loaded, agentSwarm);
      if (!found) throw new PermanentStepError(`swarm ${agentSwarm} is not part of run ${runId}`);
      return found;
    });
  }

  async function context(ref: StepRef, turn: TurnContext): Promise<RunContext> {
    return { sql, tasks, gateway, runId: ref.runId, swarm: ref.swarm, claimer: `run:${ref.runId}`, signal: turn.signal };
  }

  const hooks = (turn: TurnContext): StepHooks => ({ taskId: turn.taskId, onRetry: async () => {} });

  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw asStepError(error);
    }
  }

  const turns: TurnRunner = {
    supervise: (input: SupervisorInput, turn) =>
      guarded(async () => {
        const ctx = await context(input, turn);
        const names = input.workers.map((w) => w.name);
        const width = input.maxParallel ?? 1;
        const agent = oneAttempt(input.spec);
        const answer = await askModel(ctx, input.agentSwarm, input.agent, agent, hooks(turn), {
          messages: [
            { role: "system", content: supervisorPrompt(agent.instructions, input.workers, width) },
            { role: "user", content: transcript(input.task, turnsOf(input.transcript)) },
          ],
          tools: [routeTool(names, width)],
          tool_choice: { type: "function", function: { name: "route" } },
        });
        const args = answer.message.tool_calls?.[0]?.function.arguments;
        let route;
        try {
          route = parseRoute(args, names, width);
        } catch (error) {
          // A model that did not use the tool properly may on another attempt: left retryable.
          if (error instanceof RouteError) throw new Error(error.message);
          throw error;
        }
        const reason = route.reason ?? "";
        // A fan-out swarm's branches always get their own paths, even when only one worker is named.
        if (!route.finish) return width > 1 ? { parallel: route.workers, instruction: reason } : { next: route.workers[0]!, instruction: reason };
        // As in the LangGraph runtime: the answer is the last successful turn's, else the reason.
        const last = [...input.transcript].reverse().find((t) => t.status === "completed");
        return { finish: last?.output ?? reason };
      }),

    work: (input: WorkerInput, turn) =>
      guarded(async () => {
        const ctx = await context(input, turn);
        const loaded = await swarmOf(input.runId, input.agentSwarm);
        const agent = oneAttempt(input.spec);
        const tools = agent.tools.length ? await connectTools(loaded.spec, agent.tools) : undefined;
        try {
          // As in the LangGraph runtime, a worker sees the task and the work so far; the
          // supervisor's reason for choosing it stays in the transcript and the progress query.
          const result = await workerTurn(ctx, loaded, input.agent, agent, hooks(turn), input.task, turnsOf(input.transcript), tools);
          return result.output;
        } finally {
          await tools?.close();
        }
      }),

    deliberate: (input: PanelInput, turn) =>
      guarded(async () => {
        const ctx = await context(input, turn);
        const loaded = await swarmOf(input.runId, input.agentSwarm);
        const agent = oneAttempt(input.spec);
        const question = panelQuestion(transcript(input.task, turnsOf(input.transcript)), input.panel, input.panelRole, input.round, input.previousRound);
        const reply = await askModel(ctx, input.agentSwarm, input.agent, agent, hooks(turn), {
          messages: [
            { role: "system", content: systemPrompt(loaded, agent) || `You are ${input.agent}.` },
            { role: "user", content: question },
          ],
          tools: [ANSWER_TOOL],
          tool_choice: { type: "function", function: { name: "answer" } },
        });
        const answer = readPanelAnswer(reply.message.tool_calls?.[0]?.function.arguments, reply.message.content);
        if (!answer) throw new Error("the panelist gave neither an answer nor text");
        return answer;
      }),

    review: (input: ReviewInput, turn) =>
      guarded(async () => {
        const ctx = await context(input, turn);
        const loaded = await swarmOf(input.runId, input.agentSwarm);
        const agent = oneAttempt(input.spec);
        const reply = await askModel(ctx, input.agentSwarm, input.agent, agent, hooks(turn), {
          messages: [
            { role: "system", content: systemPrompt(loaded, agent) || `You are ${input.agent}, a critic.` },
            { role: "user", content: `Task:\n${input.task}\n\nFinal answer:\n${input.answer}\n\nReview the final answer: what is wrong or missing, if anything?` },
          ],
        });
        return reply.message.content ?? "";
      }),
  };

  const steps: StepRecorder = {
    async open(ref) {
      const { task, created } = await tasks.create({
        title: `${ref.agent}: step ${ref.step}`.slice(0, 500),
        description: "",
        issue_type: "task",
        assignee: ref.agent,
        labels: ["swarm-step"],
        swarm: ref.swarm,
        run_id: ref.runId,
        idempotency_key: `${ref.runId}:${ref.step}`,
      });
      if (task.status === "open") await tasks.claimTask(task.id, { worker: `run:${ref.runId}`, leaseSeconds: 6 * 3600 });
      return { taskId: task.id, created };
    },
    async completed(ref, taskId, output) {
      const task = await tasks.get(taskId);
      if (task.status === "in_progress") await tasks.complete(taskId, `run:${ref.runId}`, { output });
    },
    async failed(ref, error, cancelled) {
      const [row] = await sql<{ id: string; status: string }[]>`SELECT id, status FROM tasks WHERE idempotency_key = ${`${ref.runId}:${ref.step}`}`;
      if (!row || !["open", "in_progress", "blocked"].includes(row.status)) return;
      if (cancelled) await tasks.cancel(row.id, error);
      else if (row.status === "in_progress") await tasks.fail(row.id, `run:${ref.runId}`, error);
    },
  };

  async function emit(event: SwarmEvent): Promise<void> {
    const taskId = event.taskId ?? (event.step ? await taskIdOf(event.runId, event.step) : undefined);
    await recordRunEvent(sql, {
      type: event.type,
      swarm: event.swarm,
      run_id: event.runId,
      step: event.step ?? null,
      agent: event.agent ?? null,
      task_id: taskId ?? null,
      ...(event.attempt !== undefined ? { attempt: event.attempt } : {}),
      ...(event.error ? { error: event.error.slice(0, 2000) } : {}),
      ...(event.output ? { output_summary: event.output.slice(0, 500) } : {}),
    });
  }

  async function taskIdOf(runId: string, step: string): Promise<string | undefined> {
    const [row] = await sql<{ id: string }[]>`SELECT id FROM tasks WHERE idempotency_key = ${`${runId}:${step}`}`;
    return row?.id;
  }

  return { turns, steps, runs: postgresRunStore(sql, options.worker), emit };
}
