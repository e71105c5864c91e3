import { test } from "node:test";
import assert from "node:assert/strict";
import { medianDurations, schedule, type ScheduleEdge, type ScheduleTask, type TaskStatus } from "../../workers/tasks/index.ts";

// The scheduling of `bd gantt` over hand-built DAGs: pure functions, no database.
const NOW = new Date("2026-11-25T12:00:00Z");
const at = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);
const min = (d: Date | null) => (d === null ? null : (d.getTime() - NOW.getTime()) / 60_000);

function task(id: string, extra: Partial<ScheduleTask> & { status?: TaskStatus } = {}): ScheduleTask {
  return { id, title: id, status: "open", issue_type: "task", estimated_minutes: null, created_at: at(-600), started_at: null, closed_at: null, ...extra };
}
const blocks = (issue: string, on: string): ScheduleEdge => ({ issue_id: issue, depends_on_id: on, type: "blocks" });

test("a diamond: planned starts follow the latest blocker, the longer branch is the critical path", () => {
  const tasks = [task("a", { estimated_minutes: 10 }), task("b", { estimated_minutes: 20 }), task("c", { estimated_minutes: 5 }), task("d", { estimated_minutes: 10 })];
  const s = schedule(tasks, [blocks("b", "a"), blocks("c", "a"), blocks("d", "b"), blocks("d", "c")], { now: NOW });
  const by = new Map(s.tasks.map((t) => [t.id, t]));
  assert.deepEqual(s.tasks.map((t) => [t.id, min(t.start), min(t.end), min(t.eta)]), [["a", 0, 10, 10], ["b", 10, 30, 30], ["c", 10, 15, 15], ["d", 30, 40, 40]]);
  assert.equal(min(s.eta), 40);
  assert.deepEqual(s.critical_path, ["a", "b", "d"]);
  assert.deepEqual(["a", "b", "c", "d"].filter((id) => by.get(id)!.critical), ["a", "b", "d"]);
  assert.deepEqual(by.get("d")!.blockers.sort(), ["b", "c"]);
});

test("ETAs propagate from done, running and overdue work; parents gate by their start; cancelled blockers drop out", () => {
  const tasks = [
    task("done", { status: "closed", started_at: at(-60), closed_at: at(-30) }),
    task("run", { status: "in_progress", started_at: at(-10), estimated_minutes: 30 }),
    task("late", { status: "in_progress", started_at: at(-100), estimated_minutes: 30 }),
    task("next", { estimated_minutes: 15 }),
    task("child", { estimated_minutes: 5 }),
    task("gone", { status: "cancelled" }),
    task("free", { status: "failed", estimated_minutes: 7 }),
  ];
  const edges: ScheduleEdge[] = [blocks("next", "done"), blocks("next", "run"), blocks("next", "late"), { issue_id: "child", depends_on_id: "next", type: "parent-child" }, blocks("free", "gone")];
  const s = schedule(tasks, edges, { now: NOW });
  const by = new Map(s.tasks.map((t) => [t.id, t]));
  assert.deepEqual([by.get("done")!.kind, min(by.get("done")!.start), min(by.get("done")!.end), by.get("done")!.eta, by.get("done")!.duration_minutes], ["done", -60, -30, null, 30]);
  assert.deepEqual([by.get("run")!.kind, min(by.get("run")!.start), min(by.get("run")!.eta)], ["running", -10, 20]);
  assert.equal(min(by.get("late")!.eta), 0, "an overdue running task is expected to end now, not in the past");
  assert.deepEqual([min(by.get("next")!.start), min(by.get("next")!.eta)], [20, 35]);
  assert.deepEqual([min(by.get("child")!.start), min(by.get("child")!.eta)], [20, 25], "a child may start when its parent may");
  assert.deepEqual([by.get("gone")!.kind, by.get("gone")!.start, by.get("gone")!.eta], ["stopped", null, null]);
  assert.deepEqual([by.get("free")!.kind, min(by.get("free")!.start), min(by.get("free")!.eta)], ["planned", 0, 7]);
  assert.equal(min(s.eta), 35);
  assert.deepEqual(s.critical_path, ["run", "next"]);
  assert.equal(by.get("child")!.critical, false);
  assert.equal(by.get("done")!.critical, false, "finished work is never critical");
});

test("durations: the estimate, else the median measured duration of the type, else the default", () => {
  assert.deepEqual([...medianDurations([{ issue_type: "bug", minutes: 10 }, { issue_type: "bug", minutes: 30 }, { issue_type: "bug", minutes: 20 }, { issue_type: "feature", minutes: 10 }, { issue_type: "feature", minutes: 40 }])], [["bug", 20], ["feature", 25]]);
  const tasks = [
    task("est", { issue_type: "bug", estimated_minutes: 0 }),
    task("bug", { issue_type: "bug" }),
    task("feat", { issue_type: "feature" }),
    task("chore", { issue_type: "chore" }),
  ];
  const samples = [10, 30, 20].map((minutes) => ({ issue_type: "bug", minutes })).concat([10, 40].map((minutes) => ({ issue_type: "feature", minutes })));
  const s = schedule(tasks, [], { now: NOW, samples, defaultMinutes: 45 });
  assert.deepEqual(s.tasks.map((t) => [t.id, t.duration_minutes, t.duration_source, min(t.eta)]), [
    ["est", 0, "estimate", 0], ["bug", 20, "measured", 20], ["feat", 25, "measured", 25], ["chore", 45, "default", 45],
  ]);
  assert.equal(schedule([task("x")], [], { now: NOW }).tasks[0]!.duration_minutes, 30, "the default default is 30 minutes");
});

test("select reports a subset whose times still follow their upstream; nothing left means no ETA", () => {
  const tasks = [task("up", { estimated_minutes: 50 }), task("down", { estimated_minutes: 10 }), task("other", { estimated_minutes: 500 })];
  const s = schedule(tasks, [blocks("down", "up")], { now: NOW, select: ["down"] });
  assert.deepEqual(s.tasks.map((t) => [t.id, min(t.start), min(t.eta)]), [["down", 50, 60]]);
  assert.equal(min(s.eta), 60);
  assert.deepEqual(s.critical_path, ["up", "down"]);
  const finished = schedule([task("d", { status: "closed", started_at: at(-5), closed_at: at(-1) })], [], { now: NOW });
  assert.equal(finished.eta, null);
  assert.deepEqual(finished.critical_path, []);
});
