// An executor for the agent's own tests, standing in for the sandbox (which has its own tests in
// test/fleet/sandbox/): it understands a few commands and records every run.
import { setTimeout as sleep } from "node:timers/promises";
import type { ExecutionRequest, ExecutionResult, Executor } from "../../fleet-agent/index.ts";
import { ExecutorUnavailableError } from "../../fleet-agent/index.ts";

export interface RecordingExecutor extends Executor {
  runs: string[];
  /** Commands `hold` wait until released. */
  release(): void;
  concurrent: number;
  maxConcurrent: number;
}

/**
 * `ok <text>`: exits 0 printing text. `fail <n>`: exits n. `sleep <ms>`: waits (ends early when
 * aborted). `hold`: waits for release(). `violate`: reports a write violation. `unavailable`:
 * throws ExecutorUnavailableError.
 */
export function recordingExecutor(): RecordingExecutor {
  let releaseAll: () => void = () => {};
  let released = new Promise<void>((resolve) => (releaseAll = resolve));
  const self: RecordingExecutor = {
    runs: [],
    concurrent: 0,
    maxConcurrent: 0,
    release() {
      releaseAll();
      released = new Promise<void>((resolve) => (releaseAll = resolve));
    },
    async run(r: ExecutionRequest): Promise<ExecutionResult> {
      self.runs.push(r.command);
      self.concurrent++;
      self.maxConcurrent = Math.max(self.maxConcurrent, self.concurrent);
      const started = Date.now();
      const done = (exitCode: number | null, stdout = "", extra: Partial<ExecutionResult> = {}): ExecutionResult => ({ exitCode, signal: null, stdout, stderr: "", violations: [], durationMs: Date.now() - started, ...extra });
      try {
        const [verb, arg = ""] = r.command.split(/ (.*)/s);
        if (verb === "ok") return done(0, arg);
        if (verb === "fail") return done(Number(arg), "", { stderr: "it failed" });
        if (verb === "violate") return done(1, "", { violations: [{ kind: "write", detail: "/etc/passwd" }] });
        if (verb === "unavailable") throw new ExecutorUnavailableError("no sandbox on this test node");
        if (verb === "sleep") {
          await sleep(Number(arg), undefined, { signal: r.signal }).catch(() => {});
          return r.signal.aborted ? done(null, "", { signal: "SIGTERM" }) : done(0, "slept");
        }
        if (verb === "hold") {
          await Promise.race([released, new Promise((resolve) => r.signal.addEventListener("abort", resolve, { once: true }))]);
          return r.signal.aborted ? done(null, "", { signal: "SIGTERM" }) : done(0, "held");
        }
        return done(127, "", { stderr: `unknown command ${verb}` });
      } finally {
        self.concurrent--;
      }
    },
    async close() {},
  };
  return self;
}
