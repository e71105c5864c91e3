import { createRequire } from "node:module";
import proto from "@temporalio/proto";
import { patchProtobufRoot } from "@temporalio/proto/lib/patch-protobuf-root";

/**
 * History JSON (as `temporal workflow show --output json` prints it) to and from the History
 * protobuf. @temporalio/common's historyFromJSON/historyToJSON do the same, but in this install
 * @temporalio/common and @temporalio/proto each carry their own copy of protobufjs, and the
 * protojson of one rejects the types of the other ("type must be a Type"); so the conversion
 * here uses the copy the message types were built with. Behaviour otherwise matches the SDK's,
 * including its tolerance of older CLI output (PascalCase enum names) and unknown fields.
 */

type History = proto.temporal.api.history.v1.IHistory;

const requireFromProto = createRequire(createRequire(import.meta.url).resolve("@temporalio/proto"));
const { fromJson, toJson } = requireFromProto("protobufjs/ext/protojson") as {
  fromJson(type: unknown, json: unknown, options?: object): unknown;
  toJson(type: unknown, message: unknown): unknown;
};
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType("temporal.api.history.v1.History");

function constantCase(value: string, prefix: string): string {
  if (value.startsWith(prefix)) return value;
  return `${prefix}_${value.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`;
}

/** Older CLIs wrote enums as "WorkflowExecutionStarted"; protojson wants "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED". */
function normaliseEvent(event: Record<string, unknown>): Record<string, unknown> {
  const attributesKey = Object.keys(event).find((k) => k.endsWith("EventAttributes"));
  if (!attributesKey) throw new TypeError(`history event ${String(event.eventId)} has no *EventAttributes`);
  const attributes = { ...(event[attributesKey] as Record<string, unknown>) };
  const fix = (key: string, prefix: string) => {
    if (typeof attributes[key] === "string") attributes[key] = constantCase(attributes[key] as string, prefix);
  };
  fix("parentClosePolicy", "PARENT_CLOSE_POLICY");
  fix("workflowIdReusePolicy", "WORKFLOW_ID_REUSE_POLICY");
  fix("initiator", "CONTINUE_AS_NEW_INITIATOR");
  fix("retryState", "RETRY_STATE");
  const taskQueue = attributes.taskQueue as Record<string, unknown> | undefined;
  if (taskQueue && typeof taskQueue.kind === "string") attributes.taskQueue = { ...taskQueue, kind: constantCase(taskQueue.kind, "TASK_QUEUE_KIND") };
  const eventType = typeof event.eventType === "string" ? constantCase(event.eventType, "EVENT_TYPE") : event.eventType;
  return { ...event, eventType, [attributesKey]: attributes };
}

export function historyFromJson(json: unknown): History {
  const events = (json as { events?: unknown })?.events;
  if (!Array.isArray(events) || events.length === 0) throw new TypeError("a history is an object with a non-empty `events` array");
  const history = fromJson(historyType, { events: events.map((e) => normaliseEvent(e as Record<string, unknown>)) }, { ignoreUnknownFields: true });
  if (!history) throw new TypeError("not a Temporal history");
  return history as History;
}

export function historyToJson(history: History): string {
  return JSON.stringify(toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
}
