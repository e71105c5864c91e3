import { hostname } from "node:os";
import type { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import type { Sql } from "../../shared/db/connect.ts";
import type { EventBus } from "../events/bus.ts";
import { RUN_EVENT_STREAM, TASK_EVENT_STREAM, type EventStreamSpec } from "../events/stream.ts";
import { taskEventSink } from "../events/tasks.ts";
import { TaskEventRelay } from "../tasks/relay.ts";
import { consumeRunRequests, RUN_REQUEST_STREAM, RunRequestRelay, type ConsumeSummary } from "./dispatch/index.ts";
import { abandonedRuns } from "./runs/store.ts";
import { openCheckpointer } from "./runtime/checkpointer.ts";
import { RunEventRelay } from "./runtime/events.ts";
import { executeRun, type RunOutcome } from "./runtime/executor.ts";
import type { GatewayTarget } from "./runtime/gateway.ts";
import { startRecordedRun } from "../temporal/start-run.ts";
import type { SwarmClient } from "../temporal/client.ts";

export interface RunWorkerOptions {
  sql: Sql;
  /** For LangGraph's checkpointer, which keeps its own pool. */
  databaseUrl: string;
  bus: EventBus;
  gateway: GatewayTarget;
  /** This process's name on the runs it holds (default host-pid-random). */
  name?: string;
  /** Run lease (default 30 s): how soon another worker resumes a run whose worker died. */
  leaseMs?: number;
  /** The durable consumer shared by the pool (default "godotz-workers"). */
  durable?: string;
  /** Runs executed at once by this process (default 2). */
  concurrency?: number;
  /** How long JetStream waits for this worker's ack before handing a request to another (default 30 s). */
  ackWaitMs?: number;
  log?: (line: string) => void;
  /** The streams used; `namespacedStreams` gives a separate set (tests, two installs on one NATS). */
  streams?: WorkerStreams;
  /** With TEMPORAL_ADDRESS set: run requests are started as Temporal workflows instead of executed here. */
  temporal?: SwarmClient;
}

export interface WorkerStreams {
  runs: EventStreamSpec;
  events: EventStreamSpec;
  tasks: EventStreamSpec;
}

export const DEFAULT_STREAMS: WorkerStreams = { runs: RUN_REQUEST_STREAM, events: RUN_EVENT_STREAM, tasks: TASK_EVENT_STREAM };

/** The worker's streams under their own names and subjects: `<NAME>_<NS>` on `<ns>.<subjects>`. */
export function namespacedStreams(namespace: string): WorkerStreams {
  if (!/^[a-z0-9_-]{1,32}$/i.test(namespace)) throw new Error("a stream namespace is 1-32 letters, digits, - or _");
  const one = (spec: EventStreamSpec): EventStreamSpec => ({ ...spec, name: `${spec.name}_${namespace.toUpperCase()}`, subjectPrefix: `${namespace}.${spec.subjectPrefix}` });
  return { runs: one(RUN_REQUEST_STREAM), events: one(RUN_EVENT_STREAM), tasks: one(TASK_EVENT_STREAM) };
}

/**
 * A long-running worker process: takes run requests from the GODOTZ_RUNS work queue and executes
 * them, resumes runs whose worker died (lease ran out), and runs the outbox relays that publish
 * run requests, run/step events and task events. `stop()` drains: no new runs are taken, runs in
 * progress stop at their next step boundary and are released for another worker to resume.
 */
export class RunWorker {
  readonly name: string;
  private readonly abort = new AbortController();
  private checkpointer: PostgresSaver | undefined;
  private readonly relays: { start(): void; stop(): Promise<void> }[];
  private readonly active = new Set<Promise<unknown>>();
  private loops: Promise<unknown>[] = [];
  private readonly log: (line: string) => void;
  private readonly streams: WorkerStreams;

  constructor(private readonly options: RunWorkerOptions) {
    this.name = options.name ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    this.log = options.log ?? ((line) => console.error(`worker ${this.name}: ${line}`));
    const onError = (error: Error) => this.log(error.message);
    this.streams = options.streams ?? DEFAULT_STREAMS;
    this.relays = [
      new TaskEventRelay(options.sql, taskEventSink(options.bus, this.streams.tasks), { onError }),
      new RunEventRelay(options.sql, options.bus, { onError, stream: this.streams.events }),
      new RunRequestRelay(options.sql, options.bus, { onError, stream: this.streams.runs }),
    ];
  }

  async start(): Promise<void> {
    this.checkpointer = await openCheckpointer(this.options.databaseUrl);
    await this.options.bus.ensureStream(this.streams.tasks);
    await this.options.bus.ensureStream(this.streams.events);
    for (const relay of this.relays) relay.start();
    this.loops = [this.consume(), this.recover()];
  }

  /** Drains and stops; the caller closes the bus and the pool afterwards. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
    await Promise.allSettled([...this.active]);
    for (const relay of this.relays) await relay.stop();
    await this.checkpointer?.end();
  }

  /** Executes one run here (also what the queue consumer and the recovery loop call). */
  execute(runId: string): Promise<RunOutcome> {
    if (!this.checkpointer) return Promise.reject(new Error("the worker is not started"));
    const running = executeRun(
      {
        sql: this.options.sql,
        gateway: this.options.gateway,
        checkpointer: this.checkpointer,
        worker: this.name,
        leaseMs: this.options.leaseMs,
        signal: this.abort.signal,
      },
      runId,
    );
    this.active.add(running);
    void running.finally(() => this.active.delete(running)).catch(() => {});
    return running;
  }

  private consume(): Promise<ConsumeSummary> {
    return consumeRunRequests(this.options.bus, {
      durable: this.options.durable ?? "godotz-workers",
      concurrency: this.options.concurrency ?? 2,
      ackWaitMs: this.options.ackWaitMs,
      signal: this.abort.signal,
      stream: this.streams.runs,
      log: this.log,
      handler: async (request) => {
        if (this.options.temporal) {
          const { started } = await startRecordedRun(this.options.temporal, this.options.sql, request.runId, { adoptQueued: true });
          this.log(`run ${request.runId} (${request.swarm}): ${started ? "started on Temporal" : "already on Temporal"}`);
          return;
        }
        const outcome = await this.execute(request.runId);
        if (outcome.executed) this.log(`run ${request.runId} (${request.swarm}): ${outcome.status}${outcome.error ? `: ${outcome.error}` : ""}`);
      },
    });
  }

  /** Every half lease: runs left 'running' by a dead worker are resumed here. */
  private async recover(): Promise<void> {
    const every = Math.max(200, Math.floor((this.options.leaseMs ?? 30_000) / 2));
    while (!this.abort.signal.aborted) {
      try {
        for (const runId of await abandonedRuns(this.options.sql)) {
          if (this.abort.signal.aborted) break;
          this.log(`resuming run ${runId}, abandoned by its worker`);
          const outcome = await this.execute(runId);
          if (outcome.executed) this.log(`run ${runId}: ${outcome.status}${outcome.error ? `: ${outcome.error}` : ""}`);
        }
      } catch (error) {
        this.log(`recovering runs failed: ${(error as Error).message}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, every);
        this.abort.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }
}
