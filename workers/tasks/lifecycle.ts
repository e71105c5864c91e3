import type { Sql } from "../../shared/db/connect.ts";
import { InvalidTransitionError, TaskNotFoundError } from "./errors.ts";
import { TASK_COLUMNS } from "./sql.ts";
import { parseInput, taskId, type Task } from "./schema.ts";
import { getTask } from "./records.ts";

/** Closes a task by hand (`bd close --reason`). Closing a closed task changes nothing. */
export async function closeTask(sql: Sql, id: string, reason?: string): Promise<Task> {
  parseInput(taskId, id, `task id "${id}"`);
  const [row] = await sql<Task[]>`
    UPDATE tasks SET status = 'closed', close_reason = ${reason ?? null}, lease_expires_at = NULL, closed_at = now(), updated_at = now()
    WHERE id = ${id} AND status NOT IN ('closed', 'cancelled')
    RETURNING ${sql(TASK_COLUMNS)}`;
  if (row) return row;
  const task = await getTask(sql, id);
  if (task.status === "closed") return task;
  throw new InvalidTransitionError(id, task.status, "close");
}

/** Re-opens a failed task for another attempt; the attempts already made stay counted. */
export async function retryTask(sql: Sql, id: string): Promise<Task> {
  parseInput(taskId, id, `task id "${id}"`);
  const [row] = await sql<Task[]>`
    UPDATE tasks SET status = 'open', claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = ${id} AND status = 'failed'
    RETURNING ${sql(TASK_COLUMNS)}`;
  if (row) return row;
  const task = await getTask(sql, id);
  throw new InvalidTransitionError(id, task.status, "retry");
}

/**
 * Cancels a task and every unfinished task downstream of it through 'blocks' and 'parent-child'
 * edges (work that could only have run after it). Closed and failed descendants keep their state.
 * Returns the cancelled tasks, the named one first.
 */
export async function cancelTask(sql: Sql, id: string, reason?: string): Promise<Task[]> {
  parseInput(taskId, id, `task id "${id}"`);
  return sql.begin(async (tx) => {
    const [root] = await tx<{ status: string }[]>`SELECT status FROM tasks WHERE id = ${id} FOR UPDATE`;
    if (!root) throw new TaskNotFoundError(id);
    if (root.status === "closed" || root.status === "cancelled") throw new InvalidTransitionError(id, root.status, "cancel");
    // Gating edges are acyclic, so the walk ends; UNION drops tasks reached along two paths.
    const rows = await tx<Task[]>`
      WITH RECURSIVE downstream(id) AS (
        SELECT ${id}::text
        UNION
        SELECT d.issue_id FROM task_dependencies d JOIN downstream s ON d.depends_on_id = s.id
        WHERE d.type IN ('blocks', 'parent-child')
      )
      UPDATE tasks SET status = 'cancelled', close_reason = coalesce(${reason ?? null}, ${`cancelled with ${id}`}),
        lease_expires_at = NULL, updated_at = now()
      WHERE id IN (SELECT id FROM downstream) AND (id = ${id} OR status IN ('open', 'blocked', 'in_progress'))
      RETURNING ${tx(TASK_COLUMNS)}`;
    return [...rows].sort((a, b) => (a.id === id ? -1 : b.id === id ? 1 : 0));
  });
}
