import type { Sql } from "../../shared/db/connect.ts";
import { DependencyCycleError, DependencyNotFoundError, TaskInputError, TaskNotFoundError } from "./errors.ts";
import { GATING_TYPES, dependencyType, parseInput, taskId, type Dependency, type DependencyType, type TreeNode } from "./schema.ts";

/**
 * Every insert of a gating edge takes this transaction-scoped lock before its cycle check, so two
 * concurrent inserts (a→b and b→a) cannot each pass the check and jointly close a cycle.
 */
const GATING_EDGE_LOCK = 7_414_301;

/** `issueId` depends on `dependsOnId` (beads' `bd dep add ISSUE DEPENDS_ON`). Re-adding changes the type. */
export async function addDependency(sql: Sql, issueId: string, dependsOnId: string, type: DependencyType = "blocks"): Promise<Dependency> {
  parseInput(taskId, issueId, `task id "${issueId}"`);
  parseInput(taskId, dependsOnId, `task id "${dependsOnId}"`);
  const t = parseInput(dependencyType, type, "dependency type");
  if (issueId === dependsOnId) throw new TaskInputError(`${issueId} cannot depend on itself`);
  return sql.begin(async (tx) => {
    const gating = GATING_TYPES.includes(t);
    if (gating) await tx`SELECT pg_advisory_xact_lock(${GATING_EDGE_LOCK})`;
    const found = new Set((await tx<{ id: string }[]>`SELECT id FROM tasks WHERE id IN (${issueId}, ${dependsOnId})`).map((r) => r.id));
    for (const id of [issueId, dependsOnId]) if (!found.has(id)) throw new TaskNotFoundError(id);
    if (gating) {
      // The new edge closes a cycle exactly when issueId is already reachable from dependsOnId.
      const [reachable] = await tx`
        WITH RECURSIVE upstream(id) AS (
          SELECT ${dependsOnId}::text
          UNION
          SELECT d.depends_on_id FROM task_dependencies d JOIN upstream u ON d.issue_id = u.id
          WHERE d.type IN ('blocks', 'parent-child')
        )
        SELECT 1 FROM upstream WHERE id = ${issueId} LIMIT 1`;
      if (reachable) throw new DependencyCycleError(issueId, dependsOnId);
    }
    const [row] = await tx<Dependency[]>`
      INSERT INTO task_dependencies (issue_id, depends_on_id, type) VALUES (${issueId}, ${dependsOnId}, ${t})
      ON CONFLICT (issue_id, depends_on_id) DO UPDATE SET type = EXCLUDED.type
      RETURNING issue_id, depends_on_id, type, created_at`;
    return row!;
  });
}

export async function removeDependency(sql: Sql, issueId: string, dependsOnId: string): Promise<Dependency> {
  parseInput(taskId, issueId, `task id "${issueId}"`);
  parseInput(taskId, dependsOnId, `task id "${dependsOnId}"`);
  const [row] = await sql<Dependency[]>`
    DELETE FROM task_dependencies WHERE issue_id = ${issueId} AND depends_on_id = ${dependsOnId}
    RETURNING issue_id, depends_on_id, type, created_at`;
  if (row) return row;
  const found = new Set((await sql<{ id: string }[]>`SELECT id FROM tasks WHERE id IN (${issueId}, ${dependsOnId})`).map((r) => r.id));
  for (const id of [issueId, dependsOnId]) if (!found.has(id)) throw new TaskNotFoundError(id);
  throw new DependencyNotFoundError(issueId, dependsOnId);
}

/**
 * The task and what it depends on, depth first (`reverse`: what depends on it). Non-gating edges
 * may form cycles, so each branch stops at a task it already passed through.
 */
export async function dependencyTree(sql: Sql, id: string, options: { reverse?: boolean; maxDepth?: number } = {}): Promise<TreeNode[]> {
  parseInput(taskId, id, `task id "${id}"`);
  const [from, to] = options.reverse ? ["depends_on_id", "issue_id"] : ["issue_id", "depends_on_id"];
  const rows = await sql<TreeNode[]>`
    WITH RECURSIVE tree(id, depth, parent_id, dependency_type, path) AS (
      SELECT ${id}::text, 0, NULL::text, NULL::text, ARRAY[${id}::text]
      UNION ALL
      SELECT d.${sql(to!)}, tr.depth + 1, tr.id, d.type, tr.path || d.${sql(to!)}
      FROM tree tr JOIN task_dependencies d ON d.${sql(from!)} = tr.id
      WHERE tr.depth < ${options.maxDepth ?? 50} AND NOT d.${sql(to!)} = ANY(tr.path)
    )
    SELECT tree.id, t.title, t.status, t.priority, tree.depth, tree.parent_id, tree.dependency_type
    FROM tree JOIN tasks t ON t.id = tree.id ORDER BY tree.path`;
  if (!rows.length) throw new TaskNotFoundError(id);
  return [...rows];
}
