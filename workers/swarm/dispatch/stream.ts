import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { EventStreamSpec } from "../../events/stream.ts";

const DAY = 24 * 3600 * 1000;

/**
 * Run requests: `godotz.runs.<swarm>.requested`, a work queue: each request is held until one
 * worker acknowledges it, then deleted. Kept at most a week (Postgres still has the queued run, for
 * `godotz` to find). The duplicate window is an hour: a relay that crashed between publishing and
 * marking its row, and restarts within the hour, republishes a copy the stream drops. Beyond that a
 * second copy is possible, which is why a worker claims a run (queued → running) before executing it.
 */
export const RUN_REQUEST_STREAM: EventStreamSpec = {
  name: "GODOTZ_RUNS",
  subjectPrefix: "godotz.runs",
  maxAgeMs: 7 * DAY,
  maxBytes: 1024 ** 3,
  duplicateWindowMs: 3600 * 1000,
};

function workQueueConfig(spec: EventStreamSpec) {
  return {
    name: spec.name,
    subjects: [`${spec.subjectPrefix}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes,
    duplicate_window: nanos(spec.duplicateWindowMs),
    num_replicas: 1,
  } satisfies Partial<StreamConfig>;
}

const COMPARED = ["subjects", "discard", "max_age", "max_bytes", "duplicate_window"] as const;

/**
 * Creates the work-queue stream, or brings its limits back to the spec; safe from every worker at
 * start. (workers/events/stream.ts ensures limits-retention streams the same way; JetStream cannot
 * turn one kind into the other, so a stream of the name with another retention is an error.)
 */
export async function ensureRunStream(jsm: JetStreamManager, spec: EventStreamSpec = RUN_REQUEST_STREAM): Promise<"created" | "updated" | "unchanged"> {
  const wanted = workQueueConfig(spec);
  let current = await jsm.streams.info(spec.name).catch((error: unknown) => {
    if ((error as { code?: number }).code === 10059) return undefined; // stream not found
    throw error;
  });
  if (!current) {
    try {
      await jsm.streams.add(wanted);
      return "created";
    } catch (error) {
      // Another worker created it between our look and our add.
      current = await jsm.streams.info(spec.name).catch(() => undefined);
      if (!current) throw error;
    }
  }
  if (current.config.retention !== RetentionPolicy.Workqueue) {
    throw new Error(`stream ${spec.name} exists with ${current.config.retention} retention; run requests need a work queue (delete the stream to recreate it)`);
  }
  if (COMPARED.every((key) => JSON.stringify(current.config[key]) === JSON.stringify(wanted[key]))) return "unchanged";
  await jsm.streams.update(spec.name, wanted);
  return "updated";
}
