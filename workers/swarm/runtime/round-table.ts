import type { SwarmSpec } from "../spec/schema.ts";

/**
 * What both engines (LangGraph and Temporal) must decide and write the same way, so a swarm gives
 * the same answer on either: the panel's vote, when a panel agrees, and the transcript a worker
 * or nested swarm is shown. Pure: the Temporal workflow bundle imports this module, so nothing
 * here may touch I/O, clocks or randomness, or import anything that does.
 */

export interface Vote {
  agent: string;
  answer: string;
  confidence: number;
}

export interface VotePool {
  answer: string;
  /** Summed confidence of the answer's voters, each clamped to [0, 1]. */
  weight: number;
  voters: string[];
}

/** Answers that differ only in case and spacing say the same thing. */
export function sameAnswerKey(answer: string): string {
  return answer.trim().replace(/\s+/g, " ").toLowerCase();
}

/** Whether every panelist gave the same answer, which ends the panel before its last round. */
export function panelAgrees(answers: readonly Vote[]): boolean {
  return new Set(answers.map((a) => sameAnswerKey(a.answer))).size === 1;
}

/**
 * ReConcile's confidence-weighted vote: equal answers pool their voters' confidence; the heaviest
 * pool comes first and ties go to the answer given first, so the outcome depends only on the
 * answers and their order. A confidence that is not a number counts as 0.
 */
export function poolVotes(answers: readonly Vote[]): VotePool[] {
  const pools = new Map<string, VotePool & { first: number }>();
  answers.forEach((a, first) => {
    const key = sameAnswerKey(a.answer);
    const pool = pools.get(key) ?? { answer: a.answer.trim(), weight: 0, voters: [], first };
    pool.weight += Math.min(1, Math.max(0, Number.isFinite(a.confidence) ? a.confidence : 0));
    pool.voters.push(a.agent);
    pools.set(key, pool);
  });
  return [...pools.values()].sort((a, b) => b.weight - a.weight || a.first - b.first).map(({ answer, weight, voters }) => ({ answer, weight, voters }));
}

/** One finished turn as the transcript shows it. */
export interface TranscriptLine {
  agent: string;
  ok: boolean;
  /** The answer, or the error of a failed turn. */
  text: string;
}

/**
 * The shared view of a run: the task, then each finished turn on its own line as
 * `[agent] answer` (the simulator's routing rule reads this form, see simulator/reply.ts).
 */
export function transcriptText(task: string, turns: readonly TranscriptLine[]): string {
  const lines = turns.map((t) => `[${t.agent}] ${t.ok ? t.text : `FAILED: ${t.text}`}`);
  return `Task:\n${task}\n` + (lines.length ? `\nWork so far:\n${lines.join("\n")}\n` : "");
}

/** A worker the supervisor may choose, with what it is for. */
export interface WorkerChoice {
  name: string;
  role?: string;
}

/** The supervisor's choices: each worker's role, a panel's, or what a panel without one does. */
export function workerChoices(spec: SwarmSpec): WorkerChoice[] {
  return spec.topology.workers.map((name) => {
    const panel = spec.panels[name];
    const role = spec.agents[name]?.role ?? panel?.role ?? (panel ? "a panel that votes on an answer" : undefined);
    return role === undefined ? { name } : { name, role };
  });
}
