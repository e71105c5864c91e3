// Handing swarm runs to the workers: recording a queued run with its outbox row (requestRun, the
// only part the edge imports, through request.ts), relaying the outbox to the GODOTZ_RUNS work
// queue, and consuming it in the worker processes. See docs/webhooks.md.
export { requestRun, insertRunRequest, InvalidRunRequestError, type RunRequestInput, type SwarmSnapshot } from "./request.ts";
export { deploySwarms, findDeployedSwarm, type DeployedSwarm, type DeployResult } from "./registry.ts";
export { RunRequestRelay, runRequestSink, type RunRequestSink, type RunRequestRelayOptions } from "./relay.ts";
export { consumeRunRequests, type ConsumeRunRequestsOptions, type ConsumeSummary, type RunRequestDelivery } from "./consume.ts";
export { ensureRunStream, RUN_REQUEST_STREAM } from "./stream.ts";
export { newRunId } from "./ids.ts";
export * from "./schema.ts";
