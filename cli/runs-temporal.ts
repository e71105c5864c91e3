import { setTimeout as sleep } from "node:timers/promises";
import type { Sql } from "../shared/db/connect.ts";
import { getRun, requestCancel, type RunStatus, type RunSummary } from "../workers/swarm/runs/store.ts";
import { cancelSwarmRun, connectSwarmClient, swarmRunProgress, type SwarmClient } from "../workers/temporal/client.ts";
import { temporalConfigFrom, TemporalConfigError, type TemporalConfig } from "../workers/temporal/config.ts";
import type { Progress } from "../workers/temporal/plan.ts";
import { isFinished, renderProgressGraph } from "../workers/temporal/progress-view.ts";
import { CliError } from "./errors.ts";

/**
 * `godotz runs cancel|show --watch` for runs that execute on Temporal (swarm_runs.engine
 * `temporal`). Such a run's state lives in its workflow, not in a worker's lease: cancelling it
 * is the workflow's `cancel` signal and watching it is the `progress` query. Which cluster comes
 * from the TEMPORAL_* settings, as for the workers.
 */

/** What the CLI asks of Temporal; tests pass their own. */
export interface TemporalRuns {
  cancel(runId: string, reason: string): Promise<void>;
  progress(runId: string): Promise<Progress>;
  close(): Promise<void>;
}

export function temporalRunsOf(sc: SwarmClient): TemporalRuns {
  return {
    cancel: (runId, reason) => cancelSwarmRun(sc, runId, reason),
    progress: (runId) => swarmRunProgress(sc, runId),
    close: () => sc.close(),
  };
}

/** Connects when a Temporal run is met; undefined when TEMPORAL_ADDRESS is unset. */
export function temporalRunsFrom(
  env: Record<string, string | undefined> = process.env,
  connect: (config: TemporalConfig) => Promise<SwarmClient> = (config) => connectSwarmClient(config, { connectTimeoutMs: 5000 }),
): (() => Promise<TemporalRuns>) | undefined {
  let config: TemporalConfig | undefined;
  try {
    config = temporalConfigFrom(env);
  } catch (error) {
    if (error instanceof TemporalConfigError) throw new CliError(error.message, 2);
    throw error;
  }
  return config ? async () => temporalRunsOf(await connect(config)) : undefined;
}

const NEEDS_TEMPORAL = "set TEMPORAL_ADDRESS (and the other TEMPORAL_* settings the workers use) to reach it";

export type CancelResult = RunSummary & { previous_status: RunStatus; via: "database" | "temporal" };

/**
 * A running Temporal run is cancelled with its workflow's `cancel` signal: its steps in flight
 * are cancelled and the workflow marks the run `cancelled`. The request is recorded on the row
 * too. A queued one is cancelled in the database alone, as on the embedded engine: its workflow,
 * if it starts, finds it cancelled and runs nothing.
 */
export async function cancelRun(sql: Sql, runId: string, temporal: (() => Promise<TemporalRuns>) | undefined): Promise<CancelResult> {
  const row = await getRun(sql, runId);
  if (row.engine !== "temporal" || row.status !== "running") return { ...(await requestCancel(sql, runId)), via: "database" };
  if (!temporal) throw new CliError(`${runId} runs on Temporal; ${NEEDS_TEMPORAL}`, 1);
  const runs = await temporal();
  try {
    // Signal first: when the workflow cannot be reached, nothing is recorded as requested.
    await runs.cancel(runId, "cancelled with godotz runs cancel");
  } finally {
    await runs.close();
  }
  return { ...(await requestCancel(sql, runId)), via: "temporal" };
}

export interface WatchOptions {
  intervalMs: number;
  json: boolean;
  print?: (text: string) => void;
  /** Clear the screen before each frame (a terminal). */
  clear?: boolean;
  wait?: (ms: number) => Promise<unknown>;
}

/** Redraws the workflow's progress until the run ends (bounded by the run; Ctrl-C stops watching). */
export async function watchTemporalRun(runs: TemporalRuns, runId: string, options: WatchOptions): Promise<Progress> {
  const print = options.print ?? ((text: string) => console.log(text));
  const wait = options.wait ?? ((ms: number) => sleep(ms));
  for (;;) {
    const progress = await runs.progress(runId);
    if (options.json) print(JSON.stringify(progress));
    else {
      if (options.clear) process.stdout.write("\x1b[2J\x1b[H");
      print(renderProgressGraph(progress) + (options.clear ? "" : "\n"));
    }
    if (isFinished(progress)) return progress;
    await wait(Math.max(100, options.intervalMs));
  }
}

/**
 * Whether `show --watch` should ask Temporal: a Temporal run, with the cluster configured.
 * Without the cluster its step tasks still show it (the activities write them), with a warning.
 */
export async function watchesOnTemporal(sql: Sql, runId: string, temporal: (() => Promise<TemporalRuns>) | undefined, warn: (line: string) => void): Promise<boolean> {
  const row = await getRun(sql, runId);
  if (row.engine !== "temporal") return false;
  if (temporal) return true;
  warn(`godotz: ${runId} runs on Temporal; drawing it from its step tasks in the database (${NEEDS_TEMPORAL} for the workflow's own view)`);
  return false;
}
