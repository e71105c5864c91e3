import { Cron } from "croner";

/**
 * Schedule expressions: standard cron, five fields (minute hour day-of-month month day-of-week), or
 * six with seconds first, always read in UTC so every worker process, whatever its local zone,
 * computes the same ticks. Nicknames such as @daily are refused: the schema's minimum length
 * would take some (@annually) and not others (@daily), so none is the rule that is easy to state.
 */
export class CronExpressionError extends Error {
  constructor(
    readonly expression: string,
    readonly reason: string,
  ) {
    super(`invalid cron "${expression}": ${reason}`);
    this.name = "CronExpressionError";
  }
}

const FIELDS = "minute hour day-of-month month day-of-week";

/** A paused croner job for `expression` (it computes times and never fires); throws CronExpressionError. */
export function parseCron(expression: string): Cron {
  const fields = expression.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new CronExpressionError(expression, `a cron expression has five fields (${FIELDS}), or six with seconds first; this has ${fields.length}`);
  }
  let cron: Cron;
  try {
    cron = new Cron(fields.join(" "), { timezone: "UTC", paused: true, mode: "5-or-6-parts" });
  } catch (error) {
    throw new CronExpressionError(expression, (error as Error).message.replace(/^CronPattern:\s*/, ""));
  }
  // "0 0 31 4 *" parses but names a day that never comes; better refused now than silently idle.
  if (cron.nextRun(new Date(0)) === null) throw new CronExpressionError(expression, "it never fires (no such date)");
  return cron;
}

/** Why `expression` is refused, or undefined when it is a valid schedule. */
export function cronProblem(expression: string): string | undefined {
  try {
    parseCron(expression);
    return undefined;
  } catch (error) {
    if (error instanceof CronExpressionError) return error.message;
    throw error;
  }
}

/** The latest tick at or before `at`, or undefined. */
export function latestTick(cron: Cron, at: number): Date | undefined {
  // previousRuns looks strictly before its reference (to the whole second), so a tick exactly at
  // `at` is found by looking from a millisecond later.
  return cron.previousRuns(1, new Date(at + 1))[0];
}
