import type { Sql } from "../../shared/db/connect.ts";
import type { ClaimOptions, CreateTaskInput, DependencyType, Task, TaskFilter, UpdateTaskInput } from "./schema.ts";
import { createTask, getTask, listTasks, showTask, updateTask } from "./records.ts";
import { claimNext, claimTask, completeTask, failTask, readyTasks, reapExpired, runTask } from "./queue.ts";
import { cancelTask, closeTask, retryTask } from "./lifecycle.ts";
import { addDependency, dependencyTree, removeDependency } from "./dependencies.ts";
import { loadTimeline, type TimelineSelection } from "./timeline.ts";

/**
 * The task DAG over one Postgres pool: the public surface of workers/tasks. Each method is one
 * plain function of (sql, …) in this folder; the class only carries the connection.
 */
export class TaskStore {
  constructor(readonly sql: Sql) {}

  create = (input: CreateTaskInput, claimFor?: ClaimOptions) => createTask(this.sql, input, claimFor);
  get = (id: string) => getTask(this.sql, id);
  show = (id: string) => showTask(this.sql, id);
  list = (filter?: TaskFilter) => listTasks(this.sql, filter);
  update = (id: string, patch: UpdateTaskInput) => updateTask(this.sql, id, patch);

  ready = (filter?: TaskFilter) => readyTasks(this.sql, filter);
  claim = (options: ClaimOptions) => claimNext(this.sql, options);
  claimTask = (id: string, options: ClaimOptions) => claimTask(this.sql, id, options);
  complete = (id: string, worker: string, result?: unknown) => completeTask(this.sql, id, worker, result);
  fail = (id: string, worker: string, error: string) => failTask(this.sql, id, worker, error);
  run = <R>(id: string, worker: string | ClaimOptions, fn: (task: Task) => Promise<R>) =>
    runTask(this.sql, id, typeof worker === "string" ? { worker } : worker, fn);
  reapExpired = () => reapExpired(this.sql);

  close = (id: string, reason?: string) => closeTask(this.sql, id, reason);
  retry = (id: string) => retryTask(this.sql, id);
  cancel = (id: string, reason?: string) => cancelTask(this.sql, id, reason);

  addDependency = (issueId: string, dependsOnId: string, type?: DependencyType) => addDependency(this.sql, issueId, dependsOnId, type);
  removeDependency = (issueId: string, dependsOnId: string) => removeDependency(this.sql, issueId, dependsOnId);
  tree = (id: string, options?: { reverse?: boolean; maxDepth?: number }) => dependencyTree(this.sql, id, options);
  /** What `bd gantt` schedules (workers/tasks/schedule.ts lays it out). */
  timeline = (selection?: TimelineSelection) => loadTimeline(this.sql, selection);
}
