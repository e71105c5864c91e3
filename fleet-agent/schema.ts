import { z } from "zod";
import { taskId } from "../workers/tasks/schema.ts";
import { token } from "./names.ts";
import { FleetInputError } from "./errors.ts";

const capability = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/, "must be letters, digits, '.', ':', '-' or '_'");

/** What a task needs from the node that runs it; only matching nodes take it. */
export const requirements = z.object({
  capabilities: z.array(capability).max(32).default([]),
  /** As Node's os.platform(): linux, darwin, … */
  os: z.string().trim().min(1).max(32).optional(),
  /** As Node's os.arch(): x64, arm64, … */
  arch: z.string().trim().min(1).max(32).optional(),
});
export type Requirements = z.output<typeof requirements>;

const MAX_TIMEOUT_MS = 24 * 3600 * 1000;

/**
 * The message on `godotz.work.role.<role>` / `godotz.work.node.<node>`: the task DAG row it
 * executes, the command, and where it may run. Exactly one of role and node routes it.
 */
export const dispatchMessage = z
  .object({
    task_id: taskId,
    command: z.string().min(1, "a task needs a command").max(100_000),
    requirements: requirements.default({ capabilities: [] }),
    role: token.optional(),
    node: token.optional(),
    /** The sandbox ends the command after this long; the DAG lease is this plus a grace period. */
    timeout_ms: z.number().int().positive().max(MAX_TIMEOUT_MS).default(10 * 60 * 1000),
    allowed_hosts: z.array(z.string().trim().min(1).max(253)).max(64).default([]),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "env names are shell identifiers"), z.string().max(10_000)).default({}),
    stdin: z.string().max(1_000_000).optional(),
    /** When it was published (ms since the epoch, sub-millisecond where the clock has it), for dispatch latency. */
    submitted_at: z.number().nonnegative(),
  })
  .refine((m) => (m.role === undefined) !== (m.node === undefined), { message: "exactly one of role and node routes a task", path: ["role"] });
export type DispatchMessage = z.output<typeof dispatchMessage>;
export type DispatchInput = z.input<typeof dispatchMessage>;

/** What this node offers, as registered; requirements are matched against it. */
export interface NodeTraits {
  os: string;
  arch: string;
  capabilities: string[];
}

/** Why a node cannot take a task, or undefined when it can. */
export function mismatch(need: Requirements, node: NodeTraits): string | undefined {
  if (need.os !== undefined && need.os !== node.os) return `needs os ${need.os}, node is ${node.os}`;
  if (need.arch !== undefined && need.arch !== node.arch) return `needs arch ${need.arch}, node is ${node.arch}`;
  const missing = need.capabilities.filter((c) => !node.capabilities.includes(c));
  return missing.length ? `lacks capabilities ${missing.join(", ")}` : undefined;
}

/** Parses at a boundary; the first problem becomes a one-line FleetInputError naming the field. */
export function parseFleetInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length ? `${what}.${issue.path.join(".")}` : what;
  throw new FleetInputError(`${where}: ${issue.message}`);
}
