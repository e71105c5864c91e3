import type { Sql } from "../../shared/db/connect.ts";
import { InvalidEventError, taskEvent, type TaskEvent } from "../events/schema.ts";
import type { TaskEventSink } from "../events/tasks.ts";

/** One relay publishes at a time, so a task's events reach the stream in the order they happened. */
const RELAY_LOCK = 7_414_302;

export interface RelayReport {
  published: number;
  /** Rows the stream had already taken (a publish repeated after a crash); marked sent all the same. */
  duplicates: number;
  /** Rows whose payload is not a valid event: marked refused with this error and skipped for good. */
  refused: { seq: number; task_id: string; error: string }[];
  /** Why the run stopped early (NATS away, stream missing); the rows from there on stay pending. */
  failure?: Error;
  /** Another relay held the lock; this run did nothing. */
  busy: boolean;
}

export interface RelayOptions {
  batchSize?: number;
  /** Pause between runs when the outbox is drained or a run failed. */
  intervalMs?: number;
  /** Sent rows are deleted once this old. */
  keepSentMs?: number;
  /** Called with each publish failure and each refused row while started. */
  onError?: (error: Error) => void;
}

interface OutboxRow {
  seq: string;
  task_id: string;
  payload: unknown;
}

/**
 * Publishes the task_events outbox (migrations/0006) to NATS. The store never waits for NATS: a
 * transition commits its event row, and this relay delivers it whenever NATS is reachable.
 * At-least-once: a crash after publishing and before marking republishes the row, and the message
 * id (`<task id>:<event>:<attempts>:<outbox seq>`, the same on every try) lets JetStream drop the copy.
 */
export class TaskEventRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;
  private lastPrune = 0;

  constructor(private readonly sql: Sql, private readonly sink: TaskEventSink, private readonly options: RelayOptions = {}) {}

  /** One pass over the oldest pending rows, in order, stopping at the first publish that fails. */
  async relayOnce(): Promise<RelayReport> {
    const batch = this.options.batchSize ?? 200;
    return this.sql.begin(async (tx) => {
      const report: RelayReport = { published: 0, duplicates: 0, refused: [], busy: false };
      const [lock] = await tx<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(${RELAY_LOCK}) AS locked`;
      if (!lock?.locked) return { ...report, busy: true };
      const rows = await tx<OutboxRow[]>`
        SELECT seq::text, task_id, payload FROM task_events
        WHERE published_at IS NULL AND refused_at IS NULL ORDER BY seq LIMIT ${batch}`;
      const sent: string[] = [];
      for (const row of rows) {
        const event = validate(row);
        if (event instanceof Error) {
          await tx`UPDATE task_events SET refused_at = now(), error = ${event.message} WHERE seq = ${row.seq}`;
          report.refused.push({ seq: Number(row.seq), task_id: row.task_id, error: event.message });
          continue;
        }
        try {
          const ack = await this.sink.publish(event, `${event.task_id}:${event.type}:${event.attempts}:${row.seq}`);
          if (ack.duplicate) report.duplicates++;
          else report.published++;
          sent.push(row.seq);
        } catch (error) {
          report.failure = new Error(`publishing task event #${row.seq} failed: ${(error as Error).message}`, { cause: error });
          break;
        }
      }
      // Marked together at the end: a crash before this commit leaves the batch pending, to be
      // republished and dropped as duplicates.
      if (sent.length) await tx`UPDATE task_events SET published_at = now() WHERE seq = ANY(${sent}::bigint[])`;
      return report;
    });
  }

  /** Deletes sent rows older than `keepSentMs` (a day by default); Postgres keeps the tasks, NATS the history. */
  async prune(): Promise<number> {
    const keep = this.options.keepSentMs ?? 24 * 3600 * 1000;
    const rows = await this.sql`DELETE FROM task_events WHERE published_at < now() - make_interval(secs => ${keep / 1000})`;
    return rows.count;
  }

  /** Relays in the background until `stop()`: right away while there is a backlog, else every `intervalMs`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().then((next) => this.schedule(next));
    }, delayMs);
  }

  private async tick(): Promise<number> {
    const interval = this.options.intervalMs ?? 500;
    const onError = this.options.onError ?? ((error: Error) => console.error(`task event relay: ${error.message}`));
    try {
      const report = await this.relayOnce();
      for (const r of report.refused) onError(new Error(r.error));
      if (report.failure) {
        onError(report.failure);
        return interval;
      }
      if (Date.now() - this.lastPrune > 60_000) {
        this.lastPrune = Date.now();
        await this.prune();
      }
      return report.published + report.duplicates + report.refused.length >= (this.options.batchSize ?? 200) ? 0 : interval;
    } catch (error) {
      onError(error as Error);
      return interval;
    }
  }
}

function validate(row: OutboxRow): TaskEvent | Error {
  const parsed = taskEvent.safeParse(row.payload);
  if (!parsed.success) return new Error(`task event #${row.seq} refused: ${new InvalidEventError("payload", parsed.error).message}`);
  if (parsed.data.task_id !== row.task_id) {
    return new Error(`task event #${row.seq} refused: payload is for ${parsed.data.task_id}, the row for ${row.task_id}`);
  }
  return parsed.data;
}
