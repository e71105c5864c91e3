import type { AgentLimits, AgentSpec, ModelAgentSpec, PanelSpec, SwarmSpec } from "../swarm/spec/schema.ts";
import { poolVotes, transcriptText, workerChoices, type VotePool, type WorkerChoice } from "../swarm/runtime/round-table.ts";

export { panelAgrees } from "../swarm/runtime/round-table.ts";

/**
 * The pure half of the Temporal engine: types exchanged between the workflow and its activities,
 * and the decisions the workflow takes (which node a name means, turn limits, the panel vote,
 * activity options). workflows.ts imports only this module (and the pure round-table.ts it shares with the
 * LangGraph runtime) and @temporalio/workflow, so nothing here may touch I/O, clocks or
 * randomness; type-only imports are erased by the bundler.
 */

export const TASK_QUEUE = "godotz-swarms";
export const WORKFLOW_TYPE = "swarmRun";

/** The workflow change that sends the final answer to the swarm's critics (v2). */
export const CRITIC_REVIEW_PATCH = "critics-review-final-answer";
/** The workflow change that lets the supervisor send work to several workers at once (v3, `topology.max_parallel`). */
export const FAN_OUT_PATCH = "supervisor-fans-out";

/** The newest workflow version; workflows.ts says which patch each one adds. */
export const LATEST_VERSION = 3;

/** Error types activities throw; the retry policy never retries the permanent one. */
export const PERMANENT_ERROR = "GatewayPermanentError";
export const TRANSIENT_ERROR = "GatewayTransientError";
export const RUN_NOT_FOUND_ERROR = "RunNotFound";

/** A loaded swarm as the workflow needs it; `workers/swarm/spec/load.ts`'s LoadedSwarm satisfies it. */
export interface SwarmDefinition {
  spec: SwarmSpec;
  /** Nested swarms, keyed by the name of the agent that runs them (as workers/swarm/spec/load.ts does). */
  subswarms?: Record<string, SwarmDefinition>;
}

export interface SwarmRunInput {
  /** The swarm_runs row; nested swarms share their parent's. */
  runId: string;
  /** The run's top swarm, under which events and tasks are filed; absent for the top swarm itself. */
  runSwarm?: string;
  swarm: SwarmDefinition;
  input: string;
  /**
   * Where this swarm's steps sit in the run: "" for the top swarm, "3." for the swarm nested at
   * step 3 (the LangGraph runtime's step paths, so events and tasks read the same in both engines).
   */
  stepPrefix?: string;
}

export type RunStatus = "queued" | "running" | "completed" | "failed" | "cancelled";
export type NodeStatus = "pending" | "running" | "completed" | "failed" | "cancelled";
export type NodeKind = "supervisor" | "worker" | "panel" | "swarm" | "critic";

export interface NodeState {
  name: string;
  kind: NodeKind;
  status: NodeStatus;
  /** Steps this node has run (a panel counts each round of each member). */
  steps: number;
  error?: string;
}

/** What the `progress` query answers, for `godotz runs show --watch`. */
export interface Progress {
  runId: string;
  swarm: string;
  status: RunStatus;
  turn: number;
  maxTurns: number;
  nodes: NodeState[];
  /** The workflow version the run started on (see workflows.ts). */
  version: number;
  output?: string;
  error?: string;
  reviews?: Review[];
}

/** One entry of the run's transcript, which the supervisor reads to decide what comes next. */
export interface TurnRecord {
  step: string;
  node: string;
  /** The instruction the supervisor gave. */
  instruction: string;
  status: "completed" | "failed";
  /** The node's answer, or the error that failed the step (kept so the supervisor sees it). */
  output: string;
}

/** One worker next, several at once (a fan-out, v3), or the final answer. */
export type SupervisorDecision = { next: string; instruction: string } | { parallel: string[]; instruction: string } | { finish: string };

export interface PanelAnswer {
  agent: string;
  answer: string;
  /** 0..1, the agent's own confidence, which weights its vote. */
  confidence: number;
}

export interface Review {
  agent: string;
  review: string;
}

export interface SwarmRunResult {
  status: "completed" | "failed" | "cancelled";
  output?: string;
  error?: string;
  reviews?: Review[];
  turns: number;
}

