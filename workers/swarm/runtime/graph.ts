import { getMaxListeners, setMaxListeners } from "node:events";
import { Annotation, END, START, Send, StateGraph, type BaseCheckpointSaver } from "@langchain/langgraph";
import type { LoadedSwarm } from "../spec/load.ts";
import { maxParallelOf, type ModelAgentSpec } from "../spec/schema.ts";
import { askModel, transcript, workerTurn, type Turn } from "./agents.ts";
import { connectTools } from "./mcp.ts";
import { runPanel } from "./panel.ts";
import { FINISH, RouteError, parseRoute, routeTool, supervisorPrompt, type Route } from "./route.ts";
import { workerChoices } from "./round-table.ts";
import { durableStep, stepFailure, type RunContext, type StepInfo, type StepResult } from "./steps.ts";

/**
 * A swarm as a LangGraph StateGraph: START → supervisor, which routes (by a tool call through the
 * gateway) to one of its workers or to FINISH; each worker (a model agent, a panel, or a nested
 * swarm run as a subgraph) goes back to the supervisor.
 *
 * With `topology.max_parallel` > 1 the supervisor names several workers at once and the
 * conditional edge fans out with one `Send` per worker: they run in parallel in one LangGraph
 * super-step (map-reduce, as LangGraph's own Send examples do), their turns are appended in the
 * order the supervisor named them (LangGraph applies a super-step's writes in task order), and
 * the supervisor runs once, after all of them, seeing every answer.
 */

