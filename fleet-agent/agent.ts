import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { Sql } from "../shared/db/connect.ts";
import { TaskStore } from "../workers/tasks/index.ts";
import type { AgentConfig } from "./config.ts";
import type { Executor } from "./executor.ts";
import { FleetUnavailableError } from "./errors.ts";
import { handleDelivery, type HandlerDeps } from "./handle.ts";
import { handleMaxDeliveries } from "./dead-letter.ts";
import { describeNode, type NodeInfo } from "./node-info.ts";
import { ADVISORY_CONSUMER, ADVISORY_STREAM, WORK_STREAM, nodeConsumer, nodeSubject, roleConsumer, roleSubject } from "./names.ts";
import { putNode } from "./registry/kv.ts";
import type { NodeRecord, NodeStatus } from "./registry/records.ts";
import { markLapsedDown, upsertNodeRow } from "./registry/table.ts";
import type { SecurityEventRecorder } from "./security/recorder.ts";
import { SlotPool } from "./slots.ts";
import { ensureAdvisoryConsumer, ensureFleetStreams, ensureWorkConsumer } from "./streams.ts";

export interface AgentDeps {
  config: AgentConfig;
  executor: Executor;
  sql: Sql;
  natsUrl: string;
  log?: (line: string) => void;
  onStarted?: HandlerDeps["onStarted"];
  /** Where the executor's sandbox security events go; the agent lends it its NATS connection to publish them. */
  securityEvents?: SecurityEventRecorder;
}

/** How long one pull waits for work before it is renewed (the client's minimum). */
const FETCH_EXPIRES_MS = 1_000;

/**
 * The per-node daemon (issue #7): registers the node, heartbeats, pulls work for its roles and
 * its own subject within its capacity, and on drain stops pulling and lets running work finish or
 * hands it back. Holds the connections and the running set, hence a class.
 */
