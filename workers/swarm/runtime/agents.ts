import type { LoadedSwarm } from "../spec/load.ts";
import type { ModelAgentSpec } from "../spec/schema.ts";
import { callModel, type ChatMessage, type ModelAnswer, type ModelRequest } from "./gateway.ts";
import { transcriptText } from "./round-table.ts";
import { stepFailure, type RunContext, type StepHooks } from "./steps.ts";

/** One finished turn of a worker, as the supervisor and the next workers see it. */
export interface Turn {
  step: string;
  agent: string;
  ok: boolean;
  /** The answer, or the error of a failed turn. */
  text: string;
}

/** The shared view of the run: the task and each finished turn (round-table.ts, shared with the Temporal engine). */
export function transcript(input: string, turns: readonly Turn[]): string {
  return transcriptText(input, turns);
}

/**
 * What an agent asks the gateway for: its `model`, else its `family` (a family or a role of
 * routing.roles), for the gateway to pick a healthy model of that family on each call.
 */
export function modelOf(agent: ModelAgentSpec): string {
  return agent.model ?? agent.family!;
}

/** The agent's instructions with its skills' SKILL.md bodies before them (Agent Skills). */
export function systemPrompt(loaded: LoadedSwarm, agent: ModelAgentSpec): string {
  const skills = agent.skills
    .map((ref) => loaded.skills[ref])
    .filter((s): s is NonNullable<typeof s> => s !== undefined)
    .map((s) => `## Skill: ${s.name}\n${s.description}\n\n${s.body.trim()}`);
  return [...skills, agent.instructions.trim()].filter(Boolean).join("\n\n");
}

/** One model call of an agent, through the gateway, attributed to its swarm, agent and step task. */
export function askModel(
  ctx: RunContext,
  swarm: string,
  name: string,
  agent: ModelAgentSpec,
  hooks: StepHooks,
  request: Omit<ModelRequest, "model" | "max_tokens">,
): Promise<ModelAnswer> {
  return callModel(
    ctx.gateway,
    { model: modelOf(agent), max_tokens: agent.limits.max_tokens, ...request },
    { swarm, agent: name, task: hooks.taskId },
    {
      maxAttempts: agent.limits.max_attempts,
      timeoutMs: agent.limits.timeout_seconds * 1000,
      onRetry: hooks.onRetry,
      signal: ctx.signal,
      minBackoffMs: ctx.minBackoffMs,
    },
  );
}

export type ToolRunner = (name: string, args: string) => Promise<string>;

/**
 * A worker's turn: its instructions and skills, the run so far, and an answer. With tools, the
 * model's tool calls are executed and answered until it gives a final answer, bounded by
 * `limits.max_calls`.
 */
export async function workerTurn(
  ctx: RunContext,
  loaded: LoadedSwarm,
  name: string,
  agent: ModelAgentSpec,
  hooks: StepHooks,
  input: string,
  turns: readonly Turn[],
  tools?: { definitions: NonNullable<ModelRequest["tools"]>; run: ToolRunner },
): Promise<{ output: string; model: string; tokens: number; cost_usd: number }> {
  const messages: ChatMessage[] = [
    { role: "system", content: systemPrompt(loaded, agent) || `You are ${name}.` },
    { role: "user", content: `${transcript(input, turns)}\nYou are ${name}${agent.role ? ` (${agent.role})` : ""}. Do your part now.` },
  ];
  let tokens = 0;
  let cost = 0;
  for (let call = 1; call <= agent.limits.max_calls; call++) {
    const answer = await askModel(ctx, loaded.spec.name, name, agent, hooks, tools?.definitions.length ? { messages, tools: tools.definitions, tool_choice: "auto" } : { messages });
    tokens += answer.tokens;
    cost += answer.costUsd;
    const calls = answer.message.tool_calls ?? [];
    if (!calls.length || !tools) return { output: answer.message.content ?? "", model: answer.model, tokens, cost_usd: cost };
    messages.push(answer.message);
    for (const c of calls) {
      const result = await tools.run(c.function.name, c.function.arguments).catch((error: Error) => `tool error: ${error.message}`);
      messages.push({ role: "tool", tool_call_id: c.id, content: result });
    }
  }
  throw stepFailure(`agent ${name} made ${agent.limits.max_calls} model calls (limits.max_calls) without a final answer`);
}
