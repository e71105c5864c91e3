// Running one wrapped command: output capture with a cap, and ending the whole process tree.
import { spawn } from "node:child_process";

/** Per stream; beyond it the output is cut, so a chatty or hostile task cannot exhaust the agent. */
export const OUTPUT_LIMIT_BYTES = 8 * 1024 * 1024;

/** After SIGKILL the streams close at once; this only guards against a descriptor held elsewhere. */
const CLOSE_GRACE_MS = 5_000;

export interface Exited {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface Supervised {
  /** Ends the whole tree at once (SIGKILL to the process group). Safe to call more than once. */
  kill(): void;
  exited: Promise<Exited>;
}

class Capture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private cut = false;
  add(chunk: Buffer): void {
    if (this.size >= OUTPUT_LIMIT_BYTES) {
      this.cut = true;
      return;
    }
    const room = OUTPUT_LIMIT_BYTES - this.size;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.cut = true;
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString("utf8");
    return this.cut ? `${s}\n[output cut at ${OUTPUT_LIMIT_BYTES} bytes]\n` : s;
  }
}

/**
 * Starts `shellCommand` under /bin/sh in its own process group. Killing that group takes bwrap
 * with it; bwrap's children die with their parent (--die-with-parent) and everything in the
 * sandbox's PID namespace dies with its init, so nothing the task started outlives the kill.
 * stdin is a file descriptor or nothing, never a socket: bash sources ~/.bashrc when its stdin is
 * a socket, and HOME is the task's own (writable) work directory.
 */
export function supervise(opts: {
  shellCommand: string;
  cwd: string;
  env: Record<string, string>;
  stdinFd: number | undefined;
  onStderr: (text: string) => void;
}): Supervised {
  const child = spawn("/bin/sh", ["-c", opts.shellCommand], {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: [opts.stdinFd ?? "ignore", "pipe", "pipe"],
  });
  const out = new Capture();
  const err = new Capture();
  child.stdout!.on("data", (d: Buffer) => out.add(d));
  child.stderr!.on("data", (d: Buffer) => {
    err.add(d);
    opts.onStderr(d.toString("utf8"));
  });
  let killed = false;
  const kill = () => {
    if (killed || child.pid === undefined) return;
    killed = true;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // The group is already gone.
    }
  };
  const exited = new Promise<Exited>((resolve) => {
    let exit: { code: number | null; signal: string | null } | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(graceTimer);
      resolve({ exitCode: exit?.code ?? null, signal: exit?.signal ?? null, stdout: out.text(), stderr: err.text() });
    };
    child.on("error", (e) => {
      err.add(Buffer.from(`sandbox: could not start the wrapper: ${e.message}\n`));
      exit = { code: null, signal: null };
      finish();
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      graceTimer = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish();
      }, CLOSE_GRACE_MS);
    });
    child.on("close", () => finish());
  });
  return { kill, exited };
}
