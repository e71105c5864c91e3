import { z } from "zod";
import type { LoadedSwarm } from "../spec/load.ts";
import type { ModelAgentSpec, PanelSpec } from "../spec/schema.ts";
import { askModel, systemPrompt, transcript, type Turn } from "./agents.ts";
import type { ToolDefinition } from "./gateway.ts";
import { panelAgrees, poolVotes } from "./round-table.ts";
import { durableStep, stepFailure, type RunContext, type StepOutcome } from "./steps.ts";

/**
 * A ReConcile-style round table (Chen et al., 2023): agents of different model families answer
 * with a confidence, then see each other's answers and confidences and revise, for up to
 * `rounds` rounds (earlier once they all agree); a confidence-weighted vote decides. Each answer
 * is its own durable step, so a resumed run does not ask a panelist twice.
 */

export interface PanelAnswer {
  agent: string;
  answer: string;
  confidence: number;
}

export interface PanelTranscript {
  rounds: PanelAnswer[][];
  votes: { answer: string; weight: number }[];
  decision: string;
}

/** The tool a panel member answers with; both engines (LangGraph and Temporal) send this one. */
export const ANSWER_TOOL: ToolDefinition = {
  type: "function",
  function: {
    name: "answer",
    description: "Give your answer and how confident you are in it.",
    parameters: {
      type: "object",
      properties: {
        answer: { type: "string", description: "Your answer, short and complete" },
        confidence: { type: "number", minimum: 0, maximum: 1, description: "How sure you are, from 0 to 1" },
      },
      required: ["answer", "confidence"],
    },
  },
};

const answerArgs = z.object({ answer: z.string().min(1), confidence: z.coerce.number().min(0).max(1) });

export async function runPanel(
  ctx: RunContext,
  loaded: LoadedSwarm,
  panelName: string,
  panel: PanelSpec,
  path: string,
  input: string,
  turns: readonly Turn[],
): Promise<StepOutcome & { data: PanelTranscript }> {
  const rounds: PanelAnswer[][] = [];
  for (let round = 1; round <= panel.rounds; round++) {
    const previous = rounds.at(-1);
    const answers: PanelAnswer[] = [];
    const seat = (name: string) => ({ path: `${path}.r${round}-${name}`, agent: name, title: `${name}: panel ${panelName}, round ${round}` });
    for (const [i, name] of panel.agents.entries()) {
      const agent = loaded.spec.agents[name];
      if (!agent || agent.type === "swarm") throw stepFailure(`panel ${panelName}: ${name} is not a model agent of this swarm`);
      // The next panelist of the round answers next; its step opens as this one closes.
      const following = panel.agents[i + 1];
      const result = await durableStep(ctx, seat(name), async (hooks) => {
        const question = panelQuestion(transcript(input, turns), panelName, panel.role, round, previous ?? []);
        const reply = await askModel(ctx, loaded.spec.name, name, agent as ModelAgentSpec, hooks, {
          messages: [
            { role: "system", content: systemPrompt(loaded, agent as ModelAgentSpec) || `You are ${name}.` },
            { role: "user", content: question },
          ],
          tools: [ANSWER_TOOL],
          tool_choice: { type: "function", function: { name: "answer" } },
        });
        const parsed = readPanelAnswer(reply.message.tool_calls?.[0]?.function.arguments, reply.message.content);
        if (!parsed) throw stepFailure("the panelist gave neither an answer nor text");
        return { output: parsed.answer, data: parsed, model: reply.model, tokens: reply.tokens, cost_usd: reply.costUsd };
      }, () => (following ? [seat(following)] : []));
      if (!result.ok) continue; // a panelist that failed for good does not vote
      const d = result.data as { answer: string; confidence: number };
      answers.push({ agent: name, answer: d.answer, confidence: d.confidence });
    }
    if (!answers.length) throw stepFailure(`panel ${panelName}: every panelist failed in round ${round}`);
    rounds.push(answers);
    if (panelAgrees(answers)) break;
  }
  const votes = vote(rounds.at(-1)!);
  const decision = votes[0]!.answer;
  // Usage stays with the panelists' own steps, so totals over a run's steps count each call once.
  return { output: decision, data: { rounds, votes, decision }, tokens: 0, cost_usd: 0 };
}

/**
 * What a panelist is asked in a round: the work so far, its seat, and from round 2 the panel's
 * previous answers with their confidence. Both engines ask this, word for word.
 */
export function panelQuestion(work: string, panelName: string, panelRole: string | undefined, round: number, previous: readonly PanelAnswer[]): string {
  const seat = `${work}\nYou sit on the panel "${panelName}"${panelRole ? ` (${panelRole})` : ""}. Answer the task with the answer tool.`;
  if (previous.length === 0) return seat;
  const lines = previous.map((a) => `[${a.agent}] (confidence ${a.confidence}) ${a.answer.replaceAll("\n", " ")}`);
  return `${seat}\n\nThe panel's answers in round ${round - 1}:\n${lines.join("\n")}\nRevise your answer if they convince you.`;
}

/**
 * A panelist's answer: the answer tool's arguments, else the text of a model that answered
 * without the tool (confidence 0.5), else nothing; each engine fails the turn its own way.
 */
export function readPanelAnswer(args: string | undefined, text: string | null | undefined): { answer: string; confidence: number } | undefined {
  if (args) {
    try {
      const parsed = answerArgs.safeParse(JSON.parse(args));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through to the text
    }
  }
  if (text?.trim()) return { answer: text.trim(), confidence: 0.5 };
  return undefined;
}

/** Confidence-weighted vote over the last round (round-table.ts, shared with the Temporal engine). */
export function vote(answers: readonly PanelAnswer[]): { answer: string; weight: number }[] {
  return poolVotes(answers).map(({ answer, weight }) => ({ answer, weight: Math.round(weight * 1000) / 1000 }));
}