/** Who is asking: sent to the gateway as x-godotz-swarm / x-godotz-agent / x-godotz-task. */
export interface StepRef {
  runId: string;
  swarm: string;
  agent: string;
  /** The step's path in the run ("0", "3.1", "2.r1-ada"): its task is `<run>:<path>` in the task DAG. */
  step: string;
}

export interface ModelStep extends StepRef {
  /** The swarm the agent belongs to (sent as x-godotz-swarm); `swarm` is the run's. */
  agentSwarm: string;
  spec: ModelAgentSpec;
}

export interface SupervisorInput extends ModelStep {
  task: string;
  workers: { name: string; role?: string }[];
  transcript: TurnRecord[];
  turn: number;
  /** Workers the supervisor may name at once (v3, from `topology.max_parallel`); absent means one. */
  maxParallel?: number;
}

export interface WorkerInput extends ModelStep {
  task: string;
  instruction: string;
  transcript: TurnRecord[];
}

export interface PanelInput extends ModelStep {
  task: string;
  panel: string;
  panelRole?: string;
  round: number;
  /** The panel's answers in the previous round, this member's included (empty in round 1). */
  previousRound: PanelAnswer[];
  transcript: TurnRecord[];
}

export interface ReviewInput extends ModelStep {
  task: string;
  answer: string;
}

/** Bookkeeping of the run (swarm_runs row and run events). */
export interface RunUpdate {
  runId: string;
  swarm: string;
  status: "running" | "completed" | "failed" | "cancelled";
  output?: string;
  error?: string;
}

export interface StepFailure extends StepRef {
  error: string;
  cancelled?: boolean;
}

/** The activities the workflow schedules; activities.ts implements them over injected I/O. */
export interface SwarmActivities {
  /** Returns the run row's status after the update: a run cancelled before it started is not run. */
  runUpdate(update: RunUpdate): Promise<{ status: RunStatus }>;
  stepFailed(failure: StepFailure): Promise<void>;
  supervise(input: SupervisorInput): Promise<SupervisorDecision>;
  work(input: WorkerInput): Promise<string>;
  deliberate(input: PanelInput): Promise<PanelAnswer>;
  review(input: ReviewInput): Promise<Review>;
}

export type Target =
  | { kind: "worker"; name: string; spec: ModelAgentSpec }
  | { kind: "panel"; name: string; panel: PanelSpec }
  | { kind: "swarm"; name: string; swarm: SwarmDefinition };

export class PlanError extends Error {
  override name = "PlanError";
}

function isModelAgent(agent: AgentSpec): agent is ModelAgentSpec {
  return agent.type !== "swarm";
}

/** The node a supervisor's choice names; only names in `topology.workers` may be routed to. */
export function resolveTarget(swarm: SwarmDefinition, name: string): Target {
  const { spec } = swarm;
  if (!spec.topology.workers.includes(name)) {
    throw new PlanError(`the supervisor chose "${name}", which is not one of ${spec.topology.workers.join(", ")}`);
  }
  const panel = spec.panels[name];
  if (panel) return { kind: "panel", name, panel };
  const agent = spec.agents[name];
  if (!agent) throw new PlanError(`"${name}" is neither an agent nor a panel of swarm ${spec.name}`);
  if (isModelAgent(agent)) return { kind: "worker", name, spec: agent };
  const nested = swarm.subswarms?.[name];
  if (!nested) throw new PlanError(`nested swarm ${agent.swarm} of agent "${name}" was not loaded with swarm ${spec.name}`);
  return { kind: "swarm", name, swarm: nested };
}

export function modelAgent(spec: SwarmSpec, name: string): ModelAgentSpec {
  const agent = spec.agents[name];
  if (!agent || !isModelAgent(agent)) throw new PlanError(`"${name}" is not a model agent of swarm ${spec.name}`);
  return agent;
}

/**
 * How many workers the supervisor may send work to at once. Runs that started before v3 route one
 * at a time whatever their swarm says, so their histories replay unchanged.
 */
export function fanOutWidth(spec: SwarmSpec, version: number): number {
  return version >= 3 ? Math.max(1, spec.topology.max_parallel ?? 1) : 1;
}

/** The workers the supervisor may choose from, with their roles, as the LangGraph runtime lists them. */
export function routingChoices(spec: SwarmSpec): WorkerChoice[] {
  return workerChoices(spec);
}