export class FleetAgent {
  readonly worker: string;
  readonly info: NodeInfo;
  private readonly running = new Map<string, AbortController>();
  private readonly slots: SlotPool;
  private readonly stopPulling = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  private loops: Promise<void>[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private status: NodeStatus = "up";
  private readonly startedAt = new Date().toISOString();
  private readonly store: TaskStore;
  private readonly log: (line: string) => void;
  private stopped: Promise<void> | undefined;

  private constructor(private readonly deps: AgentDeps, private readonly nc: NatsConnection, private readonly js: JetStreamClient, private readonly jsm: JetStreamManager) {
    this.info = describeNode(deps.config);
    this.worker = `${deps.config.nodeId}/${randomUUID().slice(0, 8)}`;
    this.slots = new SlotPool(deps.config.capacity);
    this.store = new TaskStore(deps.sql);
    this.log = deps.log ?? ((line) => console.error(line));
  }

  static async start(deps: AgentDeps): Promise<FleetAgent> {
    let nc: NatsConnection;
    try {
      // Never give up reconnecting: a NATS restart must not end the agent.
      nc = await connect({ servers: deps.natsUrl, name: `godotz-fleet-agent ${deps.config.nodeId}`, timeout: 5_000, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (error) {
      throw new FleetUnavailableError(`cannot reach NATS at ${deps.natsUrl}: ${(error as Error).message}`, { cause: error });
    }
    const agent = new FleetAgent(deps, nc, jetstream(nc, { timeout: 5_000 }), await jetstreamManager(nc, { timeout: 5_000 }));
    deps.securityEvents?.attach(nc);
    try {
      await agent.boot();
    } catch (error) {
      deps.securityEvents?.attach(undefined);
      await nc.close().catch(() => {});
      throw error;
    }
    return agent;
  }

  private consumers(): { name: string; filter: string }[] {
    const c = this.deps.config;
    return [...c.roles.map((r) => ({ name: roleConsumer(r), filter: roleSubject(r) })), { name: nodeConsumer(c.nodeId), filter: nodeSubject(c.nodeId) }];
  }

  private async boot(): Promise<void> {
    const c = this.deps.config;
    await ensureFleetStreams(this.jsm);
    for (const consumer of this.consumers()) await ensureWorkConsumer(this.jsm, { ...consumer, ackWaitMs: c.ackWaitMs, maxDeliver: c.maxDeliver });
    await ensureAdvisoryConsumer(this.jsm);
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), c.heartbeatMs);
    const names = this.consumers().map((x) => x.name);
    this.loops = names.map((name) => this.pullWork(name, names));
    this.loops.push(this.pullAdvisories());
    this.log(`fleet-agent: node ${c.nodeId} up (${this.info.os}/${this.info.arch}, capacity ${c.capacity}, roles ${c.roles.join(",") || "-"}, capabilities ${this.info.capabilities.join(",") || "-"})`);
  }

  record(): NodeRecord {
    return {
      ...this.info,
      status: this.status,
      running_tasks: [...this.running.keys()].sort(),
      heartbeat_interval_ms: this.deps.config.heartbeatMs,
      started_at: this.startedAt,
      last_heartbeat: new Date().toISOString(),
    };
  }

  /** Registers / heartbeats into the KV bucket and fleet_nodes, and marks lapsed nodes down. Never throws: a beat missed is a beat missed. */
  private async beat(): Promise<void> {
    const r = this.record();
    await Promise.all([
      putNode(this.js, r).catch((error: unknown) => this.log(`fleet-agent: heartbeat to NATS failed: ${(error as Error).message}`)),
      upsertNodeRow(this.deps.sql, r)
        .then(() => markLapsedDown(this.deps.sql))
        .then((down) => down.forEach((id) => this.log(`fleet-agent: node ${id} missed its heartbeats: marked down`)))
        .catch((error: unknown) => this.log(`fleet-agent: heartbeat to Postgres failed: ${(error as Error).message}`)),
    ]);
  }

  private handlerDeps(): HandlerDeps {
    return {
      js: this.js, store: this.store, executor: this.deps.executor, config: this.deps.config, traits: this.info, worker: this.worker,
      running: this.running, isDraining: () => this.status !== "up", log: this.log, onStarted: this.deps.onStarted,
    };
  }

  /** One consumer's pull loop: asks for as many messages as it holds slots, starts each as it arrives. */
  private async pullWork(name: string, loops: string[]): Promise<void> {
    const stop = this.stopPulling.signal;
    const handlerDeps = this.handlerDeps();
    let consumer: Consumer | undefined;
    while (!stop.aborted) {
      const slots = await this.slots.reserve(name, loops, this.deps.config.capacity, stop);
      if (!slots) continue;
      try {
        consumer ??= await this.js.consumers.get(WORK_STREAM, name);
        const messages = await consumer.fetch({ max_messages: slots, expires: FETCH_EXPIRES_MS });
        for await (const msg of messages) {
          if (stop.aborted) {
            msg.nak(); // drained: hand it straight back
            continue;
          }
          this.slots.start(name);
          this.track(handleDelivery(msg, handlerDeps).catch((error: unknown) => {
            this.log(`fleet-agent: ${name} message ${msg.seq}: ${(error as Error).message} (JetStream will redeliver it)`);
          }).finally(() => this.slots.finish()));
        }
      } catch (error) {
        if (!stop.aborted) {
          this.log(`fleet-agent: pulling ${name}: ${(error as Error).message}; retrying`);
          await sleep(500);
        }
      } finally {
        this.slots.release(name);
      }
    }
  }

  /** Dead letters: every agent reads the shared advisory consumer, so one live agent is enough. */
  private async pullAdvisories(): Promise<void> {
    const stop = this.stopPulling.signal;
    const deps = { js: this.js, jsm: this.jsm, store: this.store, node: this.deps.config.nodeId, worker: `${this.worker}/dead-letter`, log: this.log };
    let consumer: Consumer | undefined;
    while (!stop.aborted) {
      try {
        consumer ??= await this.js.consumers.get(ADVISORY_STREAM, ADVISORY_CONSUMER);
        const messages = await consumer.fetch({ max_messages: 10, expires: FETCH_EXPIRES_MS });
        for await (const msg of messages) await this.onAdvisory(msg, deps);
      } catch (error) {
        if (!stop.aborted) {
          this.log(`fleet-agent: pulling advisories: ${(error as Error).message}; retrying`);
          await sleep(500);
        }
      }
    }
  }

  private async onAdvisory(msg: JsMsg, deps: Parameters<typeof handleMaxDeliveries>[1]): Promise<void> {
    await handleMaxDeliveries(msg, deps).catch((error: unknown) => {
      this.log(`fleet-agent: dead-letter handling failed: ${(error as Error).message}; it will be retried`);
      msg.nak(2_000);
    });
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  get runningTasks(): string[] {
    return [...this.running.keys()];
  }

  /**
   * SIGTERM: no new work; running work gets `drainTimeoutMs` to finish, then is handed back
   * (its claim released, its message returned for another node). Idempotent.
   */
  drain(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.status = "draining";
    this.stopPulling.abort();
    await this.beat();
    await Promise.all(this.loops);
    const deadline = sleep(this.deps.config.drainTimeoutMs, "timeout" as const, { ref: false });
    const finished = Promise.all([...this.inflight]).then(() => "done" as const);
    if ((await Promise.race([finished, deadline])) === "timeout") {
      this.log(`fleet-agent: drain timed out; handing back ${[...this.running.keys()].join(", ")}`);
      for (const controller of this.running.values()) controller.abort();
      await Promise.all([...this.inflight]);
    }
    clearInterval(this.heartbeat);
    this.status = "stopped";
    await this.beat();
    // Events of the last runs are stored and published before the connection goes.
    await this.deps.securityEvents?.flush();
    this.deps.securityEvents?.attach(undefined);
    await this.nc.flush().catch(() => {});
    await this.nc.close().catch(() => {});
    await this.deps.executor.close().catch(() => {});
    this.log(`fleet-agent: node ${this.deps.config.nodeId} stopped`);
  }
}
