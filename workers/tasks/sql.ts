import type postgres from "postgres";
import type { Sql } from "../../shared/db/connect.ts";
import type { ClaimOptions, CreateTaskInput, Task } from "./schema.ts";

/** Every column a Task carries, in the order `--json` prints them (seq is internal). */
export const TASK_COLUMNS = [
  "id", "title", "description", "issue_type", "status", "priority", "assignee", "labels", "estimated_minutes",
  "attempts", "claimed_by", "lease_expires_at", "result", "error", "close_reason", "swarm", "run_id",
  "idempotency_key", "created_at", "updated_at", "started_at", "closed_at",
];

/**
 * "Nothing holds task t back": no unclosed 'blocks' blocker on t or on any ancestor reached through
 * 'parent-child'. As in beads, a parent only gates its children by being blocked itself, so an
 * open epic does not hold back its own children. Expects the candidate row aliased as `t`.
 *
 * This is the definition; ready and claim read its maintained form instead, `t.blocker_count = 0`
 * (kept by the triggers of migrations/0004), which must always agree with it (test/tasks/blockers.test.ts).
 */
export function unblocked(sql: Sql) {
  return sql`NOT EXISTS (
    WITH RECURSIVE lineage(id) AS (
      SELECT t.id
      UNION
      SELECT d.depends_on_id FROM task_dependencies d JOIN lineage l ON d.issue_id = l.id WHERE d.type = 'parent-child'
    )
    SELECT 1 FROM lineage l
    JOIN task_dependencies b ON b.issue_id = l.id AND b.type = 'blocks'
    JOIN tasks blocker ON blocker.id = b.depends_on_id
    WHERE blocker.status <> 'closed'
  )`;
}

/** Optional equality filters shared by list, ready and claim. */
export function filters(sql: Sql, f: { status?: string; label?: string; assignee?: string; swarm?: string }) {
  return sql`${f.status ? sql`AND t.status = ${f.status}` : sql``}
    ${f.label ? sql`AND t.labels @> ARRAY[${f.label}]::text[]` : sql``}
    ${f.assignee ? sql`AND t.assignee = ${f.assignee}` : sql``}
    ${f.swarm ? sql`AND t.swarm = ${f.swarm}` : sql``}`;
}

/** Postgres' unique_violation and foreign_key_violation, as postgres.js reports them. */
export function isPgError(error: unknown, code: string, constraint?: string): boolean {
  const e = error as { code?: string; constraint_name?: string };
  return e?.code === code && (constraint === undefined || e.constraint_name === constraint);
}

/** A pool or a transaction: the statement builders below run in either. */
export type Db = Sql | postgres.TransactionSql;

// The statements that write a task, built but not sent: postgres.js sends a query when it is
// awaited, so a caller can send several in one round trip of its own transaction (the swarm
// runtime opens a step with its task and its run events in one commit). Inputs are parsed already.

/**
 * INSERT of a task under a chosen id. With `conflict` "id", an idempotency key already used fails
 * with unique_violation (createTask answers with that key's task); with "any" nothing is inserted
 * instead, for a caller whose transaction must go on and who looks the key up itself. With `when`
 * (a SQL condition), the task is inserted only if it holds.
 */
export function insertTask(sql: Db, id: string, i: ParsedCreate, conflict: "id" | "any", when?: postgres.PendingQuery<postgres.Row[]>) {
  return sql<Task[]>`
    INSERT INTO tasks (id, title, description, issue_type, priority, assignee, labels, estimated_minutes, swarm, run_id, idempotency_key)
    SELECT ${id}, ${i.title}, ${i.description}, ${i.issue_type}, ${i.priority}::smallint, ${i.assignee ?? null},
           ${i.labels}::text[], ${i.estimated_minutes ?? null}::int, ${i.swarm ?? null}, ${i.run_id ?? null}, ${i.idempotency_key ?? null}
    WHERE ${when ?? sql`true`}
    ON CONFLICT ${conflict === "id" ? sql`(id)` : sql``} DO NOTHING
    RETURNING ${sql(TASK_COLUMNS)}`;
}
type ParsedCreate = Required<Pick<CreateTaskInput, "title" | "description" | "issue_type" | "labels">> &
  Omit<CreateTaskInput, "priority"> & { priority: number };

/**
 * Claims one named task if it is open and nothing holds it back; no row if not. With `key`, only
 * if the task is the one with that idempotency key.
 */
export function claimReady(sql: Db, id: string, claim: Required<Pick<ClaimOptions, "worker" | "leaseSeconds">>, key?: string) {
  // A concurrent claimer of the same row waits for ours and then fails the status recheck.
  return sql<Task[]>`
    UPDATE tasks SET status = 'in_progress', claimed_by = ${claim.worker}, attempts = attempts + 1,
      lease_expires_at = now() + make_interval(secs => ${claim.leaseSeconds}), started_at = now(), updated_at = now()
    WHERE id = ${id} AND status = 'open' AND blocker_count = 0 ${key === undefined ? sql`` : sql`AND idempotency_key = ${key}`}
    RETURNING ${sql(TASK_COLUMNS)}`;
}

/** The claimer closes its task with a result (jsonb); no row if the task is not its in-progress claim. */
export function closeClaimed(sql: Db, id: string, worker: string, result: unknown) {
  return sql<Task[]>`
    UPDATE tasks SET status = 'closed', result = ${sql.json(toJson(result))}, error = NULL, lease_expires_at = NULL,
      closed_at = now(), updated_at = now()
    WHERE id = ${id} AND status = 'in_progress' AND claimed_by = ${worker}
    RETURNING ${sql(TASK_COLUMNS)}`;
}

/** jsonb has no `undefined`; a result is stored as the JSON it would serialise to. */
function toJson(value: unknown): JsonValue {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as JsonValue);
}
type JsonValue = Parameters<Sql["json"]>[0];
