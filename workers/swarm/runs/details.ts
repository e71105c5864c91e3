import type { Sql } from "../../../shared/db/connect.ts";
import type { TaskStatus } from "../../tasks/schema.ts";
import { getRun, type RunSummary } from "./store.ts";

/** A run with its steps and what they cost, for `godotz runs show` and `swarm run`. */
export interface RunDetails {
  run: RunSummary;
  /** The swarm's shape from the run's snapshot, to draw the graph. */
  topology: { supervisor: string; workers: { name: string; kind: "agent" | "panel" | "swarm" }[] };
  steps: StepView[];
  /** What the run's finished steps used, as the gateway reported it on each answer (x-godotz-cost-usd). */
  usage: { tokens: number; cost_usd: number };
  /**
   * The gateway's audit of every call made for the run's steps, retries and failed calls
   * included. The gateway writes its audit in batches, so this can trail the last few calls.
   */
  audit: { calls: number; tokens: number; cost_usd: number };
}

export interface StepView {
  /** The step path ("3", "3.1", "5.r1-a"), from the task's idempotency key. */
  step: string;
  task_id: string;
  agent: string | null;
  title: string;
  status: TaskStatus;
  model: string | null;
  tokens: number;
  cost_usd: number;
  error: string | null;
  started_at: Date | null;
  closed_at: Date | null;
}

interface SnapshotShape {
  spec?: { topology?: { supervisor?: string; workers?: string[] }; panels?: Record<string, unknown>; agents?: Record<string, { type?: string }> };
}

export async function runDetails(sql: Sql, runId: string): Promise<RunDetails> {
  const row = await getRun(sql, runId);
  const { spec: _spec, ...run } = row;
  const snapshot = (row.spec ?? {}) as SnapshotShape;
  const topology = {
    supervisor: snapshot.spec?.topology?.supervisor ?? "?",
    workers: (snapshot.spec?.topology?.workers ?? []).map((name) => ({
      name,
      kind: snapshot.spec?.panels?.[name] ? ("panel" as const) : snapshot.spec?.agents?.[name]?.type === "swarm" ? ("swarm" as const) : ("agent" as const),
    })),
  };
  const tasks = await sql<{ id: string; idempotency_key: string | null; assignee: string | null; title: string; status: TaskStatus; result: unknown; error: string | null; started_at: Date | null; closed_at: Date | null }[]>`
    SELECT id, idempotency_key, assignee, title, status, result, error, started_at, closed_at FROM tasks WHERE run_id = ${runId} ORDER BY created_at, seq`;
  const steps = tasks.map((t): StepView => {
    const r = (t.result ?? {}) as { model?: string; tokens?: number; cost_usd?: number };
    return {
      step: t.idempotency_key?.startsWith(`${runId}:`) ? t.idempotency_key.slice(runId.length + 1) : t.id,
      task_id: t.id,
      agent: t.assignee,
      title: t.title,
      status: t.status,
      model: r.model ?? null,
      tokens: r.tokens ?? 0,
      cost_usd: r.cost_usd ?? 0,
      error: t.error,
      started_at: t.started_at,
      closed_at: t.closed_at,
    };
  });
  const ids = tasks.map((t) => t.id);
  const [audit] = ids.length
    ? await sql<{ calls: number; tokens: number; cost_usd: number }[]>`
        SELECT count(*)::int AS calls, coalesce(sum(prompt_tokens + completion_tokens), 0)::int AS tokens, coalesce(sum(cost_usd), 0)::float8 AS cost_usd
        FROM audit_log WHERE task = ANY(${ids}::text[])`
    : [{ calls: 0, tokens: 0, cost_usd: 0 }];
  // A panel's or nested swarm's own step carries no usage: the inner steps that called models do.
  const usage = { tokens: sum(steps, (s) => s.tokens), cost_usd: sum(steps, (s) => s.cost_usd) };
  return { run, topology, steps, usage, audit: audit! };
}

function sum(steps: StepView[], of: (s: StepView) => number): number {
  return steps.reduce((total, s) => total + of(s), 0);
}

type NodeState = "idle" | "working" | "done" | "failed" | "cancelled";

const MARK: Record<NodeState, string> = { idle: "·", working: "●", done: "✔", failed: "✖", cancelled: "⊘" };

/**
 * A step of the swarm itself rather than one inside a panel or nested swarm: `3`, or a fan-out
 * branch `3.<agent>` (its path ends in the name of the worker it ran).
 */
function isOwnTurn(step: StepView, agent: string): boolean {
  if (step.agent !== agent) return false;
  const dot = step.step.indexOf(".");
  return dot < 0 || (/^\d+$/.test(step.step.slice(0, dot)) && step.step.slice(dot + 1) === agent);
}

/** A node's state: its latest top-level step's; a node never reached is idle. */
function nodeState(steps: StepView[], agent: string): { state: NodeState; turns: number; last?: StepView } {
  const own = steps.filter((s) => isOwnTurn(s, agent));
  const last = own.at(-1);
  if (!last) return { state: "idle", turns: 0 };
  const state: NodeState = last.status === "in_progress" || last.status === "open" ? "working" : last.status === "closed" ? "done" : last.status === "failed" ? "failed" : "cancelled";
  return { state, turns: own.length, last };
}

/**
 * The run as a picture: the supervisor and its workers with each node's state, so a reader sees
 * which node the run is waiting on.
 */
export function renderRunGraph(details: RunDetails, now = new Date()): string {
  const { run, topology, steps, usage } = details;
  const lines = [
    `${run.id}  ${run.swarm} v${run.swarm_version}  ${run.status.toUpperCase()}${run.worker && run.status === "running" ? ` on ${run.worker}` : ""}`,
    `steps ${steps.length}  tokens ${usage.tokens}  cost $${usage.cost_usd.toFixed(6)}  (audit: ${details.audit.calls} calls, $${details.audit.cost_usd.toFixed(6)})`,
    "",
  ];
  const names = [topology.supervisor, ...topology.workers.map((w) => w.name)];
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const describe = (agent: string, kind: string) => {
    const { state, turns, last } = nodeState(steps, agent);
    const since = state === "working" && last?.started_at ? ` for ${Math.max(0, Math.round((now.getTime() - last.started_at.getTime()) / 1000))}s` : "";
    const detail = state === "failed" && last?.error ? `: ${last.error.slice(0, 80)}` : "";
    return `${`[${agent}]`.padEnd(width)} ${kind.padEnd(10)} ${MARK[state]} ${state}${since}${turns ? `  (${turns} turn${turns === 1 ? "" : "s"})` : ""}${detail}`;
  };
  const working = topology.workers.filter((w) => nodeState(steps, w.name).state === "working").map((w) => w.name);
  if (working.length > 1) lines.push(`in parallel: ${working.join(", ")}`, "");
  lines.push(describe(topology.supervisor, "supervisor"));
  topology.workers.forEach((w, i) => {
    lines.push(`  ${i === topology.workers.length - 1 ? "└" : "├"}─► ${describe(w.name, w.kind === "agent" ? "worker" : w.kind)}`);
  });
  if (run.error) lines.push("", `error: ${run.error}`);
  if (run.output && run.status === "completed") lines.push("", `output: ${run.output.slice(0, 300)}`);
  return lines.join("\n");
}
