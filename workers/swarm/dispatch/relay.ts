import type { Sql } from "../../../shared/db/connect.ts";
import { EventBus } from "../../events/bus.ts";
import { OutboxRelay, type OutboxRelayOptions, type OutboxReport } from "../../events/outbox-relay.ts";
import { parseEvent } from "../../events/schema.ts";
import type { EventStreamSpec } from "../../events/stream.ts";
import { runRequest, runRequestSubject, type RunRequest } from "./schema.ts";
import { RUN_REQUEST_STREAM } from "./stream.ts";

/** Where run requests go; the relay depends on this, not on NATS, so a test can stand in for the stream. */
export interface RunRequestSink {
  publish(request: RunRequest, msgID: string): Promise<{ duplicate: boolean }>;
}

/** Publishes run requests into the work-queue stream `spec` describes, each checked against the schema first. */
export function runRequestSink(bus: EventBus, spec: EventStreamSpec = RUN_REQUEST_STREAM): RunRequestSink {
  return {
    async publish(request, msgID) {
      const valid = parseEvent(runRequest, request, `run request ${msgID}`);
      return bus.publish(runRequestSubject(spec.subjectPrefix, valid.swarm), valid, msgID);
    },
  };
}

export interface RunRequestRelayOptions extends OutboxRelayOptions {
  /** The stream to publish into when given a bus (default GODOTZ_RUNS); tests use their own. */
  stream?: EventStreamSpec;
}

const RELAY_LOCK = 7_414_303;

/**
 * Publishes the swarm_run_requests outbox (migrations/0009) to GODOTZ_RUNS. The message id is the
 * run id, so a request republished after a crash is dropped by the stream's duplicate window.
 * Started by every worker process; the advisory lock lets one publish at a time.
 */
export class RunRequestRelay {
  private readonly relay: OutboxRelay<RunRequest>;

  constructor(sql: Sql, target: EventBus | RunRequestSink, options: RunRequestRelayOptions = {}) {
    const sink = target instanceof EventBus ? runRequestSink(target, options.stream) : target;
    this.relay = new OutboxRelay(sql, {
      table: "swarm_run_requests",
      keyColumn: "run_id",
      what: "run request",
      lock: RELAY_LOCK,
      schema: runRequest,
      keyOf: (request) => request.run_id,
      msgID: (request) => request.run_id,
      publish: (request, msgID) => sink.publish(request, msgID),
    }, options);
  }

  relayOnce = (): Promise<OutboxReport> => this.relay.relayOnce();
  prune = (): Promise<number> => this.relay.prune();
  start = (): void => this.relay.start();
  stop = (): Promise<void> => this.relay.stop();
}
