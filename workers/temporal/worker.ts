import { fileURLToPath } from "node:url";
import { NativeConnection, Worker } from "@temporalio/worker";
import type { Sql } from "../../shared/db/connect.ts";
import type { GatewayTarget } from "../swarm/runtime/gateway.ts";
import { createActivities, type SwarmActivityDeps } from "./activities.ts";
import type { TemporalConfig } from "./config.ts";
import { runtimeActivityDeps } from "./runtime-deps.ts";

/**
 * The Temporal worker of `godotz workers` when TEMPORAL_ADDRESS is set: it polls the
 * `godotz-swarms` task queue, runs swarmRun workflows from workflows.ts in Temporal's sandbox and
 * their activities here, with the runtime's gateway, task and event code injected.
 */

export const WORKFLOWS_PATH = fileURLToPath(new URL("./workflows.ts", import.meta.url));

export function connectWorkerConnection(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: config.address,
    ...(config.tls !== undefined ? { tls: config.tls } : {}),
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
  });
}

export interface SwarmWorkerOptions {
  connection: NativeConnection;
  config: TemporalConfig;
  deps: SwarmActivityDeps;
  /** Shown in Temporal's UI as the poller; the fleet node's name is a good one. */
  identity?: string;
  /** Steps one worker runs at once; the gateway's budgets and rate limits still apply. */
  maxConcurrentActivities?: number;
}

export function createSwarmWorker(options: SwarmWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.config.namespace,
    taskQueue: options.config.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivities(options.deps),
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.maxConcurrentActivities ? { maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities } : {}),
  });
}

/**
 * Connects, runs the worker until `signal` aborts, then drains it (in-flight activities get
 * Temporal's shutdown grace time) and closes the connection.
 */
export async function runSwarmWorker(options: Omit<SwarmWorkerOptions, "connection"> & { signal: AbortSignal }): Promise<void> {
  const connection = await connectWorkerConnection(options.config);
  try {
    const worker = await createSwarmWorker({ ...options, connection });
    const stop = () => {
      if (worker.getState() === "RUNNING") worker.shutdown();
    };
    if (options.signal.aborted) return;
    options.signal.addEventListener("abort", stop, { once: true });
    try {
      await worker.run();
    } finally {
      options.signal.removeEventListener("abort", stop);
    }
  } finally {
    await connection.close();
  }
}

/** What `godotz workers` runs when TEMPORAL_ADDRESS is set: the worker over the runtime's own I/O. */
export function runTemporalWorker(options: { config: TemporalConfig; sql: Sql; gateway: GatewayTarget; name: string; signal: AbortSignal }): Promise<void> {
  return runSwarmWorker({
    config: options.config,
    deps: runtimeActivityDeps({ sql: options.sql, gateway: options.gateway, worker: options.name }),
    identity: options.name,
    signal: options.signal,
  });
}
