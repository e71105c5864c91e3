import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

export const GODOTZ_BIN = fileURLToPath(new URL("../../bin/godotz.mjs", import.meta.url));

export interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Runs the godotz CLI as a user would, collecting its output. */
export function spawnGodotz(args: string[], env: Record<string, string | undefined> = {}): Spawned {
  const child = spawn(process.execPath, [GODOTZ_BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export async function runGodotz(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; output: string }> {
  const p = spawnGodotz(args, env);
  const code = await p.exited;
  return { code, output: p.output() };
}

/** Waits, bounded, until the output matches. */
export async function waitForOutput(p: Spawned, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = p.output().match(pattern);
    if (match) return match;
    if (Date.now() > deadline || p.child.exitCode !== null) throw new Error(`no ${pattern} in output:\n${p.output()}`);
    await sleep(50);
  }
}
