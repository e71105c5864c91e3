import type postgres from "postgres";
import type { Sql } from "../../../shared/db/connect.ts";
import type { RunEvent } from "../../events/runs.ts";
import type { Task } from "../../tasks/schema.ts";
import { claimedTaskStatements } from "../../tasks/claimed.ts";
import { TASK_COLUMNS, closeClaimed } from "../../tasks/sql.ts";
import { insertRunEvents, insertRunEventsWhen, recordRunEvent, recordRunEvents } from "./events.ts";
import type { RunContext, RunStopped, StepInfo, StepOutcome, StepResult } from "./steps.ts";

/**
 * A step's task in Postgres: opened (claimed by the run, its `created`/`started` events) and
 * closed (its outcome stored, its `completed` event). Each is one transaction sent in one round
 * trip, BEGIN to COMMIT pipelined on one connection. When the runtime knows which steps come
 * next (after a worker, the supervisor; after the supervisor, the workers it named), they are
 * opened in the transaction that closes this one: one round trip and one commit per step instead
 * of two, and nothing finished is at risk, since the close commits with the openings or not at
 * all. An opening made ahead waits in `ctx.prepared` until its step takes it.
 *
 * That transaction is not awaited by the step that closes: it is under way while LangGraph moves
 * to the next node, and the next step awaits it when it takes its opening (and sees its error, if
 * it failed). A crash meanwhile loses the close as a crash during an awaited close would, and the
 * step is worked again when the run resumes. The executor awaits every opening made ahead before
 * it lets a run go, so a drained worker never leaves a close unsent.
 */

/** What opening a step found: its claimed task, its stored result, a stop, or a case for the general path. */
type Opening = { task: Task } | { done: StepResult } | { stop: RunStopped } | { general: true };

/** A connection of the pool held for one transaction. */
type Reserved = Awaited<ReturnType<Sql["reserve"]>>;

/** Openings made ahead of their steps, by step path; created by the executor, one per execution. */
export type PreparedSteps = Map<string, Promise<Opening>>;

const STEP_LEASE_SECONDS = 6 * 3600;

/** Opens the step, or takes the opening made for it when the step before closed. */
export async function openStep(ctx: RunContext, info: StepInfo): Promise<{ task: Task } | StepResult> {
  const prepared = ctx.prepared?.get(info.path);
  if (prepared) {
    ctx.prepared!.delete(info.path);
    return settle(ctx, info, await prepared);
  }
  const db = await ctx.sql.reserve();
  let opening: Opening;
  try {
    const statements = openingStatements(db, ctx, info);
    opening = statements.read(await inOneRoundTrip(db, statements.queries));
  } finally {
    db.release(); // before the general path, which takes connections of its own
  }
  return settle(ctx, info, opening);
}

/**
 * The statements that open a step, whose results gate each other in SQL:
 *
 * 1. the run's boundary check and the task's insert, in one statement and so one snapshot: a
 *    cancel (or a spent budget) committed before the step opens always stops it, and then
 *    nothing of the step is written. A cancel committed while it opens is seen at the next
 *    boundary, as one made during the step would be;
 * 2. the claim of the task just inserted, and the events, written only if the claim was made;
 * 3. the task under the step's key, which on a resumed run is the step's stored outcome; not asked
 *    for a step opened ahead, which has none unless something went wrong (the general path
 *    then finds it).
 */
function openingStatements(db: Sql, ctx: RunContext, info: StepInfo, ahead = false) {
  const input = stepTask(ctx, info);
  const claim = stepClaim(ctx);
  const boundary = ctx.boundary?.query(db) ?? db`SELECT NULL::text AS stop`;
  const statements = claimedTaskStatements(db, input, claim, { when: db`NOT EXISTS (SELECT 1 FROM boundary WHERE stop IS NOT NULL)` });
  const base = { ...eventBase(ctx, info), task_id: statements.id };
  const events = insertRunEventsWhen(db, [{ ...base, type: "created" }, { ...base, type: "started" }], db`EXISTS (SELECT 1 FROM claimed)`);
  return {
    queries: [
      db`WITH boundary AS (${boundary}), inserted AS (${statements.insert}) SELECT * FROM boundary`,
      db`WITH claimed AS (${statements.claim}), announced AS (${events}) SELECT * FROM claimed`,
      ...(ahead ? [] : [db`SELECT ${db(TASK_COLUMNS)} FROM tasks WHERE idempotency_key = ${input.idempotency_key}`]),
    ],
    read([checked, claimed, stored]: postgres.Row[][]): Opening {
      if (checked?.[0]?.stop != null) return { stop: ctx.boundary!.verdict(checked[0]) };
      const fresh = claimed?.[0] as Task | undefined;
      if (fresh) return { task: fresh };
      const done = stored?.[0] && finishedResult(stored[0] as Task);
      return done ? { done } : { general: true };
    },
  };
}

