// The fleet (issue #7): the per-node agent, submitting work to it, and reading its state.
export { FleetAgent, type AgentDeps } from "./agent.ts";
export { submitTask, type SubmitInput, type Submitted } from "./submit.ts";
export { loadAgentConfig, DEFAULT_CAPACITY, ENV_NAMES, type AgentConfig, type AgentConfigInput } from "./config.ts";
export { sandboxExecutor, ExecutorUnavailableError, type Executor, type ExecutionRequest, type ExecutionResult } from "./executor.ts";
export { readFleet, fleetReader, type FleetNodeView, type FleetReader } from "./registry/table.ts";
export { listNodes, getNode } from "./registry/kv.ts";
export { ensureFleetStreams } from "./streams.ts";
export * from "./names.ts";
export * from "./schema.ts";
export * from "./errors.ts";
export type { DeadLetter } from "./dead-letter.ts";
export { SecurityEventRecorder, type AttributedSecurityEvent, type SecurityEventSink } from "./security/recorder.ts";
export { listSecurityEvents, insertSecurityEvent, securityEventRecord, MAX_LIST_LIMIT, type SecurityEventRecord, type SecurityEventQuery } from "./security/store.ts";
export { formatSecurityEvents } from "./security/format.ts";
