// A cross-process lock so that two processes starting at once (gateway + `bd`, two tests) do not
// both run initdb or both start a server on the same data directory. O_EXCL creation is atomic on
// every local filesystem; a holder that died leaves its pid behind, which we detect and clear.
import { readFileSync } from "node:fs";
import { open, readFile, stat, unlink } from "node:fs/promises";

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (err) {
    // EPERM: the process exists but belongs to another user (the server runs as one when we are root).
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

// A detached server that died stays a zombie until init reaps it, and some container inits reap
// late; signal 0 still succeeds on a zombie, so look at its state on Linux.
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run `fn` while holding `lockPath`; waits up to `timeoutMs` for another live holder. */
export async function withFileLock<T>(lockPath: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const owner = `${process.pid}\n`;
    try {
      const handle = await open(lockPath, "wx", 0o644);
      await handle.writeFile(owner);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const content = await readFile(lockPath, "utf8").catch(() => "");
    const holder = Number.parseInt(content, 10);
    // An empty file means the holder is between open() and write(), or died right there.
    const age = Date.now() - ((await stat(lockPath).catch(() => undefined))?.mtimeMs ?? Date.now());
    const stale = Number.isInteger(holder) ? !isProcessAlive(holder) : age > 10_000;
    if (stale) {
      // Re-read just before removing so we do not delete a lock another waiter has just taken.
      if ((await readFile(lockPath, "utf8").catch(() => "")) === content) await unlink(lockPath).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockPath} (held by pid ${content.trim() || "?"})`);
    await sleep(100);
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}
