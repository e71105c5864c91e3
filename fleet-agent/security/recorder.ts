import type { NatsConnection } from "@nats-io/transport-node";
import pRetry from "p-retry";
import type { Sql } from "../../shared/db/connect.ts";
import { securitySubject } from "../names.ts";
import { insertSecurityEvent, type SecurityEventRecord } from "./store.ts";

/** A sandbox security event with the task whose run made it (null when that cannot be told). */
export interface AttributedSecurityEvent {
  at: string;
  kind: SecurityEventRecord["kind"];
  detail: string;
  command: string;
  workDir: string;
  taskId: string | null;
}

export type SecurityEventSink = (event: AttributedSecurityEvent) => void;

/**
 * Keeps every sandbox security event of this node: a row in security_events (the record, retried
 * across a database blip) and a core NATS publish on godotz.security.<node> (best effort: NATS
 * being down loses the message, never the row). Never throws into the sandbox: a failure is logged.
 * Holds the NATS connection once the agent has one and the writes in flight, hence a class.
 */
export class SecurityEventRecorder {
  private nc: NatsConnection | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly deps: { sql: Sql; nodeId: string; log: (line: string) => void }) {}

  /** The agent's connection, once it has one; events before that are stored but not published. */
  attach(nc: NatsConnection | undefined): void {
    this.nc = nc;
  }

  /** The callback the sandbox executor is given. */
  readonly sink: SecurityEventSink = (event) => {
    const p = this.keep(event);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  };

  /** Resolves when every event received so far is stored (or its failure logged) and published. */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private async keep(e: AttributedSecurityEvent): Promise<void> {
    const row: Omit<SecurityEventRecord, "id"> = {
      at: e.at, node_id: this.deps.nodeId, task_id: e.taskId, kind: e.kind, detail: e.detail, command: e.command, work_dir: e.workDir,
    };
    this.deps.log(`fleet-agent: security event${e.taskId ? ` in ${e.taskId}` : ""}: ${e.kind}: ${e.detail}`);
    const id = await pRetry(() => insertSecurityEvent(this.deps.sql, row), { retries: 3, minTimeout: 200 }).catch((error: unknown) => {
      this.deps.log(`fleet-agent: could not record a security event (${JSON.stringify(row)}): ${(error as Error).message}`);
      return null;
    });
    try {
      if (this.nc && !this.nc.isClosed()) this.nc.publish(securitySubject(this.deps.nodeId), JSON.stringify({ id, ...row } satisfies SecurityEventRecord));
    } catch (error) {
      this.deps.log(`fleet-agent: could not publish a security event on NATS: ${(error as Error).message}`);
    }
  }
}
