// The fail-closed sandbox every task command runs in (issue #7, NFR-S-003). Built on
// @anthropic-ai/sandbox-runtime: bubblewrap on Linux, sandbox-exec on macOS, and a filtering
// proxy for the network. See docs/sandbox.md for the policy and its limits.
//
// The library keeps its state in a process-wide singleton (one proxy, one violation monitor, one
// configuration), so this module allows ONE open sandbox per process: the fleet agent creates it
// once and runs every task through it. What differs per task is passed per run: the filesystem
// rules (work directory, read denies) go with each wrapped command; the network allowlist, which
// the proxy holds for the whole process, is swapped between runs by a NetworkPolicyGate.
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, closeSync, realpathSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SandboxManager, type SandboxRuntimeConfig } from "@anthropic-ai/sandbox-runtime";
import { z } from "zod";
import { SandboxOptionsError, SandboxUnavailableError } from "./errors.ts";
import { GateWaitTimeout, NetworkPolicyGate } from "./network-gate.ts";
import { allowedHostPatterns, checkWorkDir, childEnv, commandPrelude, gatewayHostPatterns, readDenyPaths, shellQuote } from "./policy.ts";
import { supervise, type Supervised } from "./process.ts";
import { classify, directConnectAttempt, isPermittedWrite } from "./violations.ts";

export { SandboxOptionsError, SandboxUnavailableError } from "./errors.ts";

export interface SandboxRunOptions { workDir: string; allowedHosts: string[]; env?: Record<string, string>; timeoutMs: number; signal?: AbortSignal; stdin?: string }
export interface SandboxViolation { kind: "write" | "network" | "read" | "other"; detail: string }
export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  violations: SandboxViolation[];
  durationMs: number;
  /** Why the run ended: the command exited, or the sandbox ended it. */
  endedBy?: "exit" | "timeout" | "violation" | "abort";
}
export interface Sandbox { run(command: string, options: SandboxRunOptions): Promise<SandboxResult>; close(): Promise<void> }
export interface SecurityEvent { at: string; kind: SandboxViolation["kind"]; detail: string; command: string; workDir: string }

export interface CreateSandboxOptions {
  /** The gateway agents call; the only host every task may reach. */
  gatewayUrl?: string;
  /** Called for every violation, with what was tried. Without it events go to stderr as JSON lines. */
  onSecurityEvent?: (e: SecurityEvent) => void;
  /** More paths no task may read (e.g. the agent's own credentials directory). */
  denyRead?: string[];
  /** bubblewrap to use instead of the one on PATH (Linux). */
  bwrapPath?: string;
  /** Replaces the library's dependency check (tests use it to prove the refusal path). */
  checkDependencies?: () => Promise<{ errors: string[]; warnings: string[] }>;
}

/** After a run ends, how long observer events already on their way are awaited. */
export const VIOLATION_SETTLE_MS = 50;
/** How long the start-up self-test may take before the sandbox is declared unusable. */
const PROBE_TIMEOUT_MS = 15_000;

const absolutePath = z.string().min(1).refine((p) => path.isAbsolute(p) && !p.includes("\0"), "must be an absolute path");
const RunOptionsSchema = z.object({
  workDir: absolutePath,
  allowedHosts: z.array(z.string()),
  env: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().positive().max(7 * 24 * 3600 * 1000),
  signal: z.instanceof(AbortSignal).optional(),
  stdin: z.string().optional(),
});

const CreateOptionsSchema = z.object({
  gatewayUrl: z.string().optional(),
  onSecurityEvent: z.function().optional(),
  denyRead: z.array(absolutePath).max(1000).optional(),
  bwrapPath: absolutePath.optional(),
  checkDependencies: z.function().optional(),
});

let openSandbox: SandboxRuntime | undefined;

/**
 * Sets up the sandbox for this process and proves it works: dependencies present, a command runs
 * in it, a write outside its work directory is refused and reported. Throws
 * SandboxUnavailableError otherwise, so the caller refuses tasks rather than run them bare.
 */
