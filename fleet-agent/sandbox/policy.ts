// What a sandboxed task may read, write, reach and see. Pure functions: the runtime in index.ts
// turns these into the library's configuration for each run.
import os from "node:os";
import path from "node:path";
import { NetworkConfigSchema } from "@anthropic-ai/sandbox-runtime";
import { z } from "zod";
import { SandboxOptionsError } from "./errors.ts";

/**
 * Places that hold a node's secrets on Linux or macOS. Reads there are denied on top of the
 * agent's own home directory; paths that do not exist on this platform are skipped by the library.
 */
export const SECRET_READ_DENY = [
  "/root", "/home", "/Users", "/var/root", "/private/var/root",
  "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private",
  "/private/etc/ssh", "/run/secrets", "/var/run/secrets",
];

/** System trees a work directory must never be, or lie in: writing there would touch the node itself. */
const SYSTEM_TREES = ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr", "/System", "/Library", "/private/etc"];

const isAtOrUnder = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/**
 * Refuses a work directory that would hand the task more than its own tree: the root, a top-level
 * directory, a system tree, or any directory holding the agent itself (its home, its working
 * directory, the Node it runs on).
 */
export function checkWorkDir(workDir: string, agent: { cwd: string; home: string; execPath: string }): void {
  const depth = workDir.split("/").filter(Boolean).length;
  if (depth < 2) throw new SandboxOptionsError(`workDir ${workDir} is too close to the root; give each task its own directory`);
  if (SYSTEM_TREES.some((t) => isAtOrUnder(workDir, t))) throw new SandboxOptionsError(`workDir ${workDir} lies in a system directory`);
  for (const held of [agent.cwd, agent.home, path.dirname(agent.execPath)]) {
    if (isAtOrUnder(held, workDir)) throw new SandboxOptionsError(`workDir ${workDir} contains ${held}, which belongs to the agent`);
  }
}

/**
 * Reads denied to a task: the node's secret places, the agent's home, and the directory holding
 * the work directory, so that a task does not see its sibling tasks' trees. The work directory
 * itself is bound back (writable) by the library. The parent is not hidden when it is the system
 * temp directory or above it: the library's proxy and monitor sockets live there.
 */
export function readDenyPaths(workDir: string, extra: string[], tmpdir = os.tmpdir(), home = os.homedir()): string[] {
  const parent = path.dirname(workDir);
  const hideParent = parent !== "/" && !isAtOrUnder(tmpdir, parent);
  return [...new Set([home, ...SECRET_READ_DENY, ...(hideParent ? [parent] : []), ...extra])];
}

/** Splits `host`, `host:port`, `[v6]` or `[v6]:port` into its parts. */
function splitHostPort(entry: string): { host: string; port: string | undefined } {
  const v6 = /^(\[[^\]]*\])(?::(\d+))?$/.exec(entry);
  if (v6) return { host: v6[1]!, port: v6[2] };
  const i = entry.lastIndexOf(":");
  return i === -1 ? { host: entry, port: undefined } : { host: entry.slice(0, i), port: entry.slice(i + 1) };
}

function isLoopbackOrAny(host: string): boolean {
  const h = host.toLowerCase();
  return h === "*" || h === "localhost" || h.endsWith(".localhost") || /^127\./.test(h) || /^0\./.test(h) || h === "[::1]" || h === "[::]" || h.startsWith("[::ffff:127.");
}

const HostsSchema = z.array(z.string().min(1).max(300)).max(256);

/**
 * Validates the hosts a swarm allows. Each entry is what the library's allowlist takes (a name,
 * `*.wildcard`, an IP literal, `[v6]`, each with an optional `:port`). Loopback and "any" entries
 * must name a port: an unqualified one would open every service on the node (its database, its
 * message bus) to the task.
 */
export function allowedHostPatterns(hosts: unknown): string[] {
  const parsed = HostsSchema.safeParse(hosts);
  if (!parsed.success) throw new SandboxOptionsError(`allowedHosts: ${z.prettifyError(parsed.error)}`);
  for (const entry of parsed.data) {
    const library = NetworkConfigSchema.safeParse({ allowedDomains: [entry], deniedDomains: [] });
    if (!library.success) throw new SandboxOptionsError(`allowedHosts: ${JSON.stringify(entry)} is not a host pattern (${library.error.issues[0]?.message ?? "invalid"})`);
    const { host, port } = splitHostPort(entry);
    if (isLoopbackOrAny(host) && port === undefined) throw new SandboxOptionsError(`allowedHosts: ${JSON.stringify(entry)} would open every loopback port; name the port`);
  }
  return [...new Set(parsed.data)];
}

/**
 * The allowlist entries that let a task reach the gateway. A gateway named `localhost` is also
 * allowed as its loopback literals: the proxy refuses a name that resolves to loopback unless the
 * literal itself is allowed on that port.
 */
export function gatewayHostPatterns(gatewayUrl: string | undefined): string[] {
  if (gatewayUrl === undefined) return [];
  let url: URL;
  try {
    url = new URL(gatewayUrl);
  } catch {
    throw new SandboxOptionsError(`gatewayUrl ${JSON.stringify(gatewayUrl)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new SandboxOptionsError(`gatewayUrl must be http(s), not ${url.protocol}`);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const host = url.hostname.toLowerCase();
  const loopbackAliases = host === "localhost" ? [`127.0.0.1:${port}`, `[::1]:${port}`] : [];
  return [`${host}:${port}`, ...loopbackAliases];
}

const EnvSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not a variable name"), z.string().refine((v) => !v.includes("\0"), "contains NUL"));

/**
 * The whole environment a task starts with: nothing of the agent's own environment beyond PATH
 * and LANG, so the node's secrets (keys, tokens, database URLs) never reach it.
 */
export function childEnv(workDir: string, tmpDir: string, extra: unknown): Record<string, string> {
  const parsed = EnvSchema.safeParse(extra ?? {});
  if (!parsed.success) throw new SandboxOptionsError(`env: ${z.prettifyError(parsed.error)}`);
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: workDir,
    LANG: process.env.LANG ?? "C.UTF-8",
    TMPDIR: tmpDir,
    ...parsed.data,
  };
}

export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Lines run inside the sandbox before the task's command. The library points TMPDIR at a
 * directory shared by every sandbox on the node; each task gets its own instead. It also lists
 * loopback in NO_PROXY, which would send requests for a gateway on loopback straight into the
 * sandbox's empty network namespace; without it they go through the filtering proxy like all else.
 */
export function commandPrelude(tmpDir: string): string {
  const t = shellQuote(tmpDir);
  return `export TMPDIR=${t} TMP=${t} TEMP=${t}\nunset NO_PROXY no_proxy\n`;
}
