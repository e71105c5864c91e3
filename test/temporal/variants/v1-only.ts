import { makeSwarmRun } from "../../../workers/temporal/swarm-workflow.ts";

// The workflow as it was before the v2 change: used to show that rolling workers back to it
// would strand runs that started on v2 (their histories carry the patch marker).
export const swarmRun = makeSwarmRun(() => 1);
