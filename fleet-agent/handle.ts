import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import pRetry from "p-retry";
import { LeaseLostError, TaskNotFoundError, type Task, type TaskStore } from "../workers/tasks/index.ts";
import type { AgentConfig } from "./config.ts";
import { ExecutorUnavailableError, type ExecutionResult, type Executor } from "./executor.ts";
import { failDeadTask, publishDeadLetter, taskIdOf } from "./dead-letter.ts";
import { dispatchMessage, mismatch, type DispatchMessage, type NodeTraits } from "./schema.ts";

/** How long a task this node cannot take waits before JetStream offers it again (to any node). */
export const MISMATCH_DELAY_MS = 250;
/** Kept of a command's output in the task's result. */
const STDOUT_KEEP = 64 * 1024;
const STDERR_KEEP = 16 * 1024;

export interface HandlerDeps {
  js: JetStreamClient;
  store: TaskStore;
  executor: Executor;
  config: AgentConfig;
  traits: NodeTraits;
  /** The DAG claimant: node id plus this process's boot id, so a restarted node is a new claimant. */
  worker: string;
  /** Task ids running here now, with the controller that hands each back on drain. */
  running: Map<string, AbortController>;
  isDraining: () => boolean;
  log: (line: string) => void;
  /** Called when a task starts, with its dispatch latency (published → started). */
  onStarted?: (taskId: string, latencyMs: number) => void;
}

export type Outcome = "completed" | "failed" | "finished-before" | "mismatch" | "handed-back" | "held-elsewhere" | "not-ready" | "dead-lettered" | "lease-lost";

/**
 * One delivery of one work message, to its end: every path acks, naks (with a delay) or
 * terminates it, so JetStream always knows where the message stands.
 */
export async function handleDelivery(msg: JsMsg, deps: HandlerDeps): Promise<Outcome> {
  const raw = msg.string();
  let parsed: DispatchMessage;
  try {
    parsed = dispatchMessage.parse(JSON.parse(raw));
  } catch (error) {
    return deadLetterNow(msg, deps, raw, `unreadable dispatch message: ${firstIssue(error)}`);
  }
  if (deps.isDraining()) {
    msg.nak();
    return "handed-back";
  }
  const unfit = mismatch(parsed.requirements, deps.traits);
  if (unfit) {
    // A node subject has no other taker: say so now. A role subject is shared, so another node may fit.
    if (parsed.node !== undefined) return deadLetterNow(msg, deps, raw, `node ${deps.config.nodeId} cannot run it: ${unfit}`);
    msg.nak(MISMATCH_DELAY_MS);
    return "mismatch";
  }
  if (deps.running.has(parsed.task_id)) {
    // A redelivery of what this node is running (an in-progress ack was lost): see it again later.
    msg.nak(deps.config.ackWaitMs);
    return "held-elsewhere";
  }

  const leaseMs = parsed.timeout_ms + deps.config.leaseGraceMs;
  // A database error propagates: no ack, so JetStream redelivers after the ack wait.
  const claimed = await deps.store.claimTask(parsed.task_id, { worker: deps.worker, leaseSeconds: leaseMs / 1000 });
  if (claimed) return run(msg, deps, parsed, claimed);
  const task = await deps.store.get(parsed.task_id).catch((error: unknown) => {
    if (error instanceof TaskNotFoundError) return undefined;
    throw error;
  });
  if (!task) return deadLetterNow(msg, deps, raw, `no task ${parsed.task_id} in the task DAG`);
  return notClaimable(msg, task);
}

/** The task could not be claimed: finished already (a redelivery: ack, never run twice), held by a live claim, or blocked. */
function notClaimable(msg: JsMsg, task: Task): Outcome {
  if (task.status === "closed" || task.status === "failed" || task.status === "cancelled") {
    msg.ack();
    return "finished-before";
  }
  if (task.status === "in_progress" && task.lease_expires_at) {
    // Another claimant (maybe a node that died) holds it until its lease ends; look again then.
    const left = task.lease_expires_at.getTime() - Date.now();
    msg.nak(Math.min(Math.max(left + 100, 100), 3_600_000));
    return "held-elsewhere";
  }
  msg.nak(1_000);
  return "not-ready";
}

