import { defineQuery, defineSignal } from "@temporalio/workflow";
import type { Progress } from "./plan.ts";

/** Signals and queries of the swarmRun workflow, shared by the workflow and the client. */

/** Stop the run: in-flight steps are cancelled and the run is marked cancelled. */
export const cancelSignal = defineSignal<[reason?: string]>("cancel");
/** The run's node states, for `godotz runs show --watch`. */
export const progressQuery = defineQuery<Progress>("progress");
