import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from "@temporalio/client";
import { WORKFLOW_TYPE, type Progress, type SwarmDefinition, type SwarmRunResult } from "./plan.ts";
import { cancelSignal, progressQuery } from "./messages.ts";
import type { TemporalConfig } from "./config.ts";

/**
 * Starting and steering Temporal runs. The workflow id is the run id, so starting the same run
 * twice (a redelivered run request, a retried CLI call) finds the first workflow instead of
 * running the swarm again.
 */

export interface SwarmClient {
  client: Client;
  config: TemporalConfig;
  close(): Promise<void>;
}

/** Connects (and checks the connection); `connectTimeoutMs` bounds that check (the SDK's default is 10 s). */
export async function connectSwarmClient(config: TemporalConfig, options: { connectTimeoutMs?: number } = {}): Promise<SwarmClient> {
  const connection = await Connection.connect({
    address: config.address,
    ...(options.connectTimeoutMs ? { connectTimeout: options.connectTimeoutMs } : {}),
    ...(config.tls !== undefined ? { tls: config.tls } : {}),
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
  });
  return { client: new Client({ connection, namespace: config.namespace }), config, close: () => connection.close() };
}

export interface StartSwarmRun {
  runId: string;
  swarm: SwarmDefinition;
  input: string;
}

/** Starts the run's workflow; `started: false` when a workflow with this run id already exists. */
export async function startSwarmRun(sc: SwarmClient, run: StartSwarmRun): Promise<{ workflowId: string; started: boolean }> {
  try {
    await sc.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: sc.config.taskQueue,
      workflowId: run.runId,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      args: [{ runId: run.runId, swarm: run.swarm, input: run.input }],
    });
    return { workflowId: run.runId, started: true };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { workflowId: run.runId, started: false };
    throw error;
  }
}

/** Asks the run to stop: in-flight steps are cancelled and the run ends `cancelled`. */
export async function cancelSwarmRun(sc: SwarmClient, runId: string, reason?: string): Promise<void> {
  await sc.client.workflow.getHandle(runId).signal(cancelSignal, reason);
}

/** Node states of a running (or finished, while Temporal keeps it) run. */
export function swarmRunProgress(sc: SwarmClient, runId: string): Promise<Progress> {
  return sc.client.workflow.getHandle(runId).query(progressQuery);
}

export function swarmRunResult(sc: SwarmClient, runId: string): Promise<SwarmRunResult> {
  return sc.client.workflow.getHandle(runId).result() as Promise<SwarmRunResult>;
}
