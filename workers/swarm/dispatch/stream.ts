import type { JetStreamManager } from "@nats-io/jetstream";
import { ensureStream, type EventStreamSpec } from "../../events/stream.ts";

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
  workQueue: true,
};

/** Creates the work-queue stream, or brings its limits back to the spec; safe from every worker at start. */
export function ensureRunStream(jsm: JetStreamManager, spec: EventStreamSpec = RUN_REQUEST_STREAM): Promise<"created" | "updated" | "unchanged"> {
  return ensureStream(jsm, spec);
}
