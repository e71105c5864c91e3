import type postgres from "postgres";
import type { Sql } from "../../../shared/db/connect.ts";
import type { EventBus } from "../../events/bus.ts";
import { OutboxRelay, type OutboxRelayOptions, type OutboxReport } from "../../events/outbox-relay.ts";
import { runEvent, runEventSink, type RunEvent, type RunEventSink } from "../../events/runs.ts";
import { RUN_EVENT_STREAM, type EventStreamSpec } from "../../events/stream.ts";

/** Writes a run or step event to the run_events outbox (migrations/0008); RunEventRelay publishes it. */
export async function recordRunEvent(sql: Sql | postgres.TransactionSql, event: Omit<RunEvent, "at">): Promise<void> {
  await recordRunEvents(sql, [event]);
}

/** Several events in one statement, in order (one round trip on a step's hot path). */
export async function recordRunEvents(sql: Sql | postgres.TransactionSql, events: Omit<RunEvent, "at">[]): Promise<void> {
  if (events.length) await insertRunEvents(sql, events);
}

/** The INSERT of one or more events, in order: built but not sent, for a caller that sends it with other statements. */
export function insertRunEvents(sql: Sql | postgres.TransactionSql, events: Omit<RunEvent, "at">[]) {
  const rows = events.map((event) => ({ run_id: event.run_id, payload: sql.json(runEventPayload(event)) }));
  return sql`INSERT INTO run_events ${sql(rows, "run_id", "payload")}`;
}

/**
 * The INSERT of events, in order, written only if `when` (a SQL condition) holds when it runs:
 * built but not sent, for a caller that sends it with other statements of its transaction or
 * nests it in its own statement.
 */
export function insertRunEventsWhen(sql: Sql, events: Omit<RunEvent, "at">[], when: postgres.PendingQuery<postgres.Row[]>) {
  const runIds = events.map((event) => event.run_id);
  const payloads = events.map((event) => JSON.stringify(runEventPayload(event)));
  return sql`
    INSERT INTO run_events (run_id, payload)
    SELECT e.run_id, e.payload::jsonb FROM unnest(${runIds}::text[], ${payloads}::text[]) WITH ORDINALITY AS e(run_id, payload, n)
    WHERE ${when} ORDER BY e.n`;
}

/** An event as the outbox stores it, stamped now; throws if it breaks the schema. */
export function runEventPayload(event: Omit<RunEvent, "at">): postgres.JSONValue {
  const at = new Date().toISOString();
  return runEvent.parse({ ...event, ...(event.error ? { error: event.error.slice(0, 2000) } : {}), at }) as unknown as postgres.JSONValue;
}

const RELAY_LOCK = 7_414_304;

/**
 * Publishes run_events to GODOTZ_EVENTS through the generic OutboxRelay. The message id
 * (`<run>:<step or run>:<type>:<outbox seq>`) is the same on every try, so a row republished
 * after a crash is dropped by the stream's duplicate window.
 */
export class RunEventRelay {
  private readonly relay: OutboxRelay<RunEvent>;

  constructor(sql: Sql, target: EventBus | RunEventSink, options: OutboxRelayOptions & { stream?: EventStreamSpec } = {}) {
    const sink = "publish" in target && !("nc" in target) ? target : runEventSink(target as EventBus, options.stream ?? RUN_EVENT_STREAM);
    this.relay = new OutboxRelay(sql, {
      table: "run_events",
      keyColumn: "run_id",
      what: "run event",
      lock: RELAY_LOCK,
      schema: runEvent,
      keyOf: (event) => event.run_id,
      msgID: (event, seq) => `${event.run_id}:${event.step ?? "run"}:${event.type}:${seq}`,
      publish: (event, msgID) => sink.publish(event, msgID),
    }, options);
  }

  relayOnce = (): Promise<OutboxReport> => this.relay.relayOnce();
  start = (): void => this.relay.start();
  stop = (): Promise<void> => this.relay.stop();
}
