import type { JetStreamClient } from "@nats-io/jetstream";
import type { CreateTaskInput, Task, TaskStore } from "../workers/tasks/index.ts";
import { nodeSubject, roleSubject } from "./names.ts";
import { dispatchMessage, parseFleetInput, type DispatchInput } from "./schema.ts";
import { FleetUnavailableError } from "./errors.ts";

export interface SubmitInput {
  /** The task DAG row to create (title, labels, swarm, …). */
  task: CreateTaskInput;
  /** Where and how to run it: the dispatch message without task_id / submitted_at. */
  dispatch: Omit<DispatchInput, "task_id" | "submitted_at">;
}

export interface Submitted {
  task: Task;
  subject: string;
  /** False when the DAG already had this idempotency key: nothing new was published. */
  published: boolean;
}

/**
 * Submits work to the fleet: creates the task in the DAG, then publishes its dispatch message to
 * `godotz.work.role.<role>` or `godotz.work.node.<node>`. The message id is the task id, so a
 * retried submit within the stream's dedup window does not queue it twice. Only a ready task
 * (no open blockers) should be submitted; a blocked one is offered again until its deliveries run out.
 */
export async function submitTask(deps: { store: TaskStore; js: JetStreamClient }, input: SubmitInput): Promise<Submitted> {
  // Validate the whole message before anything is written, so bad input leaves no task behind.
  const probe = parseFleetInput(dispatchMessage, { ...input.dispatch, task_id: "gz-0000", submitted_at: 0 }, "dispatch");
  const { task, created } = await deps.store.create(input.task);
  const subject = probe.node !== undefined ? nodeSubject(probe.node) : roleSubject(probe.role!);
  if (!created && task.status !== "open") return { task, subject, published: false };
  const message = dispatchMessage.parse({ ...input.dispatch, task_id: task.id, submitted_at: performance.timeOrigin + performance.now() });
  try {
    await deps.js.publish(subject, JSON.stringify(message), { msgID: task.id });
  } catch (error) {
    throw new FleetUnavailableError(`task ${task.id} was created but could not be published to ${subject}: ${(error as Error).message}; submit it again with the same idempotency key`, { cause: error });
  }
  return { task, subject, published: true };
}