/** Critic agents in file order: in v2 they review the final answer before the run finishes. */
export function criticsOf(spec: SwarmSpec): string[] {
  return Object.entries(spec.agents)
    .filter(([, agent]) => agent.type === "critic")
    .map(([name]) => name);
}

/** The node list a run starts with: supervisor, then every routable worker, then critics. */
export function initialNodes(swarm: SwarmDefinition): NodeState[] {
  const { spec } = swarm;
  const nodes: NodeState[] = [{ name: spec.topology.supervisor, kind: "supervisor", status: "pending", steps: 0 }];
  for (const name of spec.topology.workers) {
    const kind: NodeKind = spec.panels[name] ? "panel" : spec.agents[name]?.type === "swarm" ? "swarm" : "worker";
    nodes.push({ name, kind, status: "pending", steps: 0 });
  }
  for (const name of criticsOf(spec)) {
    if (!nodes.some((n) => n.name === name)) nodes.push({ name, kind: "critic", status: "pending", steps: 0 });
  }
  return nodes;
}

/** The panel's decision: the heaviest pool of equal answers (round-table.ts says how they pool). */
export function tallyVotes(answers: PanelAnswer[]): VotePool {
  if (answers.length === 0) throw new PlanError("a panel vote needs at least one answer");
  return poolVotes(answers)[0]!;
}

/**
 * Step paths as the LangGraph runtime numbers them: each supervisor decision and each worker turn
 * is the swarm's next step ("0", "1", …; "3.0" inside the swarm nested at step 3); a panelist's
 * answer is "<panel step>.r<round>-<agent>", a critic's review "<step>.review-<agent>", and each
 * branch of a fan-out "<step>.<worker>".
 */
export function stepPath(prefix: string, step: number, suffix?: string): string {
  return `${prefix}${step}${suffix === undefined ? "" : `.${suffix}`}`;
}

/** Why a run stopped without an answer after max_turns decisions (the LangGraph runtime's words). */
export function maxTurnsError(maxTurns: number): string {
  return `stopped unfinished: the supervisor made max_turns (${maxTurns}) decisions`;
}

/** What a nested swarm is asked: the task and the work so far, as the LangGraph runtime shows it. */
export function taskWithWork(task: string, transcript: TurnRecord[]): string {
  return transcriptText(task, transcript.map((t) => ({ agent: t.node, ok: t.status === "completed", text: t.output })));
}

export interface ActivityPolicy {
  startToCloseTimeout: string;
  heartbeatTimeout: string;
  retry: {
    initialInterval: string;
    backoffCoefficient: number;
    maximumInterval: string;
    maximumAttempts: number;
    nonRetryableErrorTypes: string[];
  };
}

/**
 * Activity options for a model agent's step, from its `limits`. The server backs off
 * exponentially (1 s, 2 s, 4 s … up to 30 s); it adds no jitter itself, so the activity sets
 * each retry's delay with jitter through ApplicationFailure.nextRetryDelay (activities.ts), which
 * takes precedence over this schedule. Heartbeats let a cancellation reach a call in flight.
 */
export function modelStepPolicy(limits: AgentLimits): ActivityPolicy {
  return {
    startToCloseTimeout: `${limits.timeout_seconds}s`,
    heartbeatTimeout: `${Math.min(limits.timeout_seconds, 30)}s`,
    retry: {
      initialInterval: "1s",
      backoffCoefficient: 2,
      maximumInterval: "30s",
      maximumAttempts: limits.max_attempts,
      nonRetryableErrorTypes: [PERMANENT_ERROR],
    },
  };
}

/** Options for bookkeeping activities (run status, events): short, and retried while the database is away. */
export const bookkeepingPolicy: ActivityPolicy = {
  startToCloseTimeout: "30s",
  heartbeatTimeout: "30s",
  retry: { initialInterval: "1s", backoffCoefficient: 2, maximumInterval: "30s", maximumAttempts: 20, nonRetryableErrorTypes: [RUN_NOT_FOUND_ERROR] },
};

/**
 * Exponential backoff with "equal jitter": a delay uniformly in [c/2, c] where
 * c = min(cap, base·2^(attempt-1)), so retries of many runs failing together spread out and
 * none retries immediately. `random` is in [0, 1); activities pass Math.random().
 */
export function jitteredDelayMs(attempt: number, random: number, baseMs = 1000, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * Math.min(1, Math.max(0, random)));
}
