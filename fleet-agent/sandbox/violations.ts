// Turning what the library observed into violations of one run. Producers and their lines:
// - the proxy (every platform): `deny network-outbound host:port (reason)`, `deny http-request …`;
// - Linux, apply-seccomp's observer: `deny <syscall> <absolute path>` for every write ATTEMPT it
//   saw outside the process-wide write allowance (it does not know a run's work directory, so
//   attempts inside it are dropped here);
// - macOS, the Seatbelt log: `deny(1) file-write-create /path`, `deny(1) file-read-data /path`, ….
import path from "node:path";
import type { SandboxViolation } from "./index.ts";

/** Writes that never leave the sandbox: its private /dev and its own open descriptors. */
const PRIVATE_WRITE_TARGETS = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/shm", "/dev/pts", "/dev/fd", "/dev/stdout", "/dev/stderr", "/proc/self/fd"];

const isAtOrUnder = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

export function classify(line: string): SandboxViolation["kind"] {
  if (/^deny (network-outbound|http-request) /.test(line) || /\bnetwork-(outbound|bind)\b/.test(line)) return "network";
  if (/\bfile-read/.test(line)) return "read";
  if (/\bfile-write/.test(line) || /^deny [a-z0-9_]+ \//.test(line)) return "write";
  return "other";
}

/**
 * Whether a Linux write attempt the observer reported was in fact allowed for this run: inside its
 * work directory, or into the sandbox's private devices. Paths are normalised the way the observer
 * sends them (absolute; `..` collapsed by the library).
 */
export function isPermittedWrite(line: string, workDir: string): boolean {
  const m = /^deny [a-z0-9_]+ (\/.*)$/.exec(line);
  if (!m) return false;
  const target = path.posix.normalize(m[1]!);
  return isAtOrUnder(target, workDir) || PRIVATE_WRITE_TARGETS.some((d) => isAtOrUnder(target, d));
}

/**
 * Connection attempts that went around the proxy, read from the task's error output. The sandbox
 * has no network device but its own loopback, so a name that cannot be resolved or a network that
 * is unreachable can only mean the task tried to reach the outside directly. A refused loopback
 * connection is NOT reported: it cannot be told from the task's own services inside the sandbox,
 * and such a connection never reaches the node's services anyway.
 */
const DIRECT_CONNECT_PATTERNS = [
  /getaddrinfo (?:EAI_AGAIN|ENOTFOUND|EAI_NONAME) \S+/,
  /Could not resolve host: \S+/,
  /Temporary failure in name resolution/,
  /connect ENETUNREACH \S+/,
  /Network is unreachable/,
];

export function directConnectAttempt(text: string): string | undefined {
  for (const p of DIRECT_CONNECT_PATTERNS) {
    const m = p.exec(text);
    if (m) return `connection outside the sandbox proxy (seen in the task's output: ${m[0]})`;
  }
  return undefined;
}
