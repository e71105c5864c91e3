import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { EventBus } from "../../../workers/events/bus.ts";
import { namespacedStreams } from "../../../workers/swarm/worker.ts";
import { startRuntimeStack, type RuntimeStack } from "./helpers.ts";

/**
 * What the crash tests share: a runtime stack, worker processes started from
 * fixtures/worker-entry.ts on streams of their own, a SIGKILL to a worker's whole process group
 * (as a machine dying would), and a bounded wait that shows what the worker said when it times out.
 */

const ENTRY = fileURLToPath(new URL("./fixtures/worker-entry.ts", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export interface CrashHarness {
  rt: RuntimeStack;
  bus: EventBus;
  streams: ReturnType<typeof namespacedStreams>;
  startWorker(name: string): WorkerProcess;
  close(): Promise<void>;
}

export async function startCrashHarness(prefix: string): Promise<CrashHarness> {
  const namespace = `${prefix}${process.pid}${Math.random().toString(36).slice(2, 6)}`;
  const streams = namespacedStreams(namespace);
  const rt = await startRuntimeStack();
  const bus = await EventBus.connect({ name: `${prefix}-crash-test` });
  const home = await mkdtemp(path.join(tmpdir(), "godotz-home-"));
  const children: ChildProcess[] = [];
  return {
    rt,
    bus,
    streams,
    startWorker(name) {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", ENTRY, "--name", name, "--lease-seconds", "2", "--ack-wait-seconds", "60", "--durable", `d-${namespace}`, "--streams-namespace", namespace],
        {
          env: { ...process.env, DATABASE_URL: rt.stack.databaseUrl, GODOTZ_URL: rt.stack.gateway.url, GODOTZ_API_KEY: rt.stack.key, GODOTZ_HOME: home },
          stdio: ["ignore", "pipe", "pipe"],
          // Its own process group, so a kill takes its helpers (tsx's esbuild) too.
          detached: true,
        },
      );
      children.push(child);
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      child.stderr!.on("data", (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      return { child, output: () => out, exited };
    },
    async close() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) killGroup(c);
      for (const s of Object.values(streams)) await bus.jsm.streams.delete(s.name).catch(() => {});
      // A call that was in flight at a kill still sleeps in the simulator; closing the simulator
      // first ends it, so the gateway's close does not wait for it.
      await rt.stack.simulator.close();
      await bus.close();
      await rt.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** SIGKILL to the worker's process group (the worker and the helpers it started). */
export function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Polls every 50 ms until `probe` gives a value or the deadline passes (then names what the worker said). */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, output: () => string = () => "", timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${output() ? `; the worker said:\n${output()}` : ""}`);
    await sleep(50);
  }
}
