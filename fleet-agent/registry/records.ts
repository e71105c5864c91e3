import { z } from "zod";
import type { NodeInfo } from "../node-info.ts";

export const NODE_STATUSES = ["up", "draining", "stopped", "down"] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** A node's registration and latest heartbeat: the value under its key in the KV bucket and its fleet_nodes row. */
export interface NodeRecord extends NodeInfo {
  status: NodeStatus;
  running_tasks: string[];
  heartbeat_interval_ms: number;
  started_at: string;
  last_heartbeat: string;
}

/** Read back from the KV bucket, which any process on the bus could have written: validated. */
export const nodeRecord = z.object({
  id: z.string(),
  hostname: z.string(),
  os: z.string(),
  arch: z.string(),
  cpus: z.number(),
  memory_bytes: z.number(),
  labels: z.array(z.string()),
  capabilities: z.array(z.string()),
  roles: z.array(z.string()),
  version: z.string(),
  capacity: z.number(),
  status: z.enum(NODE_STATUSES),
  running_tasks: z.array(z.string()),
  heartbeat_interval_ms: z.number(),
  started_at: z.string(),
  last_heartbeat: z.string(),
});

/** A heartbeat lapses after this many intervals without one; the node then reads as down. */
export const LAPSE_INTERVALS = 3;
