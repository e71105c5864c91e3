import type postgres from "postgres";
import type { Sql } from "../../shared/db/connect.ts";
import { newTaskId } from "./ids.ts";
import { claimReady, insertTask } from "./sql.ts";
import { TaskInputError } from "./errors.ts";
import { claimOptions, createTaskInput, parseInput, type ClaimOptions, type CreateTaskInput } from "./schema.ts";

/**
 * A new task claimed at once, as two statements for a transaction the caller sends in one round
 * trip with its own writes (the swarm runtime opens each step so: its cancel and budget check,
 * this task, its run events). The usual trigger writes the task's `created` and `started` events,
 * as createTask with `claimFor` does. Nothing is sent here: postgres.js sends a query when it is
 * awaited, and a statement built here can also be nested in the caller's own (a CTE).
 *
 * `insert` inserts only if `options.when` holds; `claim` claims the task if `insert` inserted it, which
 * it does not when the idempotency key is used already (a resumed run) or the random id was
 * taken. The caller then takes createTask's general path, which sorts out both. The claim names
 * the key as well as the id, so a taken id never claims the other task that holds it.
 */
export function claimedTaskStatements(
  sql: Sql,
  input: CreateTaskInput,
  claimFor: ClaimOptions,
  options: { when?: postgres.PendingQuery<postgres.Row[]>; id?: string } = {},
) {
  const i = parseInput(createTaskInput, input);
  const claim = parseInput(claimOptions, claimFor);
  if (!i.idempotency_key) throw new TaskInputError("idempotency_key: a task claimed in the caller's transaction needs one");
  // Edges would need their own statements and checks; the runtime's steps have none.
  if (i.dependencies.length) throw new TaskInputError("dependencies: a task claimed in the caller's transaction cannot have dependencies");
  const id = options.id ?? newTaskId();
  return { id, insert: insertTask(sql, id, i, "any", options.when), claim: claimReady(sql, id, claim, i.idempotency_key) };
}
