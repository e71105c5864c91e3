import type { EventBus } from "./bus.ts";
import type { EventStreamSpec } from "./stream.ts";
import { parseEvent, taskEvent, taskEventSubject, type TaskEvent } from "./schema.ts";

/** Where task events go; the relay of workers/tasks depends on this, not on NATS. */
export interface TaskEventSink {
  publish(event: TaskEvent, msgID: string): Promise<{ duplicate: boolean }>;
}

/** Publishes task events into the stream `spec` describes, each checked against the schema first. */
export function taskEventSink(bus: EventBus, spec: EventStreamSpec): TaskEventSink {
  return {
    async publish(event, msgID) {
      const valid = parseEvent(taskEvent, event, `task event ${msgID}`);
      return bus.publish(taskEventSubject(spec.subjectPrefix, valid), valid, msgID);
    },
  };
}
