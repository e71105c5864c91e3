import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";

/** The JetStream stream an event family lives in, and the limits that bound it. */
export interface EventStreamSpec {
  name: string;
  /** Every subject of the stream starts with this; the stream takes `<prefix>.>`. */
  subjectPrefix: string;
  maxAgeMs: number;
  maxBytes: number;
  /**
   * How long JetStream remembers message ids. A relay that crashed after publishing and before
   * recording it republishes on restart; within this window the copy is dropped, after it the
   * stream would hold the event twice (at-least-once, as documented).
   */
  duplicateWindowMs: number;
  /**
   * A work queue (each message held until one consumer acknowledges it, then deleted) instead of
   * the default limits retention (kept for every reader until it ages out).
   */
  workQueue?: boolean;
}

const DAY = 24 * 3600 * 1000;

/**
 * Task lifecycle events: `godotz.tasks.<swarm or _>.<task id>.<event>`. Kept a week or up to 1 GiB,
 * whichever comes first, oldest dropped first: enough for `events tail` and for consumers that were
 * down for a while, while Postgres stays the record of every task. The swarm runtime's run/step
 * events get their own family beside it (`godotz.events.>`).
 */
export const TASK_EVENT_STREAM: EventStreamSpec = {
  name: "GODOTZ_TASKS",
  subjectPrefix: "godotz.tasks",
  maxAgeMs: 7 * DAY,
  maxBytes: 1024 ** 3,
  duplicateWindowMs: 10 * 60 * 1000,
};

/**
 * Swarm run and step events: `godotz.events.<swarm>.<run>.<step>` (workers/events/runs.ts). Kept
 * like task events: a week or 1 GiB, for `godotz events tail` and consumers catching up.
 */
export const RUN_EVENT_STREAM: EventStreamSpec = {
  name: "GODOTZ_EVENTS",
  subjectPrefix: "godotz.events",
  maxAgeMs: 7 * DAY,
  maxBytes: 1024 ** 3,
  duplicateWindowMs: 10 * 60 * 1000,
};

function streamConfig(spec: EventStreamSpec) {
  return {
    name: spec.name,
    subjects: [`${spec.subjectPrefix}.>`],
    retention: spec.workQueue ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes,
    duplicate_window: nanos(spec.duplicateWindowMs),
    num_replicas: 1,
  } satisfies Partial<StreamConfig>;
}

/** The fields we set and the server may differ on (storage cannot change after creation, so it is left out). */
const COMPARED = ["subjects", "retention", "discard", "max_age", "max_bytes", "duplicate_window"] as const;

function differs(actual: StreamConfig, wanted: ReturnType<typeof streamConfig>): boolean {
  return COMPARED.some((key) => JSON.stringify(actual[key]) !== JSON.stringify(wanted[key]));
}

/**
 * Creates the stream, or brings its limits to the spec; safe to call from every process at start.
 * JetStream cannot turn a limits stream into a work queue or back, so a stream of the name with the
 * other retention is an error that says so.
 */
export async function ensureStream(jsm: JetStreamManager, spec: EventStreamSpec): Promise<"created" | "updated" | "unchanged"> {
  const wanted = streamConfig(spec);
  const current = await jsm.streams.info(spec.name).catch((error: unknown) => {
    if ((error as { code?: number }).code === 10059) return undefined; // stream not found
    throw error;
  });
  if (current && current.config.retention !== wanted.retention) {
    throw new Error(`stream ${spec.name} exists with ${current.config.retention} retention, not ${wanted.retention} (delete the stream to recreate it)`);
  }
  if (!current) {
    try {
      await jsm.streams.add(wanted);
      return "created";
    } catch (error) {
      // Another process created it between our look and our add: fall through and compare.
      const raced = await jsm.streams.info(spec.name).catch(() => undefined);
      if (!raced) throw error;
      if (!differs(raced.config, wanted)) return "unchanged";
    }
  } else if (!differs(current.config, wanted)) {
    return "unchanged";
  }
  await jsm.streams.update(spec.name, wanted);
  return "updated";
}
