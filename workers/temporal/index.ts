// The Temporal engine's public surface (docs/temporal.md): settings, the worker of `godotz
// workers`, and starting, cancelling and watching runs. workflows.ts is loaded by the worker only.
export { temporalConfigFrom, TemporalConfigError, type TemporalConfig } from "./config.ts";
export { runTemporalWorker, runSwarmWorker, createSwarmWorker, WORKFLOWS_PATH } from "./worker.ts";
export { connectSwarmClient, startSwarmRun, cancelSwarmRun, swarmRunProgress, swarmRunResult, type SwarmClient } from "./client.ts";
export { startRecordedRun, definitionOf, TemporalRunError } from "./start-run.ts";
export { TASK_QUEUE, WORKFLOW_TYPE, CRITIC_REVIEW_PATCH, type Progress, type NodeState, type SwarmRunResult } from "./plan.ts";
