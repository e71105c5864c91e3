// Lifecycle events on NATS JetStream: the connection, the streams and their limits, the event schemas.
export { EventBus, DEFAULT_NATS_URL, natsUrlFrom, type Received, type ConsumeOptions } from "./bus.ts";
export { ensureStream, TASK_EVENT_STREAM, RUN_EVENT_STREAM, type EventStreamSpec } from "./stream.ts";
export { runEvent, runEventSink, runEventSubject, runEventFilter, RUN_EVENT_TYPES, stepPath, type RunEvent, type RunEventType, type RunEventSink } from "./runs.ts";
export { taskEventSink, type TaskEventSink } from "./tasks.ts";
export * from "./schema.ts";
