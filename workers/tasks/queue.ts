import type { Sql } from "../../shared/db/connect.ts";
import { InvalidTransitionError, LeaseLostError, TaskNotReadyError } from "./errors.ts";
import { TASK_COLUMNS, claimReady, closeClaimed, filters } from "./sql.ts";
import { claimOptions, parseInput, taskFilter, taskId, type ClaimOptions, type Task, type TaskFilter } from "./schema.ts";
import { getTask } from "./records.ts";

/**
 * Claims whose lease ran out go back to ready (their attempt stays counted). Called lazily before
 * every ready/claim, so no reaper process has to be running; SKIP LOCKED keeps concurrent callers
 * from queueing behind each other here.
 */
export async function reapExpired(sql: Sql): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    UPDATE tasks SET status = 'open', claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id IN (SELECT id FROM tasks WHERE status = 'in_progress' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED)
    RETURNING id`;
  return rows.map((r) => r.id);
}

/**
 * Open, unclaimed tasks nothing holds back, most urgent (priority 0) and oldest first. The
 * condition is exactly the partial index tasks_ready's (migrations/0004), so the walk reads only ready rows.
 */
export async function readyTasks(sql: Sql, filter: TaskFilter = {}): Promise<Task[]> {
  const f = parseInput(taskFilter, { limit: 10, ...filter, status: undefined });
  await reapExpired(sql);
  return [...(await sql<Task[]>`
    SELECT ${sql(TASK_COLUMNS)} FROM tasks t
    WHERE t.status = 'open' AND t.blocker_count = 0 ${filters(sql, f)}
    ORDER BY t.priority, t.created_at, t.seq LIMIT ${f.limit}`)];
}

/**
 * Atomically takes the first ready task for a worker, or returns undefined when none is ready.
 * FOR UPDATE SKIP LOCKED makes concurrent claimers pass over each other's rows instead of
 * waiting on them, so each task goes to exactly one worker.
 */
export async function claimNext(sql: Sql, options: ClaimOptions): Promise<Task | undefined> {
  const o = parseInput(claimOptions, options);
  await reapExpired(sql);
  const [row] = await sql<Task[]>`
    UPDATE tasks SET status = 'in_progress', claimed_by = ${o.worker}, attempts = attempts + 1,
      lease_expires_at = now() + make_interval(secs => ${o.leaseSeconds}), started_at = now(), updated_at = now()
    WHERE id = (
      SELECT t.id FROM tasks t
      WHERE t.status = 'open' AND t.blocker_count = 0 ${filters(sql, o)}
      ORDER BY t.priority, t.created_at, t.seq LIMIT 1
      FOR UPDATE SKIP LOCKED)
    RETURNING ${sql(TASK_COLUMNS)}`;
  return row;
}

/** Claims one named task if it is ready; undefined if it is not (claimed, blocked, finished). */
export async function claimTask(sql: Sql, id: string, options: ClaimOptions): Promise<Task | undefined> {
  parseInput(taskId, id, `task id "${id}"`);
  const o = parseInput(claimOptions, options);
  await reapExpired(sql);
  const [row] = await claimReady(sql, id, o);
  return row;
}

/** The claimer finishes a task with its result. Completing twice is a no-op that returns the stored task. */
export async function completeTask(sql: Sql, id: string, worker: string, result: unknown = null): Promise<Task> {
  parseInput(taskId, id, `task id "${id}"`);
  const [row] = await closeClaimed(sql, id, worker, result);
  if (row) return row;
  const task = await getTask(sql, id);
  if (task.status === "closed" && task.claimed_by === worker) return task;
  throw new LeaseLostError(id, worker);
}

/** The claimer gives up on a task; `retry` re-opens it. */
export async function failTask(sql: Sql, id: string, worker: string, error: string): Promise<Task> {
  parseInput(taskId, id, `task id "${id}"`);
  const [row] = await sql<Task[]>`
    UPDATE tasks SET status = 'failed', error = ${error}, lease_expires_at = NULL, updated_at = now()
    WHERE id = ${id} AND status = 'in_progress' AND claimed_by = ${worker}
    RETURNING ${sql(TASK_COLUMNS)}`;
  if (row) return row;
  await getTask(sql, id);
  throw new LeaseLostError(id, worker);
}

export interface RunOutcome<R> {
  /** False when the task was already closed and `fn` did not run. */
  ran: boolean;
  task: Task;
  result: R;
}

/**
 * Runs one task exactly to completion (FR-L5-004): claims it, runs `fn`, stores its result.
 * A task that is already closed is not run again; its stored result is returned instead,
 * so replaying a step after a crash is safe. If `fn` throws, the task is failed and the error rethrown.
 */
export async function runTask<R>(sql: Sql, id: string, options: ClaimOptions, fn: (task: Task) => Promise<R>): Promise<RunOutcome<R>> {
  const claimed = await claimTask(sql, id, options);
  if (!claimed) {
    const task = await getTask(sql, id);
    if (task.status === "closed") return { ran: false, task, result: task.result as R };
    if (task.status === "open") throw new TaskNotReadyError(id);
    throw new InvalidTransitionError(id, task.status, "run");
  }
  const worker = claimed.claimed_by!;
  let result: R;
  try {
    result = await fn(claimed);
  } catch (error) {
    await failTask(sql, id, worker, error instanceof Error ? error.message : String(error));
    throw error;
  }
  const task = await completeTask(sql, id, worker, result);
  return { ran: true, task, result: task.result as R };
}
