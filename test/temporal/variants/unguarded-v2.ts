import { makeSwarmRun } from "../../../workers/temporal/swarm-workflow.ts";

// The v2 change made WITHOUT `patched`: every run, old or new, takes the critics' review path.
// replay.test.ts shows why this must not ship: histories recorded on v1 no longer replay.
export const swarmRun = makeSwarmRun(() => 2);