export const SwarmState = Annotation.Root({
  input: Annotation<string>(),
  turns: Annotation<Turn[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  /** The supervisor's last decision: a worker's name or FINISH (a fan-out: the names, comma-separated). */
  next: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
  /** The workers of the current fan-out (max_parallel > 1), in the order the supervisor named them. */
  fanout: Annotation<string[]>({ reducer: (_a, b) => b, default: () => [] }),
  decisions: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  /** Steps taken so far; the next step's number, which names its task (`<run>:<prefix><n>`). */
  steps: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  output: Annotation<string | null>({ reducer: (_a, b) => b, default: () => null }),
  /** Why the run could not finish: the supervisor failed, or ran out of turns. */
  error: Annotation<string | null>({ reducer: (_a, b) => b, default: () => null }),
});
export type SwarmStateValue = typeof SwarmState.State;

export { FINISH };

/** Graph super-steps a swarm may take: two per supervisor decision, and some slack. */
export function recursionLimit(loaded: LoadedSwarm): number {
  return loaded.spec.topology.max_turns * 2 + 5;
}

/** `prefix` namespaces the step paths of a nested swarm ("3." for the one run at step 3). */
export function buildSwarmGraph(ctx: RunContext, loaded: LoadedSwarm, prefix = "") {
  const spec = loaded.spec;
  const { supervisor, workers, max_turns } = spec.topology;
  const boss = spec.agents[supervisor];
  if (!boss || boss.type === "swarm") throw stepFailure(`swarm ${spec.name}: the supervisor ${supervisor} is not a model agent`);
  const width = maxParallelOf(spec.topology);
  const system = supervisorPrompt(boss.instructions, workerChoices(spec), width);
  const route = routeTool(workers, width);
  // Every branch's model call listens on the run's signal, and a fan-out has up to `width` of
  // them at once; Node would otherwise warn of a listener leak past ten.
  if (width > 1) setMaxListeners(Math.max(getMaxListeners(ctx.signal), 10 + width * 2), ctx.signal);

  const supervisorStep = (path: string, decisions: number) => supervisorStepInfo(supervisor, path, decisions);

  const graph = new StateGraph(SwarmState);
  graph.addNode("supervisor", async (state: SwarmStateValue) => {
    const path = `${prefix}${state.steps}`;
    // The run's own supervisor (not a nested swarm's) says when the run's graph is about to end.
    const ending = <T>(update: T): T => {
      if (prefix === "") ctx.onEnding?.();
      return update;
    };
    if (state.decisions >= max_turns) {
      return ending({ next: FINISH, error: `stopped unfinished: the supervisor made max_turns (${max_turns}) decisions` });
    }
    const result = await durableStep(ctx, supervisorStep(path, state.decisions), async (hooks) => {
      const answer = await askModel(ctx, spec.name, supervisor, boss, hooks, {
        messages: [
          { role: "system", content: system },
          { role: "user", content: transcript(state.input, state.turns) },
        ],
        tools: [route],
        tool_choice: { type: "function", function: { name: "route" } },
      });
      const decision = decide(answer.message.tool_calls?.[0]?.function.arguments, workers, width);
      return { output: decision.finish ? FINISH : decision.workers.join(","), data: decision, model: answer.model, tokens: answer.tokens, cost_usd: answer.costUsd };
    }, (outcome) => {
      // The workers it named come next, at the following step number (see the worker nodes).
      const decision = storedRoute(outcome.output, outcome.data);
      if (decision.finish) return [];
      return decision.workers.flatMap((name) => workerStepInfo(loaded, name, workerPath(prefix, state.steps + 1, name, width)) ?? []);
    });
    if (!result.ok) return ending({ next: FINISH, steps: state.steps + 1, error: `the supervisor ${supervisor} failed: ${result.error}` });
    const decision = storedRoute(result.output, result.data);
    const update = { next: result.output, fanout: decision.finish ? [] : decision.workers, decisions: state.decisions + 1, steps: state.steps + 1 };
    if (!decision.finish) return update;
    const last = [...state.turns].reverse().find((t) => t.ok);
    return ending({ ...update, next: FINISH, output: last?.text ?? decision.reason ?? "" });
  });

  for (const name of workers) {
    graph.addNode(name, async (state: SwarmStateValue) => {
      // A fan-out's branches share the step number, so each gets its own path under it
      // (`3.alpha`, `3.beta`): a distinct task, hence exactly-once, per branch.
      const path = workerPath(prefix, state.steps, name, width);
      // The supervisor comes next, unless it is out of turns; a fan-out's branches leave it to
      // open on its own, after all of them.
      const next = width === 1 && state.decisions < max_turns ? [supervisorStep(`${prefix}${state.steps + 1}`, state.decisions)] : [];
      const result = await workerStep(ctx, loaded, name, path, state, next);
      const turn: Turn = { step: path, agent: name, ok: result.ok, text: result.ok ? result.output : result.error };
      return { turns: [turn], steps: state.steps + 1 };
    });
  }

  // The node names are the swarm's own (validated: lower-case names, never LangGraph's __start__/__end__).
  const g = graph as unknown as StateGraph<typeof SwarmState.spec, SwarmStateValue, Partial<SwarmStateValue>, string>;
  g.addEdge(START, "supervisor");
  g.addConditionalEdges(
    "supervisor",
    (state: SwarmStateValue) => {
      if (state.next === FINISH || state.error) return END;
      // Each branch gets the whole state as its input: the run so far, as the supervisor saw it.
      return width > 1 ? state.fanout.map((w) => new Send(w, state)) : state.next;
    },
    [...workers, END],
  );
  for (const name of workers) g.addEdge(name, "supervisor");
  return g;
}

/** The supervisor's step at `path`, deciding its turn `decisions + 1`. */
function supervisorStepInfo(supervisor: string, path: string, decisions: number): StepInfo {
  return { path, agent: supervisor, title: `${supervisor}: decide who works next (turn ${decisions + 1})` };
}

/** A run's first step, before its graph runs: its supervisor's first decision (none if that is no model agent). */
export function firstStep(loaded: LoadedSwarm): StepInfo | undefined {
  const { supervisor } = loaded.spec.topology;
  const boss = loaded.spec.agents[supervisor];
  return boss && boss.type !== "swarm" ? supervisorStepInfo(supervisor, "0", 0) : undefined;
}

export function compileSwarmGraph(ctx: RunContext, loaded: LoadedSwarm, checkpointer: BaseCheckpointSaver | false, prefix = "") {
  return buildSwarmGraph(ctx, loaded, prefix).compile({ checkpointer });
}

function workerPath(prefix: string, steps: number, name: string, width: number): string {
  return width > 1 ? `${prefix}${steps}.${name}` : `${prefix}${steps}`;
}

/** The step a worker takes at `path`: a panel, a nested swarm or a model agent; none for an unknown name. */
function workerStepInfo(loaded: LoadedSwarm, name: string, path: string): StepInfo | undefined {
  const spec = loaded.spec;
  const panel = spec.panels[name];
  if (panel) return { path, agent: name, title: `${name}: panel of ${panel.agents.join(", ")}` };
  const agent = spec.agents[name];
  if (!agent) return undefined;
  if (agent.type === "swarm") return { path, agent: name, title: `${name}: nested swarm ${loaded.subswarms[name]?.spec.name ?? agent.swarm}` };
  return { path, agent: name, title: `${name}: ${agent.role ?? "work on the task"}`.slice(0, 200) };
}

function workerStep(ctx: RunContext, loaded: LoadedSwarm, name: string, path: string, state: SwarmStateValue, next: readonly StepInfo[]): Promise<StepResult> {
  const spec = loaded.spec;
  const info = workerStepInfo(loaded, name, path);
  if (!info) return Promise.resolve({ ok: false, error: `${name} is neither an agent nor a panel of swarm ${spec.name}` });
  const then = () => next;
  const panel = spec.panels[name];
  if (panel) return durableStep(ctx, info, () => runPanel(ctx, loaded, name, panel, path, state.input, state.turns), then);
  const agent = spec.agents[name]!;
  if (agent.type === "swarm") {
    const sub = loaded.subswarms[name];
    return durableStep(ctx, info, async () => {
      if (!sub) throw stepFailure(`the nested swarm of ${name} (${agent.swarm}) was not loaded with the run`);
      // Run inline without a checkpointer of its own: its steps are durable tasks, so a resumed
      // parent replays the nested run from their stored results without calling a model twice.
      const graph = compileSwarmGraph(ctx, sub, false, `${path}.`);
      const values = (await graph.invoke({ input: transcript(state.input, state.turns) }, { recursionLimit: recursionLimit(sub), signal: ctx.signal })) as SwarmStateValue;
      if (values.error) throw stepFailure(`nested swarm ${sub.spec.name}: ${values.error}`);
      return { output: values.output ?? "", data: { turns: values.turns.length }, tokens: 0, cost_usd: 0 };
    }, then);
  }
  return durableStep(ctx, info, async (hooks) => {
    const tools = agent.tools.length ? await connectTools(spec, agent.tools) : undefined;
    try {
      return await workerTurn(ctx, loaded, name, agent as ModelAgentSpec, hooks, state.input, state.turns, tools);
    } finally {
      await tools?.close();
    }
  }, then);
}

/** A bad route fails the supervisor's step for good, as any step failure does. */
function decide(args: string | undefined, workers: readonly string[], width: number): Route {
  try {
    return parseRoute(args, workers, width);
  } catch (error) {
    if (error instanceof RouteError) throw stepFailure(error.message);
    throw error;
  }
}

/**
 * The decision a supervisor step stored. Steps finished before fan-out existed stored
 * `{ next: "name" }` as data and the name as output; both forms are read back here, so a run
 * resumed across the upgrade keeps its decisions.
 */
function storedRoute(output: string, data: unknown): Route {
  const d = (data ?? {}) as { finish?: unknown; workers?: unknown; reason?: unknown };
  const reason = typeof d.reason === "string" ? { reason: d.reason } : {};
  if (output === FINISH || d.finish === true) return { finish: true, ...reason };
  if (Array.isArray(d.workers) && d.workers.every((w) => typeof w === "string")) return { finish: false, workers: d.workers as string[], ...reason };
  return { finish: false, workers: output.split(","), ...reason };
}
