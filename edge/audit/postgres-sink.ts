import type { Sql } from "../../shared/db/connect.ts";
import { AUDIT_COLUMNS, type AuditRecord, type AuditSink } from "./record.ts";

export interface BatchingOptions {
  /** Flush when this many records wait… */
  maxBatch?: number;
  /**
   * …or after this long, whichever comes first. Short, so each INSERT is small: Postgres shares
   * the gateway's cores, and at 1,000 requests/s a 100 ms batch was about 4.5 ms of its CPU in one
   * piece, which the requests running meanwhile waited through (docs/benchmarks.md, one-client tail).
   */
  maxDelayMs?: number;
  /** Records kept while Postgres is unreachable before the oldest are dropped (and counted). */
  maxBuffered?: number;
  onError?: (error: unknown) => void;
}

/**
 * Writes audit rows in batches off the request path (one multi-row INSERT per batch), so a
 * request never waits on the audit write. `close()` drains everything, which is how a normal
 * shutdown loses nothing. A failed batch is put back and retried on the next flush.
 *
 * Rows wait as their JSON text, serialised when recorded: a waiting record (request and
 * response bodies, messages, choices: dozens of small objects) lives through a young-generation
 * GC or two, and each of those copied every one of its objects, on the event loop, in the middle
 * of whatever request was running; one string is copied in one piece. The flush then only joins
 * them, instead of serialising the whole batch in one go.
 */
export class BatchingPostgresAudit implements AuditSink {
  private buffer: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly maxBuffered: number;
  dropped = 0;
  /** False from a failed write until the next one succeeds; hardcore mode stops serving meanwhile. */
  private writing = true;

  constructor(
    private readonly sql: Sql,
    private readonly options: BatchingOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 20;
    this.maxBuffered = options.maxBuffered ?? 100_000;
  }

  record(entry: AuditRecord): void {
    this.buffer.push(auditRowJson(entry));
    if (this.buffer.length > this.maxBuffered) {
      this.dropped += this.buffer.length - this.maxBuffered;
      this.buffer.splice(0, this.buffer.length - this.maxBuffered);
    }
    if (this.buffer.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.maxDelayMs);
  }

  /** Writes everything buffered so far; resolves when it is in Postgres (or has failed and been re-queued). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.inFlight.then(() => this.writeAll());
    this.inFlight = next.catch(() => {});
    return next;
  }

  healthy(): boolean {
    return this.writing;
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.buffer.length > 0) await this.flush();
  }

  private async writeAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.maxBatch);
      try {
        await insertAuditJson(this.sql, `[${batch.join(",")}]`);
        this.writing = true;
      } catch (error) {
        this.writing = false;
        this.buffer.unshift(...batch);
        this.options.onError?.(error);
        if (!this.timer) this.timer = setTimeout(() => void this.flush(), Math.max(this.maxDelayMs, 1000));
        throw error;
      }
    }
  }
}

/**
 * One multi-row INSERT whose rows travel as a single JSON parameter: building one parameter per
 * column of every row cost the gateway's event loop milliseconds per batch, which showed up in
 * the latency of whichever requests were waiting behind it.
 */
export async function insertAudit(sql: Sql, rows: AuditRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await insertAuditJson(sql, `[${rows.map(auditRowJson).join(",")}]`);
}

/** One record as json_populate_recordset reads it (columns by name; other keys are ignored). */
function auditRowJson(entry: AuditRecord): string {
  return JSON.stringify(entry);
}

async function insertAuditJson(sql: Sql, rowsJson: string): Promise<void> {
  const columns = sql.unsafe(AUDIT_COLUMNS.join(", "));
  await sql`
    INSERT INTO audit_log (${columns})
    SELECT ${columns} FROM json_populate_recordset(NULL::audit_log, ${rowsJson}::text::json)
    ON CONFLICT (id) DO NOTHING`;
}

/** For runtimes without a long-lived process (a Worker): write each record now, and let the caller wait. */
export class ImmediatePostgresAudit implements AuditSink {
  private pending = new Set<Promise<void>>();
  constructor(
    private readonly sql: Sql,
    private readonly track: (p: Promise<void>) => void = () => {},
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  private writing = true;

  healthy(): boolean {
    return this.writing;
  }

  record(entry: AuditRecord): void {
    const p = insertAudit(this.sql, [entry]).then(
      () => void (this.writing = true),
      (error) => {
        this.writing = false;
        this.onError(error);
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    this.track(p);
  }

  async flush(): Promise<void> {
    await Promise.all(this.pending);
  }

  close(): Promise<void> {
    return this.flush();
  }
}
