// The task DAG's public surface: the store, its input schemas and types, its errors, the schedule,
// and the relay that publishes its lifecycle events (written by every transition, migrations/0006).
export { TaskStore } from "./store.ts";
export { claimedTaskStatements } from "./claimed.ts";
export { TaskEventRelay, type RelayReport, type RelayOptions } from "./relay.ts";
export type { TaskDetails, LinkedTask } from "./records.ts";
export type { RunOutcome } from "./queue.ts";
export type { Timeline, TimelineSelection } from "./timeline.ts";
export * from "./schedule.ts";
export * from "./schema.ts";
export * from "./errors.ts";
