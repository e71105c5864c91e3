import type { Sql } from "../../shared/db/connect.ts";
import { OutboxRelay, type OutboxRelayOptions, type OutboxReport } from "../events/outbox-relay.ts";
import { taskEvent, type TaskEvent } from "../events/schema.ts";
import type { TaskEventSink } from "../events/tasks.ts";

/** One relay publishes at a time, so a task's events reach the stream in the order they happened. */
const RELAY_LOCK = 7_414_302;

export interface RelayReport extends Omit<OutboxReport, "refused"> {
  /** Rows whose payload is not a valid event: marked refused with this error and skipped for good. */
  refused: { seq: number; task_id: string; error: string }[];
}

export type RelayOptions = OutboxRelayOptions;

/**
 * Publishes the task_events outbox (migrations/0006) to NATS through the generic OutboxRelay
 * (workers/events/outbox-relay.ts). The store never waits for NATS: a transition commits its event
 * row, and this relay delivers it whenever NATS is reachable. The message id
 * (`<task id>:<event>:<attempts>:<outbox seq>`, the same on every try) lets JetStream drop a copy
 * republished after a crash.
 */
export class TaskEventRelay {
  private readonly relay: OutboxRelay<TaskEvent>;

  constructor(sql: Sql, sink: TaskEventSink, options: RelayOptions = {}) {
    this.relay = new OutboxRelay(sql, {
      table: "task_events",
      keyColumn: "task_id",
      what: "task event",
      lock: RELAY_LOCK,
      schema: taskEvent,
      keyOf: (event) => event.task_id,
      msgID: (event, seq) => `${event.task_id}:${event.type}:${event.attempts}:${seq}`,
      publish: (event, msgID) => sink.publish(event, msgID),
    }, options);
  }

  /** One pass over the oldest pending rows, in order, stopping at the first publish that fails. */
  async relayOnce(): Promise<RelayReport> {
    const report = await this.relay.relayOnce();
    return { ...report, refused: report.refused.map(({ seq, key, error }) => ({ seq, task_id: key, error })) };
  }

  /** Deletes sent rows older than `keepSentMs` (a day by default); Postgres keeps the tasks, NATS the history. */
  prune = (): Promise<number> => this.relay.prune();

  /** Relays in the background until `stop()`: right away while there is a backlog, else every `intervalMs`. */
  start = (): void => this.relay.start();

  stop = (): Promise<void> => this.relay.stop();
}
