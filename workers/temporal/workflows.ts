import { patched } from "@temporalio/workflow";
import { CRITIC_REVIEW_PATCH, FAN_OUT_PATCH } from "./plan.ts";
import { makeSwarmRun } from "./swarm-workflow.ts";

/**
 * The workflows the Temporal worker registers (bundled by `workflowsPath`). Only
 * @temporalio/workflow and pure modules may be imported from here: the bundle runs in the
 * worker's deterministic sandbox, and replaying recorded histories must give the same commands.
 *
 * Versions (docs/temporal.md, "Versioning"):
 * - v1: supervisor loop, workers, panels, nested swarms.
 * - v2 (`critics-review-final-answer`): the final answer goes to the swarm's critic agents before
 *   the run finishes.
 * - v3 (`supervisor-fans-out`): with `topology.max_parallel` > 1 the supervisor names several
 *   workers at once and they run in parallel (one activity or child workflow each).
 *
 * Each patch is asked once, in the run's first workflow task, always both and in this order (a
 * new run records both markers there). A run that started on an older version has no marker for
 * the newer patches at that point, so `patched` returns false on replay and the run finishes on
 * the version it started with, even for decisions it takes after the upgrade.
 */
export const swarmRun = makeSwarmRun(() => {
  const criticsReview = patched(CRITIC_REVIEW_PATCH);
  const fansOut = patched(FAN_OUT_PATCH);
  return fansOut ? 3 : criticsReview ? 2 : 1;
});
