import { FleetUnavailableError } from "./errors.ts";

/** What running one task's command needs. */
export interface ExecutionRequest {
  command: string;
  workDir: string;
  allowedHosts: string[];
  env: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal;
  stdin?: string;
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
export async function sandboxExecutor(options: { gatewayUrl?: string }): Promise<Executor> {
  const { createSandbox, SandboxUnavailableError } = await import("./sandbox/index.ts");
  let sandbox: Awaited<ReturnType<typeof createSandbox>>;
  try {
    sandbox = await createSandbox({ gatewayUrl: options.gatewayUrl });
  } catch (error) {
    if (error instanceof SandboxUnavailableError) throw new FleetUnavailableError(`the sandbox cannot run here, so this node takes no tasks: ${error.message}`, { cause: error });
    throw error;
  }
  return {
    async run(r) {
      try {
        return await sandbox.run(r.command, { workDir: r.workDir, allowedHosts: r.allowedHosts, env: r.env, timeoutMs: r.timeoutMs, signal: r.signal, stdin: r.stdin });
      } catch (error) {
        if (error instanceof SandboxUnavailableError) throw new ExecutorUnavailableError(error.message, { cause: error });
        throw error;
      }
    },
    close: () => sandbox.close(),
  };
}
