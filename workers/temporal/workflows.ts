import { patched } from "@temporalio/workflow";
import { CRITIC_REVIEW_PATCH } from "./plan.ts";
import { makeSwarmRun } from "./swarm-workflow.ts";

/**
 * The workflows the Temporal worker registers (bundled by `workflowsPath`). Only
 * @temporalio/workflow and pure modules may be imported from here: the bundle runs in the
 * worker's deterministic sandbox, and replaying recorded histories must give the same commands.
 *
 * Versions (docs/temporal.md, "Versioning"):
 * - v1: supervisor loop, workers, panels, nested swarms.
 * - v2 (`critics-review-final-answer`): the final answer goes to the swarm's critic agents before
 *   the run finishes. `patched` is asked once, in the run's first workflow task: runs that
 *   started on v1 have no marker there, so it returns false on replay and they finish on v1,
 *   even for decisions taken after the upgrade; new runs record the marker and take v2.
 */
export const swarmRun = makeSwarmRun(() => patched(CRITIC_REVIEW_PATCH));
