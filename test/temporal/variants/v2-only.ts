import { patched } from "@temporalio/workflow";
import { CRITIC_REVIEW_PATCH } from "../../../workers/temporal/plan.ts";
import { makeSwarmRun } from "../../../workers/temporal/swarm-workflow.ts";

// The workflow as it was before the v3 change (fan-out): used to show that rolling workers back
// to it would strand runs that started on v3, while v1 and v2 runs replay on it as before.
export const swarmRun = makeSwarmRun(() => (patched(CRITIC_REVIEW_PATCH) ? 2 : 1));
