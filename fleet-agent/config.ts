import os from "node:os";
import { z } from "zod";
import { token } from "./names.ts";
import { parseFleetInput } from "./schema.ts";

/** NFR-SC-002: a node runs up to 18 tasks at once unless configured otherwise. */
export const DEFAULT_CAPACITY = 18;

const list = z.preprocess((v) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v), z.array(z.string()));
const positiveMs = (max: number) => z.coerce.number().int().positive().max(max);

/**
 * A fleet agent's settings: flags over environment (GODOTZ_FLEET_*) over defaults. Validated once,
 * here; the agent trusts them.
 */
export const agentConfig = z.object({
  nodeId: token.default(() => os.hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64) || "node"),
  roles: list.pipe(z.array(token)).default([]),
  labels: list.pipe(z.array(z.string().trim().min(1).max(100))).default([]),
  /** Added to the capabilities found on the machine (tools on PATH, gpu). */
  capabilities: list.pipe(z.array(z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/))).default([]),
  capacity: z.coerce.number().int().min(1).max(1000).default(DEFAULT_CAPACITY),
  heartbeatMs: positiveMs(60_000).min(200).default(5_000),
  /** JetStream redelivers a task not acked (nor marked in progress) within this. */
  ackWaitMs: positiveMs(3_600_000).min(1_000).default(30_000),
  /**
   * Deliveries before a task goes to the dead-letter subject and is failed in the DAG. A node
   * that does not meet a task's requirements hands it back, and that counts as a delivery, so
   * this leaves room for several such refusals (docs/fleet.md, "Requirements").
   */
  maxDeliver: z.coerce.number().int().min(1).max(1000).default(20),
  /** Lease on the DAG row beyond the task's own timeout, so a live agent always finishes inside it. */
  leaseGraceMs: positiveMs(3_600_000).default(30_000),
  /** How long SIGTERM waits for running work before handing it back. */
  drainTimeoutMs: positiveMs(24 * 3_600_000).default(60_000),
  /** Where per-task work directories are made. */
  workRoot: z.string().min(1).default(() => os.tmpdir()),
});
export type AgentConfig = z.output<typeof agentConfig>;
export type AgentConfigInput = z.input<typeof agentConfig>;

/** The GODOTZ_FLEET_* environment variables, by setting. */
export const ENV_NAMES: Record<keyof AgentConfig, string> = {
  nodeId: "GODOTZ_FLEET_NODE_ID",
  roles: "GODOTZ_FLEET_ROLES",
  labels: "GODOTZ_FLEET_LABELS",
  capabilities: "GODOTZ_FLEET_CAPABILITIES",
  capacity: "GODOTZ_FLEET_CAPACITY",
  heartbeatMs: "GODOTZ_FLEET_HEARTBEAT_MS",
  ackWaitMs: "GODOTZ_FLEET_ACK_WAIT_MS",
  maxDeliver: "GODOTZ_FLEET_MAX_DELIVER",
  leaseGraceMs: "GODOTZ_FLEET_LEASE_GRACE_MS",
  drainTimeoutMs: "GODOTZ_FLEET_DRAIN_TIMEOUT_MS",
  workRoot: "GODOTZ_FLEET_WORK_ROOT",
};

/** Settings from flags (already-typed values or strings) over the environment; throws FleetInputError. */
export function loadAgentConfig(flags: Partial<Record<keyof AgentConfig, unknown>>, env: Record<string, string | undefined> = process.env): AgentConfig {
  const merged: Record<string, unknown> = {};
  for (const key of Object.keys(ENV_NAMES) as (keyof AgentConfig)[]) {
    const value = flags[key] ?? (env[ENV_NAMES[key]] || undefined);
    if (value !== undefined) merged[key] = value;
  }
  return parseFleetInput(agentConfig, merged, "fleet-agent");
}
