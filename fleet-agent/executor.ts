import { realpath } from "node:fs/promises";
import path from "node:path";
import { FleetUnavailableError } from "./errors.ts";
import type { SecurityEventSink } from "./security/recorder.ts";

/** What running one task's command needs. */
export interface ExecutionRequest {
  command: string;
  workDir: string;
  allowedHosts: string[];
  env: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal;
  stdin?: string;
  /** The task this run is for: security events from the run are attributed to it. */
  taskId?: string;
}

export interface ExecutionResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  violations: { kind: string; detail: string }[];
  durationMs: number;
}

/**
 * Runs a task's command. The agent's default (cli/fleet.ts) is the fail-closed sandbox below;
 * tests and the dispatch benchmark inject their own. Throwing ExecutorUnavailableError means
 * "this node cannot run it now" and hands the task back for another node.
 */
export interface Executor {
  run(request: ExecutionRequest): Promise<ExecutionResult>;
  close(): Promise<void>;
}

/** The executor cannot run tasks here (no sandbox): the task is handed back, never run bare. */
export class ExecutorUnavailableError extends FleetUnavailableError {}

/**
 * Every task in the sandbox (fleet-agent/sandbox): set up once and proven at start. If it cannot
 * be set up the agent does not start, so a node never takes work it would have to run bare.
 */
export async function sandboxExecutor(options: { gatewayUrl?: string; onSecurityEvent?: SecurityEventSink }): Promise<Executor> {
  const { createSandbox, SandboxUnavailableError } = await import("./sandbox/index.ts");
  // The sandbox names the run an event came from by its work directory (each task has its own);
  // an event it cannot place (empty work directory) or that arrives after its run has ended is
  // kept with no task.
  const taskOf = new Map<string, string>();
  const sink = options.onSecurityEvent;
  let sandbox: Awaited<ReturnType<typeof createSandbox>>;
  try {
    sandbox = await createSandbox({
      gatewayUrl: options.gatewayUrl,
      onSecurityEvent: sink && ((e) => sink({ ...e, taskId: (e.workDir && taskOf.get(e.workDir)) || null })),
    });
  } catch (error) {
    if (error instanceof SandboxUnavailableError) throw new FleetUnavailableError(`the sandbox cannot run here, so this node takes no tasks: ${error.message}`, { cause: error });
    throw error;
  }
  return {
    async run(r) {
      // The sandbox reports the directory as it resolved it (symlinks followed, e.g. macOS /tmp).
      const keys = r.taskId ? [...new Set([path.resolve(r.workDir), await realpath(r.workDir).catch(() => path.resolve(r.workDir))])] : [];
      keys.forEach((k) => taskOf.set(k, r.taskId!));
      try {
        return await sandbox.run(r.command, { workDir: r.workDir, allowedHosts: r.allowedHosts, env: r.env, timeoutMs: r.timeoutMs, signal: r.signal, stdin: r.stdin });
      } catch (error) {
        if (error instanceof SandboxUnavailableError) throw new ExecutorUnavailableError(error.message, { cause: error });
        throw error;
      } finally {
        keys.forEach((k) => taskOf.delete(k));
      }
    },
    close: () => sandbox.close(),
  };
}