async function run(msg: JsMsg, deps: HandlerDeps, m: DispatchMessage, task: Task): Promise<Outcome> {
  deps.onStarted?.(m.task_id, performance.timeOrigin + performance.now() - m.submitted_at);
  let workDir: string;
  try {
    workDir = await mkdtemp(path.join(deps.config.workRoot, `godotz-${m.task_id}-`));
  } catch (error) {
    return giveBack(msg, deps, task, `no work directory: ${(error as Error).message}`, MISMATCH_DELAY_MS);
  }
  const handBack = new AbortController();
  deps.running.set(m.task_id, handBack);
  // Long tasks: tell JetStream the message is still being worked on, well inside the ack wait.
  const keepAlive = setInterval(() => msg.working(), Math.max(200, Math.floor(deps.config.ackWaitMs / 3)));
  try {
    let result: ExecutionResult | undefined;
    let problem: string | undefined;
    try {
      result = await deps.executor.run({ command: m.command, workDir, allowedHosts: m.allowed_hosts, env: m.env, timeoutMs: m.timeout_ms, signal: handBack.signal, stdin: m.stdin, taskId: m.task_id });
      problem = failureOf(result, m.timeout_ms);
    } catch (error) {
      if (error instanceof ExecutorUnavailableError) return await giveBack(msg, deps, task, `cannot run here: ${error.message}`, MISMATCH_DELAY_MS);
      problem = `the executor failed: ${(error as Error).message}`;
    }
    if (handBack.signal.aborted) return await giveBack(msg, deps, task, "the node is draining", 0);
    // The DAG's close is idempotent, so retrying it across a database blip cannot count it twice.
    const closed = await pRetry(
      () => (problem ? deps.store.fail(task.id, deps.worker, problem) : deps.store.complete(task.id, deps.worker, resultOf(result!, deps.config.nodeId))),
      { retries: 5, minTimeout: 200, shouldRetry: (error) => !(error instanceof LeaseLostError) },
    ).catch((error: unknown) => {
      if (error instanceof LeaseLostError) return undefined;
      throw error;
    });
    if (!closed) {
      // The claim lapsed under us. The message goes round again, and whoever gets it next finds
      // the task as the DAG has it: running elsewhere (wait), open again (run), or finished (ack).
      msg.nak();
      deps.log(`fleet-agent: ${task.id}: the lease ran out before it finished; its result is dropped`);
      return "lease-lost";
    }
    msg.ack();
    return problem ? "failed" : "completed";
  } finally {
    clearInterval(keepAlive);
    deps.running.delete(m.task_id);
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Releases the claim and returns the message, so another node (or this one later) runs the task. */
async function giveBack(msg: JsMsg, deps: HandlerDeps, task: Task, why: string, delayMs: number): Promise<Outcome> {
  const current = await deps.store.get(task.id);
  if (current.status === "in_progress" && current.claimed_by === deps.worker) await deps.store.update(task.id, { status: "open" });
  deps.log(`fleet-agent: handed ${task.id} back: ${why}`);
  msg.nak(delayMs);
  return "handed-back";
}

/** Why a finished run counts as a failure, or undefined for success. Violations are kept in the error. */
export function failureOf(r: ExecutionResult, timeoutMs: number): string | undefined {
  if (r.violations.length) return `sandbox violation: ${JSON.stringify(r.violations)}`;
  if (r.exitCode === 0) return undefined;
  const tail = r.stderr.trim().slice(-2000);
  if (r.exitCode === null) return `ended by signal ${r.signal ?? "unknown"}${r.durationMs >= timeoutMs ? ` after the ${timeoutMs} ms timeout` : ""}${tail ? `: ${tail}` : ""}`;
  return `exit code ${r.exitCode}${tail ? `: ${tail}` : ""}`;
}

function resultOf(r: ExecutionResult, node: string) {
  return { node, exit_code: r.exitCode, stdout: r.stdout.slice(-STDOUT_KEEP), stderr: r.stderr.slice(-STDERR_KEEP), duration_ms: Math.round(r.durationMs) };
}

/** A message no node can ever run: dead-letter it, fail its task if it names one, and terminate it. */
async function deadLetterNow(msg: JsMsg, deps: HandlerDeps, raw: string, reason: string): Promise<Outcome> {
  const id = taskIdOf(raw);
  if (id) await failDeadTask(deps.store, id, deps.worker, `dead-lettered: ${reason}`).catch(() => "missing");
  await publishDeadLetter(deps.js, {
    task_id: id ?? null, reason, original_subject: msg.subject, stream_seq: msg.seq, deliveries: msg.info.deliveryCount,
    message: raw, node: deps.config.nodeId, at: new Date().toISOString(),
  });
  deps.log(`fleet-agent: dead-lettered ${id ?? `message ${msg.seq}`}: ${reason}`);
  msg.term(); // no reason text: servers before 2.10 ignore a +TERM that carries one
  return "dead-lettered";
}

function firstIssue(error: unknown): string {
  const issues = (error as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
  if (issues?.[0]) return `${issues[0].path.join(".") || "message"}: ${issues[0].message}`;
  return (error as Error).message;
}
