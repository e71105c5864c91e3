import type { Sql } from "../../shared/db/connect.ts";

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
