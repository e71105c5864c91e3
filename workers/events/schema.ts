import { z } from "zod";
import { TASK_STATUSES, taskId } from "../tasks/schema.ts";

/**
 * What happened to a task. The five of the task-DAG issue, plus the two transitions a task can
 * also take: `reopened` (back to open: `bd retry`, an expired lease, or a status set by hand; the
 * reason says which) and `blocked` (a status set by hand). A retry is not a second `created`: the
 * task already exists, and a consumer counting tasks by `created` must not count it twice.
 */
export const TASK_EVENT_TYPES = ["created", "started", "completed", "failed", "cancelled", "reopened", "blocked"] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

/** A task lifecycle event as it travels on NATS; validated before publishing and after receiving. */
export const taskEvent = z.object({
  type: z.enum(TASK_EVENT_TYPES),
  task_id: taskId,
  swarm: z.string().min(1).nullable(),
  run_id: z.string().min(1).nullable(),
  /** The task's status after the transition. */
  status: z.enum(TASK_STATUSES),
  attempts: z.number().int().min(0),
  at: z.iso.datetime(),
  /** The worker holding the claim (for `reopened`: the one that held it before). */
  worker: z.string().min(1).optional(),
  /** The failure's error, the close or cancel reason, or why a task was reopened. */
  reason: z.string().max(2000).optional(),
  /** The start of a completed task's stored result, as JSON. */
  result_summary: z.string().max(1000).optional(),
});
export type TaskEvent = z.output<typeof taskEvent>;

/** Bad data at the NATS boundary: an event that does not match its schema. */
export class InvalidEventError extends Error {
  constructor(readonly what: string, error: z.ZodError) {
    const issue = error.issues[0];
    super(`${what} is not a valid event: ${issue ? `${issue.path.join(".") || "(event)"}: ${issue.message}` : "invalid"}`);
    this.name = "InvalidEventError";
  }
}

export function parseEvent<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidEventError(what, parsed.error);
  return parsed.data;
}

/**
 * One subject token from a free-form name (a swarm may be called "my swarm.v2"): characters NATS
 * gives meaning to, and '%', are %-escaped, so distinct names keep distinct tokens. `_` stands for
 * "no swarm", so a swarm literally named "_" is escaped too.
 */
export function subjectToken(name: string | null): string {
  if (name === null) return "_";
  if (name === "_") return "%5F";
  return [...name].map((c) => (/^[A-Za-z0-9_-]$/.test(c) ? c : [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""))).join("");
}

/** `<prefix>.<swarm or _>.<task id>.<type>`: one task's events share a subject prefix, filterable by swarm. */
export function taskEventSubject(prefix: string, event: Pick<TaskEvent, "swarm" | "task_id" | "type">): string {
  return `${prefix}.${subjectToken(event.swarm)}.${event.task_id}.${event.type}`;
}
