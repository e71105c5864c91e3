// The task DAG laid out over time (`bd gantt`, FR-L5-003): pure functions of tasks, edges and past
// durations, so the terminal chart and a dashboard compute the same schedule.
import type { DependencyType, TaskStatus } from "./schema.ts";

export interface ScheduleTask {
  id: string;
  title: string;
  status: TaskStatus;
  issue_type: string;
  estimated_minutes: number | null;
  created_at: Date;
  started_at: Date | null;
  closed_at: Date | null;
}
export interface ScheduleEdge {
  issue_id: string;
  depends_on_id: string;
  type: DependencyType;
}
/** One finished task's measured duration, the fallback for tasks of its type without an estimate. */
export interface DurationSample {
  issue_type: string;
  minutes: number;
}

/** done: closed. running: claimed. planned: waiting to run (open, blocked, or failed awaiting retry). stopped: cancelled. */
export type BarKind = "done" | "running" | "planned" | "stopped";
export type DurationSource = "actual" | "estimate" | "measured" | "default";

export interface ScheduledTask {
  id: string;
  title: string;
  status: TaskStatus;
  issue_type: string;
  kind: BarKind;
  /** Done and running: when it started. Planned: when its blockers are expected to let it start. */
  start: Date | null;
  /** Done: when it closed. Running and planned: when it is expected to finish. */
  end: Date | null;
  /** When it is expected to be finished; null once done or cancelled. */
  eta: Date | null;
  duration_minutes: number;
  duration_source: DurationSource;
  /** On a longest chain of unfinished work that ends at the set's ETA. */
  critical: boolean;
  /** The gating tasks this one waits for ('blocks' blockers and 'parent-child' parents). */
  blockers: string[];
}

export interface Schedule {
  now: Date;
  /** When every unfinished task of the set is expected to be done; null when nothing is left. */
  eta: Date | null;
  /** Ids of one critical chain, first to last. */
  critical_path: string[];
  tasks: ScheduledTask[];
}

export interface ScheduleOptions {
  now: Date;
  samples?: readonly DurationSample[];
  /** Minutes for a task with neither an estimate nor past tasks of its type. */
  defaultMinutes?: number;
  /** The tasks to report, ETA and critical path included; the others (their upstream) only bound their times. Default: all. */
  select?: readonly string[];
}

export const DEFAULT_MINUTES = 30;
const MINUTE = 60_000;

/** The median measured duration per task type. */
export function medianDurations(samples: readonly DurationSample[]): Map<string, number> {
  const byType = new Map<string, number[]>();
  for (const s of samples) if (Number.isFinite(s.minutes) && s.minutes >= 0) byType.set(s.issue_type, [...(byType.get(s.issue_type) ?? []), s.minutes]);
  return new Map(
    [...byType].map(([type, xs]) => {
      const sorted = xs.sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      return [type, sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2];
    }),
  );
}

/** How long a task is expected to take: its estimate, else the median of its type, else the default. */
export function expectedMinutes(task: ScheduleTask, medians: ReadonlyMap<string, number>, defaultMinutes = DEFAULT_MINUTES): { minutes: number; source: DurationSource } {
  if (task.estimated_minutes !== null) return { minutes: task.estimated_minutes, source: "estimate" };
  const measured = medians.get(task.issue_type);
  if (measured !== undefined) return { minutes: measured, source: "measured" };
  return { minutes: defaultMinutes, source: "default" };
}

function kindOf(status: TaskStatus): BarKind {
  if (status === "closed") return "done";
  if (status === "in_progress") return "running";
  if (status === "cancelled") return "stopped";
  return "planned";
}

/**
 * Lays the tasks out in time. A planned task starts when the last of its 'blocks' blockers is
 * expected to end and its parents are expected to start (a parent gates its children only while it
 * is blocked itself, as in `ready`), and never before now; a running task ends after its expected
 * duration from its start, or now if that is already past. Edges to tasks outside `tasks` and
 * to cancelled tasks are ignored. Gating edges are acyclic (the store refuses cycles).
 */
