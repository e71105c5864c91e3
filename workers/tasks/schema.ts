import { z } from "zod";
import { TaskInputError } from "./errors.ts";

// Inputs are validated here, at the boundary (CLI flags, API bodies, agent tool calls); the store trusts them.

export const TASK_STATUSES = ["open", "in_progress", "blocked", "closed", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const DEPENDENCY_TYPES = ["blocks", "parent-child", "related", "discovered-from"] as const;
export type DependencyType = (typeof DEPENDENCY_TYPES)[number];
/** The edge types that hold a task back from ready; only these are kept acyclic. */
export const GATING_TYPES: readonly DependencyType[] = ["blocks", "parent-child"];

export const taskId = z.string().regex(/^gz-[0-9a-z]{4,}$/, "must look like gz-a1b2");
export const taskStatus = z.enum(TASK_STATUSES, { error: `must be one of ${TASK_STATUSES.join(", ")}` });
export const dependencyType = z.enum(DEPENDENCY_TYPES, { error: `must be one of ${DEPENDENCY_TYPES.join(", ")}` });
const MINUTES = "must be a whole number of minutes ≥ 0";
const minutes = z.number({ error: MINUTES }).int(MINUTES).min(0, MINUTES);
const PRIORITY_RANGE = "must be 0-4 (or P0-P4)";
/** 0 (most urgent) to 4, as beads; "P1" is accepted too. */
export const priority = z.preprocess(
  (v) => (typeof v === "string" && /^[Pp]?\d+$/.test(v.trim()) ? Number(v.trim().replace(/^[Pp]/, "")) : v),
  z.number({ error: PRIORITY_RANGE }).int(PRIORITY_RANGE).min(0, PRIORITY_RANGE).max(4, PRIORITY_RANGE),
);
const name = z.string().trim().min(1).max(200);
const label = z.string().trim().min(1).max(100);

export const dependencySpec = z.object({ type: dependencyType, depends_on_id: taskId });

export const createTaskInput = z.object({
  title: z.string().trim().min(1, "a task needs a title").max(500),
  description: z.string().max(100_000).default(""),
  issue_type: z.string().trim().min(1).max(50).default("task"),
  priority: priority.default(2),
  assignee: name.optional(),
  labels: z.array(label).default([]),
  estimated_minutes: minutes.optional(),
  swarm: name.optional(),
  run_id: name.optional(),
  idempotency_key: z.string().min(1).max(500).optional(),
  /** Tasks this one depends on, created in the same transaction. */
  dependencies: z.array(dependencySpec).default([]),
});
export type CreateTaskInput = z.input<typeof createTaskInput>;

export const updateTaskInput = z
  .object({
    title: z.string().trim().min(1).max(500),
    description: z.string().max(100_000),
    issue_type: z.string().trim().min(1).max(50),
    status: taskStatus,
    priority,
    assignee: name.nullable(),
    labels: z.array(label),
    estimated_minutes: minutes.nullable(),
  })
  .partial()
  .refine((p) => Object.values(p).some((v) => v !== undefined), "nothing to update");
export type UpdateTaskInput = z.input<typeof updateTaskInput>;

export const taskFilter = z.object({
  status: taskStatus.optional(),
  label: label.optional(),
  assignee: name.optional(),
  swarm: name.optional(),
  limit: z.number().int().min(1).max(10_000).default(50),
});
export type TaskFilter = z.input<typeof taskFilter>;

export const claimOptions = z.object({
  worker: name,
  /** How long the claim holds before the task goes back to ready unless completed or failed. */
  leaseSeconds: z.number().positive().max(7 * 24 * 3600).default(300),
  label: label.optional(),
  assignee: name.optional(),
  swarm: name.optional(),
});
export type ClaimOptions = z.input<typeof claimOptions>;

/** A task as stored and as `bd --json` prints it (snake_case, like beads). */
export interface Task {
  id: string;
  title: string;
  description: string;
  issue_type: string;
  status: TaskStatus;
  priority: number;
  assignee: string | null;
  labels: string[];
  estimated_minutes: number | null;
  attempts: number;
  claimed_by: string | null;
  lease_expires_at: Date | null;
  result: unknown;
  error: string | null;
  close_reason: string | null;
  swarm: string | null;
  run_id: string | null;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  closed_at: Date | null;
}

export interface Dependency {
  issue_id: string;
  depends_on_id: string;
  type: DependencyType;
  created_at: Date;
}

/** One line of `bd dep tree`: a task, how deep, and the edge that led to it. */
export interface TreeNode {
  id: string;
  title: string;
  status: TaskStatus;
  priority: number;
  depth: number;
  parent_id: string | null;
  dependency_type: DependencyType | null;
}

/** Parses input at the boundary; the first problem becomes a one-line TaskInputError naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, name?: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length ? issue.path.join(".") : name;
  throw new TaskInputError(where ? `${where}: ${issue.message}` : issue.message);
}
