import type { z } from "zod";
import type { Sql } from "../../shared/db/connect.ts";
import { InvalidEventError } from "./schema.ts";

/**
 * An outbox table: rows written in the transaction of the change they announce, published to
 * NATS by an OutboxRelay. Every such table has the columns of migrations/0006 (task_events):
 * `seq` (identity, publish order), a key column naming what the row is about, `payload` jsonb,
 * `published_at`, `refused_at`, `error`.
 */
export interface OutboxSpec<T> {
  /** The table; a fixed name from code, never user input. */
  table: string;
  /** The column that says what a row is about (task_id, run_id); its payload must agree. */
  keyColumn: string;
  /** What one row is, for messages: "task event", "run request". */
  what: string;
  /** Advisory lock: one relay per outbox publishes at a time, so rows reach the stream in order. */
  lock: number;
  schema: z.ZodType<T>;
  /** The key the payload names, compared with the row's key column. */
  keyOf(item: T): string;
  /** The message id, the same on every try, so JetStream drops a republished row within its window. */
  msgID(item: T, seq: string): string;
  /** Publishes one item and waits for the stream's ack. */
  publish(item: T, msgID: string): Promise<{ duplicate: boolean }>;
}

export interface OutboxReport {
  published: number;
  /** Rows the stream had already taken (a publish repeated after a crash); marked sent all the same. */
  duplicates: number;
  /** Rows whose payload is not valid: marked refused with this error and skipped for good. */
  refused: { seq: number; key: string; error: string }[];
  /** Why the run stopped early (NATS away, stream missing); the rows from there on stay pending. */
  failure?: Error;
  /** Another relay held the lock; this run did nothing. */
  busy: boolean;
}

export interface OutboxRelayOptions {
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
  key: string;
  payload: unknown;
}

/**
 * Publishes an outbox table to NATS. The writer never waits for NATS: it commits its row, and this
 * relay delivers it whenever NATS is reachable. At-least-once: a crash after publishing and before
 * marking republishes the row under the same message id, and JetStream drops the copy.
 */
export class OutboxRelay<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;
  private lastPrune = 0;

  constructor(private readonly sql: Sql, private readonly spec: OutboxSpec<T>, private readonly options: OutboxRelayOptions = {}) {}

  /** One pass over the oldest pending rows, in order, stopping at the first publish that fails. */
  async relayOnce(): Promise<OutboxReport> {
    const { table, keyColumn, what } = this.spec;
    const batch = this.options.batchSize ?? 200;
    return this.sql.begin(async (tx) => {
      const report: OutboxReport = { published: 0, duplicates: 0, refused: [], busy: false };
      const [lock] = await tx<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(${this.spec.lock}) AS locked`;
      if (!lock?.locked) return { ...report, busy: true };
      const rows = await tx<OutboxRow[]>`
        SELECT seq::text, ${tx(keyColumn)} AS key, payload FROM ${tx(table)}
        WHERE published_at IS NULL AND refused_at IS NULL ORDER BY seq LIMIT ${batch}`;
      const sent: string[] = [];
      for (const row of rows) {
        const item = this.validate(row);
        if (item instanceof Error) {
          await tx`UPDATE ${tx(table)} SET refused_at = now(), error = ${item.message} WHERE seq = ${row.seq}`;
          report.refused.push({ seq: Number(row.seq), key: row.key, error: item.message });
          continue;
        }
        try {
          const ack = await this.spec.publish(item, this.spec.msgID(item, row.seq));
          if (ack.duplicate) report.duplicates++;
          else report.published++;
          sent.push(row.seq);
        } catch (error) {
          report.failure = new Error(`publishing ${what} #${row.seq} failed: ${(error as Error).message}`, { cause: error });
          break;
        }
      }
      // Marked together at the end: a crash before this commit leaves the batch pending, to be
      // republished and dropped as duplicates.
      if (sent.length) await tx`UPDATE ${tx(table)} SET published_at = now() WHERE seq = ANY(${sent}::bigint[])`;
      return report;
    });
  }

  /** Deletes sent rows older than `keepSentMs` (a day by default). */
  async prune(): Promise<number> {
    const keep = this.options.keepSentMs ?? 24 * 3600 * 1000;
    const rows = await this.sql`DELETE FROM ${this.sql(this.spec.table)} WHERE published_at < now() - make_interval(secs => ${keep / 1000})`;
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
    const onError = this.options.onError ?? ((error: Error) => console.error(`${this.spec.what} relay: ${error.message}`));
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

  private validate(row: OutboxRow): T | Error {
    const { what, schema } = this.spec;
    const parsed = schema.safeParse(row.payload);
    if (!parsed.success) return new Error(`${what} #${row.seq} refused: ${new InvalidEventError("payload", parsed.error).message}`);
    const key = this.spec.keyOf(parsed.data);
    if (key !== row.key) return new Error(`${what} #${row.seq} refused: payload is for ${key}, the row for ${row.key}`);
    return parsed.data;
  }
}