async function settle(ctx: RunContext, info: StepInfo, opening: Opening): Promise<{ task: Task } | StepResult> {
  if ("stop" in opening) throw opening.stop;
  if ("task" in opening) return opening;
  if ("done" in opening) return opening.done;
  return openGenerally(ctx, info);
}

/**
 * The step's task exists unfinished (the run resumed mid-step, or its opening was made ahead and
 * a drain stopped the run before it began) or the random id was taken: createTask's general
 * path, which also claims a task reopened by hand.
 */
async function openGenerally(ctx: RunContext, info: StepInfo): Promise<{ task: Task } | StepResult> {
  const claim = stepClaim(ctx);
  const { task, created } = await ctx.tasks.create(stepTask(ctx, info), claim);
  const finished = finishedResult(task);
  if (finished) return finished;
  let held: Task | undefined = task.status === "in_progress" && task.claimed_by === ctx.claimer ? task : undefined;
  if (!held && task.status === "open") held = await ctx.tasks.claimTask(task.id, claim);
  if (!held) {
    const now = await ctx.tasks.get(task.id);
    return finishedResult(now) ?? { ok: false, error: `step task ${task.id} is ${now.status}${now.claimed_by ? ` (held by ${now.claimed_by})` : ""}; the run cannot use it` };
  }
  const resumed = { ...eventBase(ctx, info), task_id: task.id };
  await recordRunEvents(ctx.sql, created ? [{ ...resumed, type: "created" }, { ...resumed, type: "started" }] : [{ ...resumed, type: "started" }]);
  return { task: held };
}

/**
 * Closes the step's task with its outcome and writes its `completed` event; with steps in `next`
 * and the run free to go on (not draining, lease held), opens them in the same transaction,
 * which is then left under way (see the top of this file).
 */
export async function closeStep(ctx: RunContext, taskId: string, outcome: StepOutcome, event: Omit<RunEvent, "at">, next: readonly StepInfo[]): Promise<void> {
  const close = (db: Sql) => db`
    WITH closed AS (${closeClaimed(db, taskId, ctx.claimer, outcome)}),
      announced AS (${insertRunEventsWhen(db, [event], db`EXISTS (SELECT 1 FROM closed)`)})
    SELECT id FROM closed`;
  // No longer the run's claim: completeTask tells a task closed already (a no-op) from a lost lease (thrown).
  const closeGenerally = async () => {
    await ctx.tasks.complete(taskId, ctx.claimer, outcome);
    await recordRunEvent(ctx.sql, event);
  };
  const prepared = ctx.prepared;
  if (!next.length || !prepared || !(await mayGoOn(ctx))) {
    const [closed] = await close(ctx.sql);
    if (!closed) await closeGenerally();
    return;
  }
  const db = await ctx.sql.reserve();
  openAhead(db, ctx, prepared, [close(db)], next, async ([closed]) => {
    if (closed?.[0]) return true;
    // The close found its task no longer the run's: the openings are left to their steps' general path.
    await closeGenerally();
    return false;
  }).catch(() => {}); // seen by the step that takes an opening, or by settlePrepared
  await written();
}

/**
 * A first execution's start events and the opening of its first step (the supervisor's first
 * decision, known before the graph runs), in one transaction: the first step takes its opening
 * as every later step does, without a round trip of its own. Resolves once it is answered; the
 * events come before the step's own, as the transaction writes them in that order.
 */
export async function announceWithFirstStep(ctx: RunContext & { prepared: PreparedSteps }, events: Omit<RunEvent, "at">[], first: StepInfo): Promise<void> {
  const db = await ctx.sql.reserve();
  await openAhead(db, ctx, ctx.prepared, [insertRunEvents(db, events)], [first], async () => true);
}

/**
 * Sends the caller's statements (`lead`) and the openings of `next` in one transaction on `db`, a
 * reserved connection it releases, with no wait. Each opening waits in `prepared` for its step;
 * `accepted` reads the answers to `lead` and says whether the openings stand (false leaves them
 * to their steps' general path). Resolves with the answers to `lead`.
 */
