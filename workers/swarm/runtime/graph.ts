import { Annotation, END, START, StateGraph, type BaseCheckpointSaver } from "@langchain/langgraph";
import type { LoadedSwarm } from "../spec/load.ts";
import type { ModelAgentSpec } from "../spec/schema.ts";
import { askModel, transcript, workerTurn, type Turn } from "./agents.ts";
import type { ToolDefinition } from "./gateway.ts";
import { connectTools } from "./mcp.ts";
import { runPanel } from "./panel.ts";
import { durableStep, stepFailure, type RunContext, type StepResult } from "./steps.ts";

/**
 * A swarm as a LangGraph StateGraph: START → supervisor, which routes (by a tool call through the
 * gateway) to one of its workers or to FINISH; each worker (a model agent, a panel, or a nested
 * swarm run as a subgraph) goes back to the supervisor.
 */

export const SwarmState = Annotation.Root({
  input: Annotation<string>(),
  turns: Annotation<Turn[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  /** The supervisor's last decision: a worker's name or FINISH. */
  next: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
  decisions: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  /** Steps taken so far; the next step's number, which names its task (`<run>:<prefix><n>`). */
  steps: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  output: Annotation<string | null>({ reducer: (_a, b) => b, default: () => null }),
  /** Why the run could not finish: the supervisor failed, or ran out of turns. */
  error: Annotation<string | null>({ reducer: (_a, b) => b, default: () => null }),
});
export type SwarmStateValue = typeof SwarmState.State;

export const FINISH = "FINISH";

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
  const roster = workers.map((w) => `- ${w}: ${spec.agents[w]?.role ?? spec.panels[w]?.role ?? (spec.panels[w] ? "a panel that votes on an answer" : "worker")}`).join("\n");
  const routeTool: ToolDefinition = {
    type: "function",
    function: {
      name: "route",
      description: "Choose who works next, or FINISH when the task is done.",
      parameters: {
        type: "object",
        properties: { next: { type: "string", enum: [...workers, FINISH] }, reason: { type: "string" } },
        required: ["next"],
      },
    },
  };

  const graph = new StateGraph(SwarmState);
  graph.addNode("supervisor", async (state: SwarmStateValue) => {
    const path = `${prefix}${state.steps}`;
    if (state.decisions >= max_turns) {
      return { next: FINISH, error: `stopped unfinished: the supervisor made max_turns (${max_turns}) decisions` };
    }
    const result = await durableStep(ctx, { path, agent: supervisor, title: `${supervisor}: decide who works next (turn ${state.decisions + 1})` }, async (hooks) => {
      const answer = await askModel(ctx, spec.name, supervisor, boss, hooks, {
        messages: [
          { role: "system", content: `${boss.instructions.trim()}\n\nYour team:\n${roster}\n\nCall the route tool with who works next, or FINISH when the task is done.`.trim() },
          { role: "user", content: transcript(state.input, state.turns) },
        ],
        tools: [routeTool],
        tool_choice: { type: "function", function: { name: "route" } },
      });
      const decision = parseRoute(answer.message.tool_calls?.[0]?.function.arguments, workers);
      return { output: decision.next, data: decision, model: answer.model, tokens: answer.tokens, cost_usd: answer.costUsd };
    });
    if (!result.ok) return { next: FINISH, steps: state.steps + 1, error: `the supervisor ${supervisor} failed: ${result.error}` };
    const next = result.output;
    const update = { next, decisions: state.decisions + 1, steps: state.steps + 1 };
    if (next !== FINISH) return update;
    const last = [...state.turns].reverse().find((t) => t.ok);
    return { ...update, output: last?.text ?? (result.data as { reason?: string } | undefined)?.reason ?? "" };
  });

  for (const name of workers) {
    graph.addNode(name, async (state: SwarmStateValue) => {
      const path = `${prefix}${state.steps}`;
      const result = await workerStep(ctx, loaded, name, path, state);
      const turn: Turn = { step: path, agent: name, ok: result.ok, text: result.ok ? result.output : result.error };
      return { turns: [turn], steps: state.steps + 1 };
    });
  }

  // The node names are the swarm's own (validated: lower-case names, never LangGraph's __start__/__end__).
  const g = graph as unknown as StateGraph<typeof SwarmState.spec, SwarmStateValue, Partial<SwarmStateValue>, string>;
  g.addEdge(START, "supervisor");
  g.addConditionalEdges("supervisor", (state: SwarmStateValue) => (state.next === FINISH || state.error ? END : state.next), [...workers, END]);
  for (const name of workers) g.addEdge(name, "supervisor");
  return g;
}

export function compileSwarmGraph(ctx: RunContext, loaded: LoadedSwarm, checkpointer: BaseCheckpointSaver | false, prefix = "") {
  return buildSwarmGraph(ctx, loaded, prefix).compile({ checkpointer });
}

function workerStep(ctx: RunContext, loaded: LoadedSwarm, name: string, path: string, state: SwarmStateValue): Promise<StepResult> {
  const spec = loaded.spec;
  const panel = spec.panels[name];
  if (panel) {
    return durableStep(ctx, { path, agent: name, title: `${name}: panel of ${panel.agents.join(", ")}` }, () => runPanel(ctx, loaded, name, panel, path, state.input, state.turns));
  }
  const agent = spec.agents[name];
  if (!agent) return Promise.resolve({ ok: false, error: `${name} is neither an agent nor a panel of swarm ${spec.name}` });
  if (agent.type === "swarm") {
    const sub = loaded.subswarms[name];
    return durableStep(ctx, { path, agent: name, title: `${name}: nested swarm ${sub?.spec.name ?? agent.swarm}` }, async () => {
      if (!sub) throw stepFailure(`the nested swarm of ${name} (${agent.swarm}) was not loaded with the run`);
      // Run inline without a checkpointer of its own: its steps are durable tasks, so a resumed
      // parent replays the nested run from their stored results without calling a model twice.
      const graph = compileSwarmGraph(ctx, sub, false, `${path}.`);
      const values = (await graph.invoke({ input: transcript(state.input, state.turns) }, { recursionLimit: recursionLimit(sub), signal: ctx.signal })) as SwarmStateValue;
      if (values.error) throw stepFailure(`nested swarm ${sub.spec.name}: ${values.error}`);
      return { output: values.output ?? "", data: { turns: values.turns.length }, tokens: 0, cost_usd: 0 };
    });
  }
  return durableStep(ctx, { path, agent: name, title: `${name}: ${agent.role ?? "work on the task"}`.slice(0, 200) }, async (hooks) => {
    const tools = agent.tools.length ? await connectTools(spec, agent.tools) : undefined;
    try {
      return await workerTurn(ctx, loaded, name, agent as ModelAgentSpec, hooks, state.input, state.turns, tools);
    } finally {
      await tools?.close();
    }
  });
}

function parseRoute(args: string | undefined, workers: readonly string[]): { next: string; reason?: string } {
  let parsed: { next?: unknown; reason?: unknown } | undefined;
  try {
    parsed = args ? (JSON.parse(args) as typeof parsed) : undefined;
  } catch {
    parsed = undefined;
  }
  const next = typeof parsed?.next === "string" ? parsed.next : undefined;
  if (!next || (next !== FINISH && !workers.includes(next))) {
    throw stepFailure(`the supervisor did not route to one of ${[...workers, FINISH].join(", ")} (it answered ${args ?? "without the route tool"})`);
  }
  return { next, ...(typeof parsed?.reason === "string" ? { reason: parsed.reason } : {}) };
}
