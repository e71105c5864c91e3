import type { Sql } from "../../shared/db/connect.ts";
import { TaskNotFoundError } from "./errors.ts";
import { parseInput, taskId } from "./schema.ts";
import type { DurationSample, ScheduleEdge, ScheduleTask } from "./schedule.ts";

export interface TimelineSelection {
  swarm?: string;
  run?: string;
  ids?: string[];
}
export interface Timeline {
  /** The selected tasks, oldest first: the rows of the chart. */
  selected: string[];
  /** The selected tasks and every task upstream of them through gating edges: what their times depend on. */
  tasks: ScheduleTask[];
  edges: ScheduleEdge[];
  samples: DurationSample[];
}

/** How many past tasks of each type the measured-duration fallback looks at. */
const SAMPLES_PER_TYPE = 200;

/** What `bd gantt` schedules: the selection (all tasks when empty), its upstream, and past durations. */
export async function loadTimeline(sql: Sql, selection: TimelineSelection = {}): Promise<Timeline> {
  for (const id of selection.ids ?? []) parseInput(taskId, id, `task id "${id}"`);
  const ids = selection.ids?.length ? selection.ids : null;
  const selected = await sql<{ id: string }[]>`
    SELECT id FROM tasks
    WHERE true ${ids ? sql`AND id = ANY(${ids}::text[])` : sql``}
      ${selection.swarm ? sql`AND swarm = ${selection.swarm}` : sql``}
      ${selection.run ? sql`AND run_id = ${selection.run}` : sql``}
    ORDER BY created_at, seq`;
  if (ids) {
    const found = new Set(selected.map((r) => r.id));
    const missing = ids.find((id) => !found.has(id));
    if (missing) throw new TaskNotFoundError(missing);
  }
  const roots = selected.map((r) => r.id);
  const tasks = await sql<ScheduleTask[]>`
    WITH RECURSIVE upstream(id) AS (
      SELECT unnest(${roots}::text[])
      UNION
      SELECT d.depends_on_id FROM task_dependencies d JOIN upstream u ON d.issue_id = u.id WHERE d.type IN ('blocks', 'parent-child')
    )
    SELECT t.id, t.title, t.status, t.issue_type, t.estimated_minutes, t.created_at, t.started_at, t.closed_at
    FROM tasks t JOIN upstream USING (id) ORDER BY t.created_at, t.seq`;
  const all = tasks.map((t) => t.id);
  const edges = await sql<ScheduleEdge[]>`
    SELECT issue_id, depends_on_id, type FROM task_dependencies
    WHERE issue_id = ANY(${all}::text[]) AND type IN ('blocks', 'parent-child')`;
  const types = [...new Set(tasks.map((t) => t.issue_type))];
  const samples = await sql<DurationSample[]>`
    SELECT s.issue_type, s.minutes FROM unnest(${types}::text[]) AS k(issue_type)
    CROSS JOIN LATERAL (
      SELECT t.issue_type, extract(epoch FROM t.closed_at - t.started_at)::float8 / 60 AS minutes
      FROM tasks t WHERE t.issue_type = k.issue_type AND t.status = 'closed' AND t.started_at IS NOT NULL AND t.closed_at >= t.started_at
      ORDER BY t.closed_at DESC LIMIT ${SAMPLES_PER_TYPE}
    ) s`;
  return { selected: roots, tasks: [...tasks], edges: [...edges], samples: [...samples] };
}