export function schedule(tasks: readonly ScheduleTask[], edges: readonly ScheduleEdge[], options: ScheduleOptions): Schedule {
  const now = options.now;
  const medians = medianDurations(options.samples ?? []);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const live = (id: string) => byId.has(id) && byId.get(id)!.status !== "cancelled";
  const gating = edges.filter((e) => (e.type === "blocks" || e.type === "parent-child") && live(e.issue_id) && live(e.depends_on_id));
  const incoming = new Map<string, ScheduleEdge[]>();
  for (const e of gating) incoming.set(e.issue_id, [...(incoming.get(e.issue_id) ?? []), e]);

  const out = new Map<string, ScheduledTask>();
  const visit = (id: string, path: Set<string>): ScheduledTask => {
    const done = out.get(id);
    if (done) return done;
    if (path.has(id)) throw new Error(`dependency cycle through ${id}`);
    path.add(id);
    const t = byId.get(id)!;
    const kind = kindOf(t.status);
    const waits = incoming.get(id) ?? [];
    const { minutes, source } = expectedMinutes(t, medians, options.defaultMinutes);
    let start: Date | null = null;
    let end: Date | null = null;
    let duration = minutes;
    let durationSource: DurationSource = source;
    if (kind === "done") {
      end = t.closed_at ?? t.started_at ?? t.created_at;
      start = t.started_at ?? end;
      duration = (end.getTime() - start.getTime()) / MINUTE;
      durationSource = "actual";
    } else if (kind === "running") {
      start = t.started_at ?? now;
      end = new Date(Math.max(now.getTime(), start.getTime() + minutes * MINUTE));
    } else if (kind === "planned") {
      let at = now.getTime();
      for (const e of waits) {
        const before = visit(e.depends_on_id, path);
        const bound = e.type === "blocks" ? before.end : before.kind === "planned" ? before.start : null;
        if (bound) at = Math.max(at, bound.getTime());
      }
      start = new Date(at);
      end = new Date(at + minutes * MINUTE);
    }
    path.delete(id);
    const scheduled: ScheduledTask = {
      id, title: t.title, status: t.status, issue_type: t.issue_type, kind, start, end,
      eta: kind === "running" || kind === "planned" ? end : null,
      duration_minutes: duration, duration_source: durationSource, critical: false, blockers: waits.map((e) => e.depends_on_id),
    };
    out.set(id, scheduled);
    return scheduled;
  };
  for (const t of tasks) visit(t.id, new Set());

  const reported = (options.select ?? tasks.map((t) => t.id)).map((id) => out.get(id)).filter((s) => s !== undefined);
  const unfinished = reported.filter((s) => s.eta !== null);
  const eta = unfinished.length ? new Date(Math.max(...unfinished.map((s) => s.eta!.getTime()))) : null;
  const criticalPath = eta ? markCritical(out, incoming, unfinished.filter((s) => s.eta!.getTime() === eta.getTime())) : [];
  return { now, eta, critical_path: criticalPath, tasks: reported };
}

/**
 * Marks every unfinished task with no slack: walking back from the tasks that end at the ETA, a
 * blocker is critical when its end is what set the dependent's start. Returns one such chain, first to last.
 */
function markCritical(out: Map<string, ScheduledTask>, incoming: Map<string, ScheduleEdge[]>, last: ScheduledTask[]): string[] {
  // The tasks whose end set this start; through a parent, whatever set the parent's start.
  const setters = (id: string, start: Date): ScheduledTask[] =>
    (incoming.get(id) ?? []).flatMap((e) => {
      const b = out.get(e.depends_on_id)!;
      if (b.eta === null) return [];
      if (e.type === "blocks") return b.end?.getTime() === start.getTime() ? [b] : [];
      return b.kind === "planned" && b.start?.getTime() === start.getTime() ? setters(b.id, start) : [];
    });
  const binding = (s: ScheduledTask): ScheduledTask[] => (s.kind === "planned" ? setters(s.id, s.start!) : []);
  const stack = [...last];
  while (stack.length) {
    const s = stack.pop()!;
    if (s.critical) continue;
    s.critical = true;
    stack.push(...binding(s));
  }
  const chain: string[] = [];
  let at: ScheduledTask | undefined = last[0];
  while (at) {
    chain.unshift(at.id);
    at = binding(at)[0];
  }
  return chain;
}