function openAhead(
  db: Reserved,
  ctx: RunContext,
  prepared: PreparedSteps,
  lead: postgres.PendingQuery<postgres.Row[]>[],
  next: readonly StepInfo[],
  accepted: (answers: postgres.Row[][]) => Promise<boolean>,
): Promise<postgres.Row[][]> {
  const openings = next.map((info) => openingStatements(db, ctx, info, true));
  const sent = inOneRoundTrip(db, [...lead, ...openings.flatMap((o) => o.queries)]).finally(() => db.release());
  const read = sent.then(async (answers): Promise<Opening[]> => {
    if (!(await accepted(answers.slice(0, lead.length)))) return openings.map(() => ({ general: true }));
    let at = lead.length; // each opening reads the answers to its own statements
    return openings.map((o) => o.read(answers.slice(at, (at += o.queries.length))));
  });
  next.forEach((info, i) => {
    const opening = read.then((all) => all[i]!);
    opening.catch(() => {}); // seen by the step that takes it, or by settlePrepared
    prepared.set(info.path, opening);
  });
  return sent.then((answers) => answers.slice(0, lead.length));
}

/**
 * Resolves once what postgres.js queued in this turn of the event loop is on the socket.
 * postgres.js writes a connection's buffer at once only past 1 KB and otherwise in a
 * setImmediate: the tail of a transaction (its COMMIT) would leave only when LangGraph, which
 * moves on to the next node meanwhile, next yields to the event loop, and the step that awaits
 * this transaction would wait that much longer. Two turns, because postgres.js queues its
 * write in the microtasks that follow this call, after a first setImmediate of ours.
 */
const written = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/** Whether the run may begin another step now: what ctx.beforeStep would let through. */
async function mayGoOn(ctx: RunContext): Promise<boolean> {
  if (ctx.signal.aborted) return false;
  try {
    await ctx.beforeStep?.();
    return true;
  } catch {
    return false;
  }
}

/**
 * The tasks of openings made ahead that no step took, cancelled when the run ends (completed or
 * failed) so none stays in progress. A drained run keeps them: the run resumes into them.
 */
export async function discardPrepared(ctx: Pick<RunContext, "prepared" | "tasks">): Promise<void> {
  for (const pending of ctx.prepared?.values() ?? []) {
    const opening = await pending.catch(() => undefined);
    if (opening && "task" in opening) await ctx.tasks.cancel(opening.task.id, "the run ended before this step began").catch(() => {});
  }
  ctx.prepared?.clear();
}

/** Waits for every opening made ahead (and the close it travels with) to be answered, failed or not. */
export async function settlePrepared(prepared: PreparedSteps): Promise<void> {
  await Promise.allSettled(prepared.values());
}

/**
 * Sends BEGIN, the statements and COMMIT with no wait between them; each waits for the ones
 * before at the server. After a failed statement the transaction is aborted and Postgres answers
 * the COMMIT with a rollback; the first failure is thrown.
 */
async function inOneRoundTrip(db: Sql, queries: postgres.PendingQuery<postgres.Row[]>[]): Promise<postgres.Row[][]> {
  const results = await Promise.allSettled([db`BEGIN`, ...queries, db`COMMIT`]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.slice(1, -1).map((r) => (r as PromiseFulfilledResult<postgres.Row[]>).value);
}

/** A step's task, keyed by the run and the step's path. */
function stepTask(ctx: RunContext, info: StepInfo) {
  return {
    title: info.title.slice(0, 500),
    description: info.description?.slice(0, 100_000) ?? "",
    issue_type: "task",
    assignee: info.agent,
    labels: ["swarm-step"],
    swarm: ctx.swarm,
    run_id: ctx.runId,
    idempotency_key: `${ctx.runId}:${info.path}`,
  };
}

const stepClaim = (ctx: RunContext) => ({ worker: ctx.claimer, leaseSeconds: STEP_LEASE_SECONDS });

function eventBase(ctx: RunContext, info: StepInfo) {
  return { swarm: ctx.swarm, run_id: ctx.runId, step: info.path, agent: info.agent };
}

export function finishedResult(task: Task): StepResult | undefined {
  if (task.status === "closed") {
    // Closed by hand (`bd close`) rather than by the run: no stored outcome, an empty answer.
    const r = (task.result ?? {}) as Partial<StepOutcome>;
    return { ok: true, output: typeof r.output === "string" ? r.output : (task.close_reason ?? ""), data: r.data, model: r.model, tokens: r.tokens ?? 0, cost_usd: r.cost_usd ?? 0 };
  }
  if (task.status === "failed") return { ok: false, error: task.error ?? "failed" };
  if (task.status === "cancelled") return { ok: false, error: "the step was cancelled" };
  return undefined;
}