export async function createSandbox(options: CreateSandboxOptions): Promise<Sandbox> {
  const valid = CreateOptionsSchema.safeParse(options);
  if (!valid.success) throw new SandboxOptionsError(`createSandbox options: ${z.prettifyError(valid.error)}`);
  if (openSandbox) throw new SandboxUnavailableError("a sandbox is already open in this process (the sandbox runtime is process-wide); reuse it");
  const platform = os.platform();
  if (platform !== "linux" && platform !== "darwin") throw new SandboxUnavailableError(`no sandbox for platform ${platform}: only Linux (bubblewrap) and macOS (sandbox-exec) are supported`);
  if (!SandboxManager.isSupportedPlatform()) throw new SandboxUnavailableError("the sandbox runtime does not support this system (WSL1?)");
  const gatewayHosts = gatewayHostPatterns(options.gatewayUrl);
  const runtime = new SandboxRuntime(gatewayHosts, options);
  openSandbox = runtime;
  try {
    await runtime.start();
    return runtime;
  } catch (e) {
    await runtime.close();
    throw e instanceof SandboxUnavailableError ? e : new SandboxUnavailableError(`sandbox set-up failed: ${(e as Error).message}`, { cause: e });
  }
}

interface RunState {
  command: string;
  workDir: string;
  violations: SandboxViolation[];
  proc: Supervised | undefined;
  killedForViolation: boolean;
  /** The start-up self-test: its violation is expected, so it is neither an event nor a kill. */
  probe: boolean;
  directConnectSeen: boolean;
}

class SandboxRuntime implements Sandbox {
  private readonly runs = new Map<string, RunState>();
  private readonly live = new Set<Supervised>();
  private readonly gate: NetworkPolicyGate;
  private readonly baseConfig: SandboxRuntimeConfig;
  private unsubscribe: (() => void) | undefined;
  private seen = 0;
  private closed = false;
  private readonly stdinDir = mkdtempSync(path.join(os.tmpdir(), "godotz-sandbox-stdin-"));
  private readonly killAllOnExit = () => this.live.forEach((p) => p.kill());

  constructor(private readonly gatewayHosts: string[], private readonly options: CreateSandboxOptions) {
    this.baseConfig = {
      network: { allowedDomains: gatewayHosts, deniedDomains: [], strictAllowlist: true, allowLocalBinding: false },
      // Per-run rules travel with each wrapped command; these process-wide ones allow no write at
      // all, so the write observer reports every attempt outside the library's own paths.
      filesystem: { denyRead: [], allowWrite: [], denyWrite: [] },
      ...(options.bwrapPath ? { bwrapPath: options.bwrapPath } : {}),
    };
    this.gate = new NetworkPolicyGate((hosts) => SandboxManager.updateConfig({ ...this.baseConfig, network: { ...this.baseConfig.network, allowedDomains: hosts } }));
  }

  async start(): Promise<void> {
    if (this.options.checkDependencies) this.requireDependencies(await this.options.checkDependencies());
    try {
      // Checks the dependencies against this configuration (bwrapPath included) and fails on errors.
      await SandboxManager.initialize(this.baseConfig, undefined, true);
    } catch (e) {
      throw new SandboxUnavailableError(`sandbox runtime did not start: ${(e as Error).message}`, { cause: e });
    }
    // Asked again once the configuration is in place (before it, the library answers for the
    // previous one): initialize() lets warnings pass, this does not.
    this.requireDependencies(await SandboxManager.checkDependenciesAsync());
    const store = SandboxManager.getSandboxViolationStore();
    this.seen = store.getTotalCount();
    this.unsubscribe = store.subscribe(() => this.onViolations());
    process.once("exit", this.killAllOnExit);
    await this.selfTest();
  }

  /**
   * A warning means a weaker sandbox (on Linux: no seccomp filter, so Unix sockets such as a local
   * database's would be reachable); it is refused like an error.
   */
  private requireDependencies(deps: { errors: string[]; warnings: string[] }): void {
    const problems = [...deps.errors, ...deps.warnings];
    if (problems.length > 0) throw new SandboxUnavailableError(`sandbox dependencies not satisfied: ${problems.join("; ")}`);
  }

