import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { z } from "zod";
import type { TaskStore } from "../workers/tasks/index.ts";
import { taskId } from "../workers/tasks/schema.ts";
import { deadSubject, WORK_STREAM } from "./names.ts";

/** What lands on `godotz.work.dead.<task id>` (or `.invalid` when the message named no task). */
export interface DeadLetter {
  task_id: string | null;
  reason: string;
  original_subject: string;
  stream_seq: number | null;
  deliveries: number | null;
  /** The message as it was published, unparsed, so nothing is lost. */
  message: string;
  node: string;
  at: string;
}

export async function publishDeadLetter(js: JetStreamClient, letter: DeadLetter): Promise<void> {
  const h = headers();
  h.set("Godotz-Original-Subject", letter.original_subject);
  // One dead letter per stream message, however many agents see its advisory.
  const msgID = letter.stream_seq !== null ? `dead-${letter.stream_seq}` : undefined;
  await js.publish(deadSubject(letter.task_id ?? "invalid"), JSON.stringify(letter), { headers: h, msgID });
}

/** The task id a message names, if it names a well-formed one, even when the rest does not parse. */
export function taskIdOf(raw: string): string | undefined {
  try {
    const parsed = taskId.safeParse((JSON.parse(raw) as { task_id?: unknown })?.task_id);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Marks a dead-lettered task failed in the DAG, keeping why in its error. The DAG fails only a
 * claimed task, so an open one is claimed by the dead-letter handler and failed at once. Returns
 * "later" when someone holds a live claim on it (its lease will settle it first).
 */
export async function failDeadTask(store: TaskStore, id: string, worker: string, error: string): Promise<"failed" | "finished" | "later" | "missing"> {
  const task = await store.get(id).catch(() => undefined);
  if (!task) return "missing";
  if (task.status === "closed" || task.status === "failed" || task.status === "cancelled") return "finished";
  if (task.status === "in_progress") return "later";
  if (task.status === "blocked") {
    await store.update(id, { status: "failed" });
    return "failed";
  }
  const claimed = await store.claimTask(id, { worker, leaseSeconds: 60 });
  if (!claimed) return "later";
  await store.fail(id, worker, error);
  return "failed";
}

const maxDeliveriesAdvisory = z.object({
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number().int().positive(),
  deliveries: z.number().int().nonnegative(),
});

export interface AdvisoryDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  store: TaskStore;
  node: string;
  worker: string;
  log: (line: string) => void;
}

/**
 * Handles one `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES` advisory (captured in
 * GODOTZ_WORK_ADVISORIES): the work message it names goes to the dead-letter subject, its task is
 * failed in the DAG, and the message leaves GODOTZ_WORK (a work queue keeps a message nobody acked).
 * A task that completed after all is left alone.
 */
export async function handleMaxDeliveries(msg: JsMsg, deps: AdvisoryDeps): Promise<void> {
  const parsed = maxDeliveriesAdvisory.safeParse(safeJson(msg.string()));
  if (!parsed.success || parsed.data.stream !== WORK_STREAM) {
    deps.log(`fleet-agent: ignoring an unreadable max-deliveries advisory (seq ${msg.seq})`);
    msg.term();
    return;
  }
  const a = parsed.data;
  const stored = await deps.jsm.streams.getMessage(WORK_STREAM, { seq: a.stream_seq }).catch(() => null);
  if (!stored) {
    msg.ack(); // already acked or removed: nothing is lost
    return;
  }
  const raw = stored.string();
  const id = taskIdOf(raw);
  const reason = `no delivery succeeded after ${a.deliveries} deliveries (consumer ${a.consumer})`;
  if (id) {
    const outcome = await failDeadTask(deps.store, id, deps.worker, `dead-lettered: ${reason}`);
    if (outcome === "later") {
      msg.nak(5_000);
      return;
    }
    if (outcome === "finished") {
      await deps.jsm.streams.deleteMessage(WORK_STREAM, a.stream_seq, false).catch(() => false);
      msg.ack();
      return;
    }
  }
  await publishDeadLetter(deps.js, {
    task_id: id ?? null, reason, original_subject: stored.subject, stream_seq: a.stream_seq, deliveries: a.deliveries,
    message: raw, node: deps.node, at: new Date().toISOString(),
  });
  await deps.jsm.streams.deleteMessage(WORK_STREAM, a.stream_seq, false).catch(() => false);
  deps.log(`fleet-agent: dead-lettered ${id ?? `message ${a.stream_seq}`}: ${reason}`);
  msg.ack();
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
