import { makeSwarmRun } from "../../../workers/temporal/swarm-workflow.ts";
import { postgresRunStore } from "../../../workers/temporal/run-store.ts";

// A workflow module that (wrongly) imports I/O code: the bundle must refuse it, because a
// workflow that reaches the network or a database cannot be replayed deterministically.
export const swarmRun = makeSwarmRun(() => (typeof postgresRunStore === "function" ? 2 : 1));