  /**
   * Runs a command that does nothing but try to write outside its work directory, and requires
   * that it ran, that the write did not land, and (on Linux, where the observer is part of the
   * sandbox) that the attempt was reported. Anything else: the sandbox is not what it claims.
   */
  private async selfTest(): Promise<void> {
    const root = mkdtempSync(path.join(os.tmpdir(), "godotz-sandbox-probe-"));
    try {
      const workDir = path.join(root, "work");
      const outside = path.join(root, "outside");
      const result = await this.runChecked(`: > ${shellQuote(outside)} 2>/dev/null; exit 0`, { workDir, allowedHosts: [], timeoutMs: PROBE_TIMEOUT_MS }, { probe: true });
      if (result.exitCode !== 0) throw new SandboxUnavailableError(`a command cannot run in the sandbox here (exit ${result.exitCode ?? result.signal}): ${result.stderr.trim().slice(0, 2000)}`);
      if (existsSync(outside)) throw new SandboxUnavailableError("the sandbox let a command write outside its work directory");
      if (os.platform() === "linux" && !result.violations.some((v) => v.kind === "write" && v.detail.includes(outside))) {
        throw new SandboxUnavailableError("the sandbox's write monitor did not report a write outside the work directory");
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  run(command: string, options: SandboxRunOptions): Promise<SandboxResult> {
    return this.runChecked(command, options, { probe: false });
  }

  private async runChecked(command: string, options: SandboxRunOptions, mode: { probe: boolean }): Promise<SandboxResult> {
    if (this.closed) throw new SandboxUnavailableError("the sandbox is closed");
    // The library tears its runtime down by itself on the process's first SIGINT or SIGTERM (and
    // a library user may call reset()); without its proxy and monitor, no task may start.
    if (!(await SandboxManager.waitForNetworkInitialization())) throw new SandboxUnavailableError("the sandbox runtime has been shut down (SIGINT/SIGTERM?); close this sandbox and create a new one");
    if (typeof command !== "string" || command.trim() === "" || command.includes("\0")) throw new SandboxOptionsError("command must be a non-empty string without NUL");
    const parsed = RunOptionsSchema.safeParse(options);
    if (!parsed.success) throw new SandboxOptionsError(`run options: ${z.prettifyError(parsed.error)}`);
    const opts = parsed.data;
    opts.signal?.throwIfAborted();
    const hosts = [...this.gatewayHosts, ...allowedHostPatterns(opts.allowedHosts)];

    const agent = { cwd: process.cwd(), home: os.homedir(), execPath: process.execPath };
    // Checked before anything is created, and again once symlinks are resolved.
    checkWorkDir(path.resolve(opts.workDir), agent);
    let workDir: string;
    try {
      mkdirSync(opts.workDir, { recursive: true });
      workDir = realpathSync(opts.workDir);
      checkWorkDir(workDir, agent);
      mkdirSync(path.join(workDir, ".tmp"), { recursive: true });
    } catch (e) {
      throw e instanceof SandboxOptionsError ? e : new SandboxOptionsError(`workDir ${opts.workDir}: ${(e as Error).message}`, { cause: e });
    }
    const tmpDir = path.join(workDir, ".tmp");
    const env = childEnv(workDir, tmpDir, opts.env);

    const started = performance.now();
    const deadline = Date.now() + opts.timeoutMs;
    let release: () => void;
    try {
      release = await this.gate.enter(hosts, opts.timeoutMs, opts.signal);
    } catch (e) {
      if (!(e instanceof GateWaitTimeout)) throw e;
      return { exitCode: null, signal: null, stdout: "", stderr: `sandbox: ${e.message}\n`, violations: [], durationMs: performance.now() - started, endedBy: "timeout" };
    }

    const commandId = `godotz-${randomUUID()}`;
    const state: RunState = { command, workDir, violations: [], proc: undefined, killedForViolation: false, probe: mode.probe, directConnectSeen: false };
    const key = Buffer.from(commandId).toString("base64");
    this.runs.set(key, state);
    let stdinFd: number | undefined;
    let wrappedOk = false;
    try {
      const wrapped = await SandboxManager.wrapWithSandbox(commandPrelude(env.TMPDIR!) + command, undefined, {
        filesystem: {
          denyRead: readDenyPaths(workDir, this.options.denyRead ?? []),
          allowWrite: [workDir],
          // The library points every sandbox's TMPDIR at one shared directory; keep it read-only.
          denyWrite: ["/tmp/claude", "/private/tmp/claude"],
        },
      }, undefined, { commandId, commandText: command });
      wrappedOk = true;
      if (opts.stdin !== undefined) stdinFd = this.stdinFile(opts.stdin);
      let stderrTail = "";
      const proc = supervise({
        shellCommand: wrapped,
        cwd: workDir,
        env,
        stdinFd,
        onStderr: (text) => {
          // A pattern may straddle two chunks: look at the end of the previous one too.
          const attempt = state.directConnectSeen ? undefined : directConnectAttempt(stderrTail + text);
          stderrTail = text.slice(-256);
          if (attempt) {
            state.directConnectSeen = true;
            this.record(state, { kind: "network", detail: attempt });
          }
        },
      });
      state.proc = proc;
      this.live.add(proc);
      if (state.killedForViolation) proc.kill();

      let endedBy: SandboxResult["endedBy"] = "exit";
      const timer = setTimeout(() => {
        endedBy = "timeout";
        proc.kill();
      }, Math.max(0, deadline - Date.now()));
      const onAbort = () => {
        endedBy = "abort";
        proc.kill();
      };
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      if (opts.signal?.aborted) onAbort(); // aborted while the command was being wrapped
      const exited = await proc.exited;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      this.live.delete(proc);
      // Observer events for the last syscalls may still be in flight on their socket. They were
      // written before the command went on, so they are in the kernel already; the immediates
      // make sure the loop polls (accepts, reads) at least twice more even if the timer came due
      // first on a starved machine.
      await sleep(VIOLATION_SETTLE_MS);
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
      if (state.killedForViolation && endedBy === "exit") endedBy = "violation";
      return { ...exited, violations: state.violations, durationMs: performance.now() - started, endedBy };
    } finally {
      if (stdinFd !== undefined) closeSync(stdinFd);
      this.runs.delete(key);
      // Once per successful wrap (it counts live sandboxes); a wrap that threw released its own.
      if (wrappedOk) SandboxManager.cleanupAfterCommand();
      release();
    }
  }

  /** stdin as a file descriptor (never a socket, see process.ts); the file is gone once opened. */
  private stdinFile(content: string): number {
    const file = path.join(this.stdinDir, randomUUID());
    writeFileSync(file, content, { mode: 0o600 });
    const fd = openSync(file, "r");
    rmSync(file);
    return fd;
  }

  /** New entries in the library's violation store, each routed to the run it is attributed to. */
  private onViolations(): void {
    const store = SandboxManager.getSandboxViolationStore();
    const total = store.getTotalCount();
    const fresh = total - this.seen;
    this.seen = total;
    if (fresh <= 0) return;
    for (const v of store.getViolations(fresh)) {
      // The attribution travels over channels the sandboxed process can write (the proxy user
      // name), so a task can send an id that is no run's. With one run going it can only be that
      // one; with several, the event is recorded against no task and ends none.
      const only = this.runs.size === 1 ? [...this.runs.values()][0] : undefined;
      const state = (v.encodedCommand ? this.runs.get(v.encodedCommand) : undefined) ?? only;
      if (!state) {
        this.emit({ at: v.timestamp.toISOString(), kind: classify(v.line), detail: v.line, command: "", workDir: "" });
        continue;
      }
      if (os.platform() === "linux" && isPermittedWrite(v.line, state.workDir)) continue;
      this.record(state, { kind: classify(v.line), detail: v.line });
    }
  }

  /** A violation ends the run at once and is recorded as a security event. */
  private record(state: RunState, violation: SandboxViolation): void {
    state.violations.push(violation);
    if (state.probe) return;
    this.emit({ at: new Date().toISOString(), ...violation, command: state.command, workDir: state.workDir });
    if (!state.killedForViolation) {
      state.killedForViolation = true;
      state.proc?.kill(); // not started yet: it is killed as soon as it is
    }
  }

  private emit(event: SecurityEvent): void {
    if (this.options.onSecurityEvent) {
      try {
        this.options.onSecurityEvent(event);
      } catch (e) {
        process.stderr.write(`sandbox: onSecurityEvent threw: ${(e as Error).message}\n`);
      }
      return;
    }
    process.stderr.write(`${JSON.stringify({ securityEvent: event })}\n`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.live.forEach((p) => p.kill());
    this.unsubscribe?.();
    process.removeListener("exit", this.killAllOnExit);
    try {
      await SandboxManager.reset();
    } finally {
      rmSync(this.stdinDir, { recursive: true, force: true });
      if (openSandbox === this) openSandbox = undefined;
    }
  }
}
