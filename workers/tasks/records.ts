import type { Sql } from "../../shared/db/connect.ts";
import { newTaskId } from "./ids.ts";
import { TaskNotFoundError } from "./errors.ts";
import { TASK_COLUMNS, claimReady, filters, insertTask, isPgError } from "./sql.ts";
import {
  claimOptions, createTaskInput, parseInput, taskFilter, taskId, updateTaskInput,
  type ClaimOptions, type CreateTaskInput, type DependencyType, type Task, type TaskFilter, type TaskStatus, type UpdateTaskInput,
} from "./schema.ts";

/** A task with the edges around it, as `bd show` prints it. */
export interface TaskDetails extends Task {
  dependencies: LinkedTask[];
  dependents: LinkedTask[];
}
export interface LinkedTask {
  id: string;
  title: string;
  status: TaskStatus;
  priority: number;
  dependency_type: DependencyType;
}

const LONGEST_ID = 12;

/**
 * Creates a task and its dependencies in one transaction. With an idempotency key already used,
 * returns the task that key created instead (`created: false`), so a retried request makes one task.
 * With `claimFor`, a new task that nothing blocks is claimed in the same transaction, so it is
 * never seen as ready and no other claimer can take it (the swarm runtime's steps, which belong to
 * their run from the start).
 */
export async function createTask(sql: Sql, input: CreateTaskInput, claimFor?: ClaimOptions): Promise<{ task: Task; created: boolean }> {
  const i = parseInput(createTaskInput, input);
  const claim = claimFor ? parseInput(claimOptions, claimFor) : undefined;
  if (i.idempotency_key) {
    const existing = await byIdempotencyKey(sql, i.idempotency_key);
    if (existing) return { task: existing, created: false };
  }
  const deps = new Map(i.dependencies.map((d) => [d.depends_on_id, d.type]));
  for (let length = 4; length <= LONGEST_ID; length++) {
    try {
      const task = await sql.begin(async (tx) => {
        if (deps.size) {
          const found = new Set((await tx<{ id: string }[]>`SELECT id FROM tasks WHERE id = ANY(${[...deps.keys()]}::text[])`).map((r) => r.id));
          const missing = [...deps.keys()].find((id) => !found.has(id));
          if (missing) throw new TaskNotFoundError(missing);
        }
        const [row] = await insertTask(tx, newTaskId(length), i, "id");
        if (!row) return undefined; // the random id was taken: try again, one character longer
        // A brand-new task has no dependents yet, so none of these edges can close a cycle.
        for (const [dependsOn, type] of deps) {
          await tx`INSERT INTO task_dependencies (issue_id, depends_on_id, type) VALUES (${row.id}, ${dependsOn}, ${type})`;
        }
        if (!claim) return row;
        const [claimed] = await claimReady(tx, row.id, claim);
        return claimed ?? row;
      });
      if (task) return { task, created: true };
    } catch (error) {
      // Two creates with one key raced; the loser returns the winner's task.
      if (i.idempotency_key && isPgError(error, "23505", "tasks_idempotency_key_key")) {
        const existing = await byIdempotencyKey(sql, i.idempotency_key);
        if (existing) return { task: existing, created: false };
      }
      throw error;
    }
  }
  throw new Error(`could not mint a free task id of up to ${LONGEST_ID} characters`);
}

async function byIdempotencyKey(sql: Sql, key: string): Promise<Task | undefined> {
  const [row] = await sql<Task[]>`SELECT ${sql(TASK_COLUMNS)} FROM tasks WHERE idempotency_key = ${key}`;
  return row;
}

export async function getTask(sql: Sql, id: string): Promise<Task> {
  parseInput(taskId, id, `task id "${id}"`);
  const [row] = await sql<Task[]>`SELECT ${sql(TASK_COLUMNS)} FROM tasks WHERE id = ${id}`;
  if (!row) throw new TaskNotFoundError(id);
  return row;
}

export async function showTask(sql: Sql, id: string): Promise<TaskDetails> {
  const task = await getTask(sql, id);
  const dependencies = await sql<LinkedTask[]>`
    SELECT t.id, t.title, t.status, t.priority, d.type AS dependency_type
    FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on_id WHERE d.issue_id = ${id} ORDER BY t.priority, t.created_at`;
  const dependents = await sql<LinkedTask[]>`
    SELECT t.id, t.title, t.status, t.priority, d.type AS dependency_type
    FROM task_dependencies d JOIN tasks t ON t.id = d.issue_id WHERE d.depends_on_id = ${id} ORDER BY t.priority, t.created_at`;
  return { ...task, dependencies: [...dependencies], dependents: [...dependents] };
}

/** Tasks matching the filters, most urgent and oldest first. */
export async function listTasks(sql: Sql, filter: TaskFilter = {}): Promise<Task[]> {
  const f = parseInput(taskFilter, filter);
  return [...(await sql<Task[]>`
    SELECT ${sql(TASK_COLUMNS)} FROM tasks t WHERE true ${filters(sql, f)}
    ORDER BY t.priority, t.created_at, t.seq LIMIT ${f.limit}`)];
}

/**
 * Changes fields. A status set by hand keeps the bookkeeping true: reopening drops the claim,
 * closing stamps closed_at, leaving in_progress ends the lease.
 */
export async function updateTask(sql: Sql, id: string, patch: UpdateTaskInput): Promise<Task> {
  parseInput(taskId, id, `task id "${id}"`);
  const p = parseInput(updateTaskInput, patch);
  const fields = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined));
  const status = p.status ?? null;
  const [row] = await sql<Task[]>`
    UPDATE tasks SET ${sql(fields)}, updated_at = now(),
      claimed_by = CASE WHEN ${status}::text = 'open' THEN NULL ELSE claimed_by END,
      lease_expires_at = CASE WHEN ${status}::text IS NULL OR ${status}::text = 'in_progress' THEN lease_expires_at END,
      started_at = CASE WHEN ${status}::text = 'in_progress' THEN coalesce(started_at, now()) ELSE started_at END,
      closed_at = CASE WHEN ${status}::text IS NULL THEN closed_at WHEN ${status}::text = 'closed' THEN coalesce(closed_at, now()) END
    WHERE id = ${id}
    RETURNING ${sql(TASK_COLUMNS)}`;
  if (!row) throw new TaskNotFoundError(id);
  return row;
}
